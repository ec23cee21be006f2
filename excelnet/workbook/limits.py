"""Excel's hard limits, checked on the plan before anything is written."""

from __future__ import annotations

from ..errors import SpreadsheetLimitError
from ..layout import MAX_COLS, MAX_ROWS
from ..sheet import Formula, SheetPlan

MAX_FORMULA_LENGTH = 8192


def check_limits(sheets: list[SheetPlan]) -> None:
    """Refuse, naming the sheet and by how much, anything Excel could not open."""
    problems = []
    for sheet in sheets:
        rows = max((r for r, _ in sheet.cells), default=0)
        cols = max((c for _, c in sheet.cells), default=0)
        if rows > MAX_ROWS:
            problems.append(f"sheet '{sheet.title}' needs {rows:,} rows, {rows - MAX_ROWS:,} more than Excel's {MAX_ROWS:,}")
        if cols > MAX_COLS:
            problems.append(f"sheet '{sheet.title}' needs {cols:,} columns, {cols - MAX_COLS:,} more than Excel's {MAX_COLS:,}")
        longest = max((len(v.expression) + 1 for v in sheet.cells.values() if isinstance(v, Formula)), default=0)
        if longest > MAX_FORMULA_LENGTH:
            problems.append(f"sheet '{sheet.title}' has a formula of {longest:,} characters, "
                            f"{longest - MAX_FORMULA_LENGTH:,} more than Excel's {MAX_FORMULA_LENGTH:,}")
    if problems:
        raise SpreadsheetLimitError("The workbook would not fit in a spreadsheet:\n" +
                                    "\n".join(f"  - {p}" for p in problems))
