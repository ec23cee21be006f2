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
from .engine import Grid, Group, SheetFormulas, evaluate_group, make_groups, store
from .known import known_group, members, merged, without_typed
from .functions import FUNCTIONS, function
from .order import schedule
from .parse import FormulaError
from .values import BLANK, NUMBER, XLError, python_value

__all__ = ["Evaluator", "FormulaError", "FUNCTIONS", "function", "XLError", "BLANK"]


class Evaluator:
    def __init__(self, sheets: Iterable[SheetPlan], given: dict[str, set[tuple[int, int]]] | None = None,
                 known: bool = True):
        """`given`: formula cells (sheet -> cells) whose values every run types in (`numbers`), so
        their formulas are not even read: verify's layer outputs, which NumPy computes. `known`:
        take the references of the plan's formula blocks from the plan (SheetPlan.known); False
        reads every formula's text (the tests compare the two)."""
        formulas: dict[str, SheetFormulas] = {}
        self.formula_cells: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # rows, cols in the plan's order
        self._numbers: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._others: dict[str, list[tuple[int, int, object]]] = {}
        extent: dict[str, list[int]] = {}
        known_groups: list[Group] = []
        for plan in sheets:
            kinds = CellKinds.of(plan.cells)
            keys, values = kinds.keys, kinds.values
            formula = kinds.formula
            typed = given.get(plan.title) if given else None
            if typed:
                formula = formula & ~np.fromiter((cell in typed for cell in map(tuple, keys.tolist())), bool, len(keys))
            self.formula_cells[plan.title] = keys[formula, 0], keys[formula, 1]
            blocks = [(block, group) for block in (plan.known if known else [])
                      for group in [known_group(plan.title, block, plan.cells)] if group is not None]
            inside = members(keys, [block for block, _ in blocks]) if blocks else None
            # every member still a formula cell, none in two blocks; else the sheet is read from text
            if inside is not None and not (inside & ~kinds.formula).any() and \
                    int(inside.sum()) == sum(len(block.rows) for block, _ in blocks):
                formula = formula & ~inside     # their references are known: not read out of the text again
                known_groups += [g for _, group in blocks for g in [without_typed(group, typed)] if g is not None]
            formulas[plan.title] = SheetFormulas(keys[formula, 0], keys[formula, 1],
                                                 [v.expression for v in compress(values, formula)])
            numbers = [(keys[kinds.number, 0], keys[kinds.number, 1],
                        np.array(list(compress(values, kinds.number)), np.float64))]
            numbers += [block.positions() + (block.numbers.reshape(-1),) for block in plan.values]
            self._numbers[plan.title] = tuple(np.concatenate(part) for part in zip(*numbers))
            other = ~(kinds.formula | kinds.number)
            self._others[plan.title] = [(r, c, v.value if isinstance(v, Text) else v) for (r, c), v in
                                        zip(keys[other].tolist(), compress(values, other))]
            extent[plan.title] = list(plan.extent())
        self.groups = make_groups(formulas) + merged(known_groups)
        _check_functions(self.groups)
        for group in self.groups:        # a reference may reach past a sheet's last cell (a blank canvas)
            for slot in group.slots:
                bottom, right = extent.setdefault(slot.sheet, [0, 0])
                extent[slot.sheet] = [max(bottom, int(slot.rows.max()) + slot.height - 1),
                                      max(right, int(slot.cols.max()) + slot.width - 1)]
        self.grids = {name: Grid(*size) for name, size in extent.items()}
        self._write_constants()
        self._undo: list[tuple[str, int, int, tuple]] = []    # what run() typed over, to put back
        self.order = [part for group in schedule(self.groups, self.grids) for part in in_parts(group)]

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

    def run(self, changes: dict[tuple[str, int, int], object] | None = None,
            groups: "list | None" = None,
            numbers: "dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None" = None) -> "Evaluator":
        """Evaluate every formula; `changes` types values into cells first ((sheet, row, col) -> value,
        None to empty a cell), `numbers` many numbers at once (sheet -> rows, cols, values).
        Each run starts from the sheets as planned. `groups`: evaluate only these (a part of
        self.order, in its order; see needed_groups)."""
        for sheet, rows, cols, saved in reversed(self._undo):     # the cells the last run typed into
            grid = self.grids[sheet]
            grid.num[rows, cols], grid.kind[rows, cols], grid.obj[rows, cols] = saved
        self._undo = []
        for (sheet, row, col), value in (changes or {}).items():
            self._save(sheet, row, col)
            self.grids[sheet].set(row, col, value)
        for sheet, (rows, cols, values) in (numbers or {}).items():
            self._save(sheet, rows, cols)
            grid, finite = self.grids[sheet], np.isfinite(values)
            r, c = rows[finite], cols[finite]
            grid.num[r, c], grid.kind[r, c], grid.obj[r, c] = values[finite], NUMBER, BLANK
            for row, col, value in zip(rows[~finite].tolist(), cols[~finite].tolist(), values[~finite].tolist()):
                grid.set(row, col, value)           # NaN or ±inf: an error value, as a spreadsheet shows
        for group in self.order if groups is None else groups:
            store(group, self.grids[group.sheet], evaluate_group(group, self.grids))
        return self

    def _save(self, sheet: str, rows, cols) -> None:
        """Remember what these cells hold, for the next run to put back."""
        grid = self.grids[sheet]
        self._undo.append((sheet, rows, cols, (np.copy(grid.num[rows, cols]), np.copy(grid.kind[rows, cols]),
                                               np.copy(grid.obj[rows, cols]))))

    def needed_groups(self, sheets: set[str]) -> list:
        """The groups, in order, that compute the formulas of `sheets` (the `given` cells have none),
        and the groups on other sheets that those read, directly or not."""
        needed, todo = set(sheets), {slot.sheet for g in self.order if g.sheet in sheets for slot in g.slots}
        while todo - needed:                    # sheets read by those groups, and so on
            new = todo - needed
            needed |= new
            todo = {slot.sheet for g in self.order if g.sheet in new for slot in g.slots}
        return [g for g in self.order if g.sheet in needed]

    @property
    def formula_count(self) -> int:
        return sum(len(rows) for rows, _ in self.formula_cells.values())

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


CELLS_READ_AT_ONCE = 1 << 21     # numbers one part of a group reads per reference


def in_parts(group):
    """A group whose references read more than CELLS_READ_AT_ONCE cells, in parts that each read
    at most that many (its members do not read each other): the windows of a convolution with
    64 channels (10^7 numbers, and their index arrays) held at once were most of a build's memory."""
    reads = max([slot.height * slot.width for slot in group.slots], default=1)
    members = len(group.rows)
    parts = min(members, -(-members * reads // CELLS_READ_AT_ONCE))
    if parts <= 1:
        return [group]
    bounds = np.linspace(0, members, parts + 1).astype(np.int64)
    index = np.arange(members)
    return [group.subset((index >= start) & (index < end)) for start, end in zip(bounds[:-1], bounds[1:])]


def _check_functions(groups) -> None:
    """Every function named anywhere in a formula must be known, even in a branch of IF that no
    run takes (functions.lazy_if): a new kind of sheet must not slip through untested."""
    known, seen = set(FUNCTIONS), set()
    for group in groups:
        if group.expression in seen:
            continue
        seen.add(group.expression)
        todo = [group.tree]
        while todo:
            node = todo.pop()
            if node.kind == "call" and node.value not in known:
                raise FormulaError(f"the evaluator does not know the function {node.value} "
                                   "(add it to excelnet/evaluate/functions.py)")
            todo.extend(node.args)
