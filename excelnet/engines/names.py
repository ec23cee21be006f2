"""The public cells of a workbook (Canvas, Probabilities, ...) read from its defined names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string

from ..errors import ExcelnetError
from .in_office import canvas_order

TARGET = re.compile(r"^'?(?P<sheet>.+?)'?!\$?(?P<c1>[A-Z]+)\$?(?P<r1>\d+)(?::\$?(?P<c2>[A-Z]+)\$?(?P<r2>\d+))?$")


@dataclass(frozen=True)
class NamedRange:
    sheet: str
    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top + 1, self.right - self.left + 1

    def cells(self) -> list[tuple[int, int]]:
        """(row, col) of every cell, row by row."""
        return [(r, c) for r in range(self.top, self.bottom + 1) for c in range(self.left, self.right + 1)]


@dataclass(frozen=True)
class PublicCells:
    canvases: tuple[NamedRange, ...]       # Canvas, or Canvas_1 ... Canvas_C
    probabilities: NamedRange
    prediction: NamedRange
    sample: NamedRange | None
    label: NamedRange | None
    values: dict                           # constant texts: ModelSource, ModelSHA256, InputNormalize
    learning: bool = False                 # has the learning sheets (LearningRate)


def _open(path: str | Path):
    try:
        return load_workbook(path, read_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not xlsx
        raise ExcelnetError(f"{path}: not a readable .xlsx workbook ({error})") from None


# One area of a weight or gradient array of several blocks (writer._one_area_names): <name>_<n>.
AREA_PART = re.compile(r"^(?P<whole>(?:Weights|Grad)_\d+_\d+)_(?P<n>\d+)$")


def read_named_areas(path: str | Path) -> dict[str, list[NamedRange]]:
    """Every defined name with its areas, in order. Weights_<i>_<k> (and Grad_<i>_<k>) of several
    blocks is stored as Weights_<i>_<k>_1 ... _n, one name per area (older workbooks: one name of
    several areas); both read as Weights_<i>_<k> with its areas (the parts are not listed)."""
    workbook = _open(path)
    try:
        named = {name: [_parse(area) for area in _areas(defined.attr_text)]
                 for name, defined in workbook.defined_names.items()}
    finally:
        workbook.close()
    parts: dict[str, list[tuple[int, NamedRange]]] = {}
    for name, areas in list(named.items()):
        match = AREA_PART.match(name)
        if match and len(areas) == 1 and match["whole"] not in named:
            parts.setdefault(match["whole"], []).append((int(match["n"]), areas[0]))
            del named[name]
    for whole, numbered in parts.items():
        named[whole] = [area for _, area in sorted(numbered, key=lambda part: part[0])]
    return named


def read_public_cells(path: str | Path) -> PublicCells:
    workbook = _open(path)
    try:
        ranges = {name: _parse(defined.attr_text) for name, defined in workbook.defined_names.items()
                  if len(_areas(defined.attr_text)) == 1}
        values = {}
        for name in ("ModelSource", "ModelSHA256", "InputNormalize"):
            if name in ranges:
                where = ranges[name]
                values[name] = workbook[where.sheet].cell(where.top, where.left).value
    finally:
        workbook.close()
    missing = [n for n in ("Probabilities", "Prediction") if n not in ranges]
    canvases = [ranges[name] for name in canvas_order(ranges)]
    if not canvases:
        missing.append("Canvas")
    if missing:
        raise ExcelnetError(f"{path}: not an excelnet workbook (no defined name {', '.join(missing)})")
    return PublicCells(tuple(canvases), ranges["Probabilities"], ranges["Prediction"],
                       ranges.get("Sample"), ranges.get("Label"), values, "LearningRate" in ranges)


def _areas(text: str) -> list[str]:
    """Split a multi-area target at the commas outside quoted sheet names."""
    areas, current, quoted = [], "", False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            areas.append(current)
            current = ""
        else:
            current += ch
    return areas + [current]


def _parse(text: str) -> NamedRange:
    match = TARGET.match(text)
    if not match:
        raise ExcelnetError(f"unexpected defined name target {text!r}")
    sheet = match["sheet"].replace("''", "'")
    top, left = int(match["r1"]), column_index_from_string(match["c1"])
    bottom = int(match["r2"] or top)
    right = column_index_from_string(match["c2"]) if match["c2"] else left
    return NamedRange(sheet, top, left, bottom, right)
