"""A small spreadsheet engine for the formulas excelnet writes.

    book = Evaluator(plan.sheets)      # read every formula once
    book.run()                         # the workbook as it opens (the cached values)
    book.run({("Input", 12, 32): 0.5})  # the same after typing into cells
    book.value("Output", 11, 2)

Why: the writer stores each formula's value so a viewer that does not calculate shows
the numbers, and `verify` needs what every cell should hold for a given input. It is
exact (float64, Excel's rules for blanks, text and errors) and fast, because cells of
one formula shape are computed together with NumPy (see engine.py)."""

from __future__ import annotations

from operator import itemgetter
from typing import Iterable

import numpy as np

from ..sheet import Formula, SheetPlan, Text
from .engine import Grid, evaluate_group, make_groups, store
from .functions import FUNCTIONS, function
from .order import schedule
from .parse import FormulaError
from .values import BLANK, NUMBER, XLError, python_value

__all__ = ["Evaluator", "FormulaError", "FUNCTIONS", "function", "XLError", "BLANK"]


class Evaluator:
    def __init__(self, sheets: Iterable[SheetPlan]):
        formulas: dict[str, list[tuple[int, int, str]]] = {}
        self._numbers: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._others: dict[str, list[tuple[int, int, object]]] = {}
        extent: dict[str, list[int]] = {}
        for plan in sheets:
            cells, others, rows, cols, values = [], [], [], [], []
            for (row, col), value in plan.cells.items():
                kind = type(value)
                if kind is float or kind is int:
                    rows.append(row)
                    cols.append(col)
                    values.append(value)
                elif kind is Formula:
                    cells.append((row, col, value.expression))
                else:
                    others.append((row, col, value.value if kind is Text else value))
            formulas[plan.title], self._others[plan.title] = cells, others
            self._numbers[plan.title] = (np.array(rows, np.int64), np.array(cols, np.int64),
                                         np.array(values, np.float64))
            extent[plan.title] = [max(max(rows, default=0), max(map(itemgetter(0), cells), default=0),
                                      max(map(itemgetter(0), others), default=0)),
                                  max(max(cols, default=0), max(map(itemgetter(1), cells), default=0),
                                      max(map(itemgetter(1), others), default=0))]
        self.groups = make_groups(formulas)
        for group in self.groups:        # a reference may reach past a sheet's last cell (a blank canvas)
            for slot in group.slots:
                bottom, right = extent.setdefault(slot.sheet, [0, 0])
                extent[slot.sheet] = [max(bottom, int(slot.rows.max()) + slot.height - 1),
                                      max(right, int(slot.cols.max()) + slot.width - 1)]
        self.grids = {name: Grid(*size) for name, size in extent.items()}
        self._write_constants()
        self.order = schedule(self.groups, self.grids)
        self.formula_count = sum(len(cells) for cells in formulas.values())

    def _write_constants(self) -> None:
        for sheet, (rows, cols, values) in self._numbers.items():
            grid = self.grids[sheet]
            finite = np.isfinite(values)
            grid.num[rows[finite], cols[finite]] = values[finite]
            grid.kind[rows[finite], cols[finite]] = NUMBER
            for r, c, v in zip(rows[~finite], cols[~finite], values[~finite]):
                grid.set(int(r), int(c), float(v))
        for sheet, cells in self._others.items():
            grid = self.grids[sheet]
            for row, col, value in cells:
                grid.set(row, col, value)

    def run(self, changes: dict[tuple[str, int, int], object] | None = None) -> "Evaluator":
        """Evaluate every formula; `changes` types values into cells first ((sheet, row, col) -> value,
        None to empty a cell). Each run starts from the sheets as planned."""
        if changes:
            self._write_constants()
            for (sheet, row, col), value in changes.items():
                self.grids[sheet].set(row, col, value)
        for group in self.order:
            store(group, self.grids[group.sheet], evaluate_group(group, self.grids))
        return self

    def value(self, sheet: str, row: int, col: int):
        """The value of one cell: a float, str, bool, XLError, or BLANK for an empty cell."""
        return self.grids[sheet].value(row, col)

    def numbers(self, sheet: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Many cells as floats; NaN where a cell holds anything but a number."""
        grid = self.grids[sheet]
        return np.where(grid.kind[rows, cols] == NUMBER, grid.num[rows, cols], np.nan)

    def cell_values(self, sheet: str, rows: list[int], cols: list[int]) -> list:
        """The Python value to store for each of these formula cells: a float, str, bool or XLError
        (a blank result is 0, as in any spreadsheet)."""
        grid = self.grids[sheet]
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        out = grid.num[rows, cols].tolist()
        for i in np.flatnonzero(grid.kind[rows, cols] != NUMBER).tolist():
            out[i] = python_value(grid.obj[rows[i], cols[i]])
        return out
