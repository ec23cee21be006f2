"""Recalculate a workbook in Gnumeric: `ssconvert --recalc` writes it again with every formula's
value as Gnumeric computes it, which openpyxl then reads (Debian package `gnumeric`)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

from ..errors import ExcelnetError
from ..layout import column_letter

ERROR_VALUES = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}
# One cell of a sheet's XML: <c r="B7" s="3" t="n"/> or <c r="B7" ...>...</c>.
CELL = re.compile(r'<c r="(?P<where>[A-Z]+\d+)"(?P<style> s="\d+")?[^>]*?(?:/>|>.*?</c>)', re.S)
# An error value in a sheet's XML as Gnumeric writes it: t="e" and the error's text as the value.
ERROR_TEXT = re.compile(r"<v>#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A)</v>")
ERROR_CELL = re.compile(r'<c r="(?P<where>[A-Z]+\d+)"[^>]*? t="e"[^>]*>.*?<v>(?P<value>[^<]*)</v>', re.S)
# What ssconvert prints about parts of the file it does not take, that do not change a value:
# conditional formats it cannot show (colour scales, data bars). Anything else is a complaint.
HARMLESS = ("Ignoring unhandled conditional format", "Unexpected element 'cfvo'", "Unexpected element 'color'",
            "worksheet -> conditionalFormatting")


def unavailable_reason() -> str | None:
    if shutil.which("ssconvert") is None:
        return "Gnumeric's ssconvert is not installed (apt-get install gnumeric)"
    return None


@dataclass(frozen=True)
class Recalculated:
    path: Path                  # the workbook as Gnumeric wrote it after recalculating
    complaints: list[str]       # what ssconvert said about the file, but for HARMLESS lines


def recalculate(path: str | Path, folder: str | Path, timeout: float = 600) -> Recalculated:
    """Let Gnumeric read `path`, recalculate everything and write the result into `folder`."""
    reason = unavailable_reason()
    if reason:
        raise ExcelnetError(reason)
    out = Path(folder) / f"{Path(path).stem}.gnumeric.xlsx"
    run = subprocess.run(["ssconvert", "--recalc", str(path), str(out)], capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    if run.returncode != 0 or not out.is_file():
        raise ExcelnetError(f"ssconvert failed on {path}: {(run.stderr or run.stdout)[-2000:]}")
    lines = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
    return Recalculated(out, [line for line in lines if not any(h in line for h in HARMLESS)
                              and not line.startswith("\t")])


def values(path: str | Path, sheets: list[str] | None = None) -> dict[tuple[str, int, int], object]:
    """Every non-empty cell's value (as stored: cached values for formulas), by (sheet, row, col);
    only those of `sheets` when given (openpyxl reads a sheet only when asked: far faster on a big
    workbook when only its Output is wanted)."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        chosen = [workbook[name] for name in sheets] if sheets is not None else workbook.worksheets
        return {(ws.title, cell.row, cell.column): cell.value for ws in chosen
                for row in ws.iter_rows() for cell in row if getattr(cell, "value", None) is not None}
    finally:
        workbook.close()


def formula_cells(path: str | Path) -> set[tuple[str, int, int]]:
    """(sheet, row, col) of every formula cell."""
    workbook = load_workbook(path, read_only=True)
    try:
        return {(ws.title, cell.row, cell.column) for ws in workbook.worksheets for row in ws.iter_rows()
                for cell in row if getattr(cell, "data_type", None) == "f"}
    finally:
        workbook.close()


def error_cells(path: str | Path) -> list[tuple[str, str, str]]:
    """(sheet, cell, error) of every error value in the file, read from its XML in one pass:
    openpyxl takes half a minute over the 1.4 M cells of PyTorch's MNIST Net, this a second."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()
                 if name in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels") or name.startswith("xl/worksheets/")}
    found = []
    for sheet, name in _sheet_parts(parts).items():
        xml = parts[name].decode()
        typed = [(sheet, m["where"], html.unescape(m["value"])) for m in ERROR_CELL.finditer(xml)]
        # an error value written without t="e" (none seen from Gnumeric so far) still counts
        untyped = len(ERROR_TEXT.findall(xml)) - len(typed)
        found += typed + [(sheet, "?", "an error value without t=\"e\"")] * max(0, untyped)
    return found


def is_error(value) -> bool:
    return isinstance(value, str) and value in ERROR_VALUES


def typed_copy(path: str | Path, out: str | Path, typed: dict[tuple[str, int, int], float]) -> Path:
    """A copy of the workbook with numbers typed into existing cells {(sheet, row, col): value}:
    ssconvert cannot type into a cell of another sheet than the first (--set), so the copy is
    given to it instead. Only those cells' XML changes (their style stays)."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info.filename) for info in source.infolist()}
    part_of = _sheet_parts(parts)
    by_sheet: dict[str, dict[str, float]] = {}
    for (sheet, row, col), value in typed.items():
        by_sheet.setdefault(sheet, {})[f"{column_letter(col)}{row}"] = float(value)
    for sheet, wanted in by_sheet.items():
        # one pass over the sheet's XML for all its typed cells (a cell at a time rescanned the
        # whole sheet for each of a CIFAR canvas' 3,072 cells)
        name, done = part_of[sheet], set()

        def typed_cell(match: re.Match) -> str:
            where = match["where"]
            if where not in wanted or where in done:
                return match[0]
            done.add(where)
            return f'<c r="{where}"{match["style"] or ""}><v>{wanted[where]!r}</v></c>'

        parts[name] = CELL.sub(typed_cell, parts[name].decode()).encode()
        missing = sorted(set(wanted) - done)
        if missing:
            raise ExcelnetError(f"{path}: no cell {sheet}!{missing[0]} to type into")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return Path(out)


def _sheet_parts(parts: dict[str, bytes]) -> dict[str, str]:
    """Sheet title -> its part name (xl/worksheets/sheetN.xml), from the workbook and its relations."""
    sheets = re.findall(r'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"', parts["xl/workbook.xml"].decode())
    targets = dict((rid, target) for target, rid in
                   re.findall(r'<Relationship [^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"',
                              parts["xl/_rels/workbook.xml.rels"].decode()))
    targets.update(re.findall(r'<Relationship [^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"',
                              parts["xl/_rels/workbook.xml.rels"].decode()))
    return {html.unescape(name): "xl/" + targets[rid].lstrip("/").removeprefix("xl/") for name, rid in sheets}
