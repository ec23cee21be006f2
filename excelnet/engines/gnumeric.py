"""Recalculate a workbook in Gnumeric: `ssconvert --recalc` writes it again with every formula's
value as Gnumeric computes it, which openpyxl then reads (Debian package `gnumeric`)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

from ..errors import ExcelnetError

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
