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

from itertools import compress
from typing import Iterable

import numpy as np

from ..sheet import CellKinds, SheetPlan, Text
from .engine import Grid, SheetFormulas, evaluate_group, make_groups, store
from .functions import FUNCTIONS, function
from .order import schedule
from .parse import FormulaError
from .values import BLANK, NUMBER, XLError, python_value

__all__ = ["Evaluator", "FormulaError", "FUNCTIONS", "function", "XLError", "BLANK"]


class Evaluator:
    def __init__(self, sheets: Iterable[SheetPlan]):
        formulas: dict[str, SheetFormulas] = {}
        self._numbers: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._others: dict[str, list[tuple[int, int, object]]] = {}
        extent: dict[str, list[int]] = {}
        for plan in sheets:
            kinds = CellKinds.of(plan.cells)
            keys, values = kinds.keys, kinds.values
            formulas[plan.title] = SheetFormulas(keys[kinds.formula, 0], keys[kinds.formula, 1],
                                                 [v.expression for v in compress(values, kinds.formula)])
            self._numbers[plan.title] = (keys[kinds.number, 0], keys[kinds.number, 1],
                                         np.array(list(compress(values, kinds.number)), np.float64))
            other = ~(kinds.formula | kinds.number)
            self._others[plan.title] = [(r, c, v.value if isinstance(v, Text) else v) for (r, c), v in
                                        zip(keys[other].tolist(), compress(values, other))]
            extent[plan.title] = keys.max(axis=0).tolist() if len(keys) else [0, 0]
        self.groups = make_groups(formulas)
        for group in self.groups:        # a reference may reach past a sheet's last cell (a blank canvas)
            for slot in group.slots:
                bottom, right = extent.setdefault(slot.sheet, [0, 0])
                extent[slot.sheet] = [max(bottom, int(slot.rows.max()) + slot.height - 1),
                                      max(right, int(slot.cols.max()) + slot.width - 1)]
        self.grids = {name: Grid(*size) for name, size in extent.items()}
        self._write_constants()
        self._undo: list[tuple[str, int, int, tuple]] = []    # what run() typed over, to put back
        self.order = schedule(self.groups, self.grids)
        self.formula_count = sum(len(cells.texts) for cells in formulas.values())

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
        for sheet, row, col, saved in reversed(self._undo):     # the cells the last run typed into
            grid = self.grids[sheet]
            grid.num[row, col], grid.kind[row, col], grid.obj[row, col] = saved
        self._undo = []
        for (sheet, row, col), value in (changes or {}).items():
            grid = self.grids[sheet]
            self._undo.append((sheet, row, col, (grid.num[row, col], grid.kind[row, col], grid.obj[row, col])))
            grid.set(row, col, value)
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
