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


def values(path: str | Path) -> dict[tuple[str, int, int], object]:
    """Every non-empty cell's value (as stored: cached values for formulas), by (sheet, row, col)."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        return {(ws.title, cell.row, cell.column): cell.value for ws in workbook.worksheets
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


def is_error(value) -> bool:
    return isinstance(value, str) and value in ERROR_VALUES


def typed_copy(path: str | Path, out: str | Path, typed: dict[tuple[str, int, int], float]) -> Path:
    """A copy of the workbook with numbers typed into existing cells {(sheet, row, col): value}:
    ssconvert cannot type into a cell of another sheet than the first (--set), so the copy is
    given to it instead. Only those cells' XML changes (their style stays)."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info.filename) for info in source.infolist()}
    part_of = _sheet_parts(parts)
    for (sheet, row, col), value in typed.items():
        name = part_of[sheet]
        xml = parts[name].decode()
        where = f"{column_letter(col)}{row}"
        cell = re.compile(rf'<c r="{where}"(?P<style> s="\d+")?[^>]*?(?:/>|>.*?</c>)', re.S)
        xml, found = cell.subn(lambda m: f'<c r="{where}"{m["style"] or ""}><v>{float(value)!r}</v></c>', xml, count=1)
        if not found:
            raise ExcelnetError(f"{path}: no cell {sheet}!{where} to type into")
        parts[name] = xml.encode()
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
