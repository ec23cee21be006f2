"""Evaluate every formula of a set of SheetPlans, shape by shape, in dependency order.

Cells are grouped by formula shape (parse.shape_key) and by what their references look
like (sheet, size); a group is evaluated for all its cells at once with NumPy. Groups run
in dependency order; groups that depend on each other (or a group on itself, such as a
column that refers to the column beside it) are split by the depth of each cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from .functions import LAZY, call
from .parse import SLOT, FormulaError, Node, column_number, fast_slots_agree, parse, read_reference, sheet_name
from .values import (BLANK, BLANK_KIND, DIV0, ERROR, LOGICAL, NUM, NUMBER, TEXT, Area, XLError, compare, constant,
                     first, numbers, pack, scalar, to_text)


class Grid:
    """One sheet's values: numbers, the kind of each cell, and the Python value of non-numbers."""

    def __init__(self, rows: int, cols: int):
        self.num = np.zeros((rows + 1, cols + 1))
        self.kind = np.full((rows + 1, cols + 1), BLANK_KIND, dtype=np.int8)
        self.obj = np.full((rows + 1, cols + 1), BLANK, dtype=object)

    def set(self, row: int, col: int, value) -> None:
        if isinstance(value, bool):
            self.num[row, col], self.kind[row, col], self.obj[row, col] = float(value), LOGICAL, value
        elif isinstance(value, (int, float)) and np.isfinite(value):
            self.num[row, col], self.kind[row, col], self.obj[row, col] = float(value), NUMBER, float(value)
        elif isinstance(value, str):
            self.num[row, col], self.kind[row, col], self.obj[row, col] = 0.0, TEXT, value
        elif isinstance(value, XLError) or isinstance(value, (int, float)):
            self.num[row, col], self.kind[row, col], self.obj[row, col] = 0.0, ERROR, (
                value if isinstance(value, XLError) else NUM)
        else:
            self.num[row, col], self.kind[row, col], self.obj[row, col] = 0.0, BLANK_KIND, BLANK

    def value(self, row: int, col: int):
        if row >= self.num.shape[0] or col >= self.num.shape[1]:
            return BLANK                  # past the last cell anything refers to
        kind = self.kind[row, col]
        return float(self.num[row, col]) if kind == NUMBER else self.obj[row, col]


@dataclass
class Slot:
    """One reference of a group: the sheet, the top-left cell per member, the size."""

    sheet: str
    rows: np.ndarray
    cols: np.ndarray
    height: int
    width: int

    _at: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _same: bool | None = field(default=None, init=False, repr=False, compare=False)

    def same_for_all(self) -> bool:
        return bool((self.rows == self.rows[0]).all() and (self.cols == self.cols[0]).all())

    def take(self, grid_array: np.ndarray) -> np.ndarray:
        """(members, height, width) of a grid's cells."""
        if self.same_for_all_cached():
            r, c = int(self.rows[0]), int(self.cols[0])
            block = grid_array[r:r + self.height, c:c + self.width]
            return np.broadcast_to(block, (len(self.rows),) + block.shape)
        grid_rows, grid_cols = grid_array.shape
        if self._at is None or self._at[0] != grid_cols:
            # worked out once: each run takes numbers, kinds (and values) of every slot. One flat
            # index per cell read, int32 where the grid allows: a convolution's windows read
            # 10^7 cells, and two int64 indices of each were most of the evaluator's memory.
            if len(self.rows) and (self.rows.max() + self.height > grid_rows or self.cols.max() + self.width > grid_cols):
                raise IndexError("a reference reaches past the end of its sheet's grid")
            kind = np.int32 if grid_array.size < 2 ** 31 else np.int64
            rows = (self.rows.astype(kind)[:, None, None] + np.arange(self.height, dtype=kind)[None, :, None]) * grid_cols
            self._at = (grid_cols, rows + (self.cols.astype(kind)[:, None, None] +
                                           np.arange(self.width, dtype=kind)[None, None, :]))
        return grid_array.reshape(-1)[self._at[1]]

    def same_for_all_cached(self) -> bool:
        if self._same is None:
            self._same = self.same_for_all()
        return self._same

    def subset(self, mask: np.ndarray) -> "Slot":
        return Slot(self.sheet, self.rows[mask], self.cols[mask], self.height, self.width)


@dataclass
class Group:
    sheet: str
    rows: np.ndarray          # the members' cells
    cols: np.ndarray
    tree: Node
    slots: list[Slot]
    expression: str           # one member's formula, for messages

    def subset(self, mask: np.ndarray) -> "Group":
        return Group(self.sheet, self.rows[mask], self.cols[mask], self.tree,
                     [s.subset(mask) for s in self.slots], self.expression)


# --- from formulas to groups ----------------------------------------------------------------


def make_groups(formulas: dict[str, "list[tuple[int, int, str]] | SheetFormulas"]) -> list[Group]:
    """formulas: sheet -> its formula cells ([(row, col, expression)] or SheetFormulas).
    Groups of cells that share a shape."""
    groups = []
    for sheet, cells in formulas.items():
        if not isinstance(cells, SheetFormulas):
            cells = SheetFormulas([c[0] for c in cells], [c[1] for c in cells], [c[2] for c in cells])
        if len(cells.texts):
            groups.extend(_sheet_groups(sheet, cells))
    return groups


@dataclass
class SheetFormulas:
    """A sheet's formula cells: rows, columns and expressions (without '=')."""

    rows: "list[int] | np.ndarray"
    cols: "list[int] | np.ndarray"
    texts: list[str]

    def cell(self, i: int) -> tuple[int, int, str]:
        return int(self.rows[i]), int(self.cols[i]), self.texts[i]


class _References:
    """Every reference in a sheet's formulas, from one pass of SLOT over all of them; the
    numbers are converted by NumPy in bulk, not one Python call per reference."""

    def __init__(self, texts: list[str]):
        parts = SLOT.split("\x00".join(texts))
        literal = parts[0::7]
        self.keys = "".join(literal).split("\x00")          # each formula without its references
        count = len(literal) - 1
        ends = np.fromiter(map(str.count, literal[:-1], repeat("\x00")), np.int64, count)
        owner = np.cumsum(ends)                              # the formula of each reference
        self.first = np.searchsorted(owner, np.arange(len(texts)))        # its first reference
        self.count = np.bincount(owner, minlength=len(texts))
        quoted, plain, c1, r1, c2, r2 = (parts[k::7] for k in range(1, 7))
        if any(plain):
            quoted = [q if q is not None else (None if p is None else "\x00" + p) for q, p in zip(quoted, plain)]
        ids = dict.fromkeys(quoted)
        self.sheet_names = [(None, None) if n is None else (None, n[1:]) if n[:1] == "\x00" else (n, None) for n in ids]
        ids = {name: i for i, name in enumerate(ids)}
        self.sheet = np.fromiter(map(ids.__getitem__, quoted), np.int64, count)
        columns = {letters: column_number(letters) for letters in set(c1) | set(c2) if letters}
        columns[None] = columns[""] = -1
        top = _integers(r1, count)
        left = np.fromiter(map(columns.__getitem__, c1), np.int64, count)
        right = np.fromiter(map(columns.__getitem__, c2), np.int64, count)
        second = right >= 0                                  # a range A1:B2, not one cell
        bottom = np.where(second, 0, top)
        bottom[second] = _integers([r for r in r2 if r], int(second.sum()))
        right = np.where(second, right, left)
        self.top, self.bottom = np.minimum(top, bottom), np.maximum(top, bottom)
        self.left, self.right = np.minimum(left, right), np.maximum(left, right)


def _integers(digits: list[str], count: int) -> np.ndarray:
    """Row numbers from their digits, parsed by NumPy in one call."""
    out = np.fromstring(" ".join(digits), dtype=np.int64, sep=" ") if digits else np.zeros(0, np.int64)
    if len(out) != count:                  # cannot happen for what SLOT matches; say so plainly if it does
        raise FormulaError("cannot read the row numbers of the references")
    return out


def _sheet_groups(sheet: str, cells: SheetFormulas) -> list[Group]:
    refs = _References(cells.texts)
    shapes = dict.fromkeys(refs.keys)                    # each shape once, in order of first use
    shapes = {key: k for k, key in enumerate(shapes)}
    shape = np.fromiter(map(shapes.__getitem__, refs.keys), np.int64, len(refs.keys))
    order = np.argsort(shape, kind="stable")
    bounds = np.flatnonzero(np.diff(shape[order], prepend=-1)).tolist() + [len(order)]
    rows, cols = np.asarray(cells.rows, np.int64), np.asarray(cells.cols, np.int64)
    groups = []
    for start, end in zip(bounds, bounds[1:]):
        groups.extend(_shape_groups(sheet, cells, rows, cols, order[start:end], refs))
    return groups


def _shape_groups(sheet: str, cells: SheetFormulas, all_rows: np.ndarray, all_cols: np.ndarray,
                  members: np.ndarray, refs: _References) -> list[Group]:
    expression = cells.texts[members[0]]
    tree, spans = parse(expression)
    m = len(spans)
    if not fast_slots_agree(expression, spans) or (refs.count[members] != m).any():
        return [g for i in members for g in _exact_group(sheet, cells.cell(i))]   # e.g. 'A1' inside a text
    rows, cols = all_rows[members], all_cols[members]
    if not m:
        return [Group(sheet, rows, cols, tree, [], expression)]
    at = refs.first[members][:, None] + np.arange(m)[None, :]               # (members, references)
    top, left = refs.top[at], refs.left[at]
    height, width, names = refs.bottom[at] - top + 1, refs.right[at] - left + 1, refs.sheet[at]
    signature = np.concatenate([names, height, width], axis=1)
    varying = (signature != signature[0]).any(axis=0)      # most columns are the same for every member
    if not varying.any():
        which, kinds = np.zeros(len(members), np.int64), 1
    else:
        unique, which = np.unique(signature[:, varying], axis=0, return_inverse=True)
        which, kinds = which.reshape(-1), len(unique)
    out = []
    for k in range(kinds):
        mask = which == k
        i = int(np.argmax(mask))
        slots = [Slot(sheet_name(*refs.sheet_names[names[i, j]], sheet), top[mask, j], left[mask, j],
                      int(height[i, j]), int(width[i, j])) for j in range(m)]
        out.append(Group(sheet, rows[mask], cols[mask], tree, slots, cells.texts[members[i]]))
    return out


def _exact_group(sheet: str, member: tuple[int, int, str]) -> list[Group]:
    row, col, expression = member
    tree, spans = parse(expression)
    slots = []
    for start, end in spans:
        match = SLOT.fullmatch(expression, start, end)
        if match is None:
            raise FormulaError(f"cannot read the reference {expression[start:end]!r} in ={expression}")
        name, top, left, height, width = read_reference(match, sheet)
        slots.append(Slot(name, np.array([top]), np.array([left]), height, width))
    return [Group(sheet, np.array([row]), np.array([col]), tree, slots, expression)]


# --- evaluating one group -------------------------------------------------------------------


def evaluate_group(group: Group, grids: dict[str, Grid]) -> np.ndarray:
    n = len(group.rows)
    areas: dict[int, Area] = {}

    def area(index: int) -> Area:
        if index not in areas:
            slot = group.slots[index]
            grid = grids.get(slot.sheet)
            if grid is None:
                raise FormulaError(f"={group.expression} on '{group.sheet}' refers to a sheet "
                                   f"'{slot.sheet}' that does not exist")
            kind, num = slot.take(grid.kind), slot.take(grid.num)
            # a block every member reads is one block seen n times: look at it once (the Explain
            # sheet's 800 cells read 64 blocks of weights; a test of n copies took 75 ms)
            not_numbers = (kind[:1] if slot.same_for_all() else kind).any()
            areas[index] = Area(num, kind if not_numbers else None, lambda: _objects(kind, num, slot.take(grid.obj)))
        return areas[index]

    def walk(node: Node):
        kind = node.kind
        if kind == "slot":
            return area(node.value)
        if kind == "call":
            if node.value in LAZY:
                return LAZY[node.value](n, node.args, walk)
            return call(node.value, n, [walk(a) for a in node.args])
        if kind == "op":
            return operator(node.value, n, walk(node.args[0]), walk(node.args[1]))
        if kind == "neg":
            x, errors = numbers(walk(node.args[0]), n)
            return pack(-x, errors)
        if kind in ("num", "str", "bool"):
            return constant(node.value, n)
        return constant(XLError(node.value), n)

    try:
        return scalar(walk(group.tree), n)
    finally:
        # walk() refers to itself, a cycle that holds `areas` until the garbage collector runs,
        # and build pauses it: a convolution's windows (10^7 numbers) would stay until the end.
        areas.clear()


def _objects(kind: np.ndarray, num: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """Python values of an area: numbers from `num` (a formula's number lives only there)."""
    out = np.array(obj, dtype=object)
    numeric = kind == NUMBER
    out[numeric] = num[numeric].tolist()
    return out


def operator(op: str, n: int, a, b) -> np.ndarray:
    if op == "&":
        return concat(n, a, b)
    if op in ("=", "<>", "<", ">", "<=", ">="):
        return comparison(op, n, a, b)
    return arithmetic(op, n, a, b)


def arithmetic(op: str, n: int, a, b) -> np.ndarray:
    x, ex = numbers(a, n)
    y, ey = numbers(b, n)
    errors = first(ex, ey)
    with np.errstate(all="ignore"):
        if op == "+":
            return pack(x + y, errors)
        if op == "-":
            return pack(x - y, errors)
        if op == "*":
            return pack(x * y, errors)
        if op == "/":
            return pack(np.where(y == 0, np.nan, x / np.where(y == 0, 1.0, y)), errors, DIV0)
        zero = (x == 0) & (y < 0)
        result = pack(np.where(zero, np.nan, np.power(x, y)), errors)
        if zero.any():
            result = result.astype(object)
            result[zero & np.array([not isinstance(v, XLError) or v is NUM for v in result])] = DIV0
        return result


def comparison(op: str, n: int, a, b) -> np.ndarray:
    a, b = scalar(a, n), scalar(b, n)
    if a.dtype == np.float64 and b.dtype == np.float64:
        return {"=": np.equal, "<>": np.not_equal, "<": np.less, ">": np.greater,
                "<=": np.less_equal, ">=": np.greater_equal}[op](a, b)
    out = np.array([compare(op, x, y) for x, y in zip(a.astype(object), b.astype(object))], dtype=object)
    return out if any(isinstance(v, XLError) for v in out) else out.astype(bool)


def concat(n: int, a, b) -> np.ndarray:
    a, b = scalar(a, n).astype(object), scalar(b, n).astype(object)
    out = np.empty(n, dtype=object)
    for i, (x, y) in enumerate(zip(a, b)):
        x, y = to_text(x), to_text(y)
        out[i] = x if isinstance(x, XLError) else (y if isinstance(y, XLError) else x + y)
    return out


def store(group: Group, grid: Grid, result: np.ndarray) -> None:
    """Write a group's results into its sheet (a blank result is 0, as in any spreadsheet)."""
    rows, cols = group.rows, group.cols
    if result.dtype == np.float64:
        grid.num[rows, cols] = result
        grid.kind[rows, cols] = NUMBER
        return
    if result.dtype == bool:
        grid.num[rows, cols] = result
        grid.kind[rows, cols] = LOGICAL
        grid.obj[rows, cols] = result.astype(object)
        return
    for r, c, v in zip(rows, cols, result):
        grid.set(r, c, 0.0 if v is BLANK else v)


__all__ = ["Grid", "Group", "Slot", "SheetFormulas", "make_groups", "evaluate_group", "store", "arithmetic", "concat", "DIV0"]
