"""A worksheet as plain data: cells, styles, colour scales and names.

Emitters fill a SheetPlan; only writer.py turns it into openpyxl objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import is_
from typing import Any

import numpy as np

from .layout import Rect
from .text import safe_text


@dataclass(frozen=True)
class Text:
    """A string to show literally, even if it starts with '=' (e.g. a layer name)."""

    value: str


@dataclass(frozen=True)
class Formula:
    """A spreadsheet formula, without the leading '='."""

    expression: str


# What a block holds decides how it is coloured.
ACTIVATIONS = "activations"   # feature maps, vectors: a sequential colour scale
WEIGHTS = "weights"           # kernels, dense weights: a diverging colour scale
GRADIENTS = "gradients"       # ∂loss/∂something (excelnet build --learn): the same diverging scale
COUNTS = "counts"             # whole numbers in a picture (a pooling window's winner): no decimals
PICTURE = "picture"           # input pixels: grayscale
SWITCH = "switch"             # 1/0 filter switches
PROBABILITIES = "probabilities"
BARS = "bars"                 # a data bar from 0 to 1 without its number (the value sits beside it)
RAW_BARS = "raw-bars"         # the same, from the smallest to the largest value (not probabilities)
CANVAS = "canvas"             # cells a student types into: yellow paper, grayscale ink
CONTROL = "control"           # one cell a student changes (Sample): yellow, large
ENTRY = "entry"               # a small yellow cell to type a number into (a stroke's end points)


MARK = "\x00"


def mark(name: str) -> str:
    """A place for a reference in a formula template (templates.py)."""
    return f"{MARK}{name}{MARK}"


def is_mark(text: str) -> bool:
    """Whether `text` is one mark(): a reference to come, an operand that needs no brackets."""
    return len(text) > 1 and text[0] == MARK and text.index(MARK, 1) == len(text) - 1


@dataclass(frozen=True)
class Each:
    """One block per member of a template (templates.py; a list of Rects or a Reference),
    written absolute ($A$1) when `absolute`."""

    rects: list
    absolute: bool = False


@dataclass(frozen=True)
class Reference:
    """One reference of a block of formulas: per member, the top-left cell it reads (rows, cols
    on `sheet`), and the size of what it reads (1 x 1: one cell)."""

    sheet: str
    rows: np.ndarray
    cols: np.ndarray
    height: int = 1
    width: int = 1


@dataclass(frozen=True)
class KnownBlock:
    """Formula cells of one shape written together, whose references the emitter already knows
    (in the order they appear in each formula's text): the evaluator takes them from here
    instead of reading them back out of the text (SheetPlan.formula_block)."""

    rows: np.ndarray
    cols: np.ndarray
    references: tuple[Reference, ...]


class CellWrittenTwice(RuntimeError):
    """An emitter wrote a cell that already held something: two parts of a sheet overlap, and the
    later one would silently overwrite the earlier (a bug in excelnet, not in the model)."""
@dataclass(frozen=True)
class ValueBlock:
    """A large block of plain numbers (a big layer's weights), kept as one array instead of a
    cell each: pytorch/examples' MNIST Net has 1.18 M weights in fc1, which as cells took most of
    its build's time and memory. `style`: the look of its cells where no block role gives one."""

    row: int
    col: int
    numbers: np.ndarray          # float64, (rows, cols)
    style: str

    @property
    def bottom(self) -> int:
        return self.row + self.numbers.shape[0] - 1

    @property
    def right(self) -> int:
        return self.col + self.numbers.shape[1] - 1

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of its cells, row by row."""
        rows, cols = np.indices(self.numbers.shape)
        return (rows + self.row).reshape(-1), (cols + self.col).reshape(-1)


@dataclass
class SheetPlan:
    title: str
    kind: str                                    # guide | input | layer | weights | output | data
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)
    styles: dict[tuple[int, int], str] = field(default_factory=dict)
    blocks: list[tuple[Rect, str]] = field(default_factory=list)
    names: dict[str, Rect | tuple[Rect, ...]] = field(default_factory=dict)   # several areas: a multi-area name
    validations: list[tuple[Rect, int, int]] = field(default_factory=list)
    choices: list[tuple[Rect, list[str]]] = field(default_factory=list)     # a drop-down list in a cell
    column_width: float | None = None            # narrow square cells for pictures
    wide_columns: dict[int, float] = field(default_factory=dict)
    zoom: int | None = None                      # None: chosen from the width of the grids
    freeze: tuple[int, int] | None = None        # (row, col) of the first scrolling cell
    hidden: bool = False
    next_row: int = 1
    merges: list[Rect] = field(default_factory=list)             # e.g. a wide control cell
    links: dict[tuple[int, int], str | tuple[str, str]] = field(default_factory=dict)  # cell -> sheet it
    # opens (its title), or a cell of a sheet: (title, "A62")
    row_heights: dict[int, float] = field(default_factory=dict)  # points
    picture_range: tuple[float, float] = (0.0, 1.0)             # white .. black for PICTURE and CANVAS
    rules: list[tuple[Rect, str, str]] = field(default_factory=list)  # (cells, formula for the first, style)
    gridlines: bool = True
    layer: tuple[str, str] | None = None          # (name, class) of the layer whose sheet this is
    known: list[KnownBlock] = field(default_factory=list)       # formula blocks with known references
    values: list[ValueBlock] = field(default_factory=list)      # large blocks of numbers, not in `cells`
    # (what, grids, the heading above them): the pictures the Magnifier offers (ops/cells.new_planar)
    pictures: list[tuple[str, tuple[Rect, ...], str]] = field(default_factory=list)
    last_heading: str = ""                       # the latest heading line(): what the next pictures are

    def put(self, row: int, col: int, value: Any, style: str | None = None) -> None:
        if (row, col) in self.cells:
            self._written_twice([(row, col)])
        if isinstance(value, str):         # text, made safe for the XML of a workbook (no NUL,
            value = Text(safe_text(value, keep="\n\t"))   # control characters or lone surrogates)
        self.cells[(row, col)] = value
        if style:
            self.styles[(row, col)] = style

    def formula(self, row: int, col: int, expression: str, style: str | None = None) -> None:
        if (row, col) in self.cells:                        # put() without its text checks: 10^5 calls
            self._written_twice([(row, col)])
        self.cells[(row, col)] = Formula(expression)
        if style:
            self.styles[(row, col)] = style

    def formula_block(self, rows: "list[int] | np.ndarray", cols: "list[int] | np.ndarray", expressions: list[str],
                      references: "list[Reference] | tuple[Reference, ...]", style: str | None = None) -> None:
        """formula() for many cells of one shape at once, with the references of each (one
        Reference per reference in the text, in order): reading 10^5 formulas back out of their
        text was most of what `build --learn` waited for."""
        rows, cols = np.asarray(rows, np.int64).reshape(-1), np.asarray(cols, np.int64).reshape(-1)
        self.insert_formulas(rows, cols, expressions, style)
        self.know(rows, cols, references)

    def insert_formulas(self, rows: np.ndarray, cols: np.ndarray, expressions: list[str], style: str | None) -> None:
        """formula() for each cell, in order (templates.py writes them)."""
        keys = list(zip(rows.tolist(), cols.tolist()))
        if not self.cells.keys().isdisjoint(keys):
            self._written_twice([key for key in keys if key in self.cells])
        before = len(self.cells)
        self.cells.update(zip(keys, map(Formula, expressions)))
        if len(self.cells) != before + len(keys):        # one cell twice in the block itself
            self._written_twice([key for n, key in enumerate(keys) if key in keys[:n]][:5])
        if style:
            self.styles.update(dict.fromkeys(keys, style))

    def erase(self, row: int, col: int) -> None:
        """Take a cell out of the plan (the one way to write a cell again)."""
        self.cells.pop((row, col), None)
        self.styles.pop((row, col), None)

    def _written_twice(self, keys: list[tuple[int, int]]) -> None:
        """Refuse: these cells were written already."""
        from .layout import address

        cells = ", ".join(address(*key) for key in keys[:5])
        raise CellWrittenTwice(f"internal error: sheet '{self.title}' had cell {cells} written twice "
                               "(two parts of the sheet overlap); please report this as a bug in excelnet")

    def know(self, rows: np.ndarray, cols: np.ndarray, references) -> None:
        """Record that these formula cells read these references (one Reference per reference in
        their text, in order): the evaluator takes them from here (evaluate/known.py)."""
        references = tuple(Reference(r.sheet, np.asarray(r.rows, np.int64).reshape(-1),
                                     np.asarray(r.cols, np.int64).reshape(-1), r.height, r.width)
                           for r in references)
        if any(len(r.rows) != len(rows) or len(r.cols) != len(rows) for r in references):
            raise ValueError("a formula block needs one row and column per member for each reference")
        self.known.append(KnownBlock(rows, cols, references))

    def line(self, value: Any, style: str | None = None, col: int = 1, skip: int = 0) -> int:
        """Write one line of text at the next free row; returns its row."""
        row = self.next_row
        self.put(row, col, value, style)
        self.next_row = row + 1 + skip
        if style == "heading" and isinstance(value, str):
            self.last_heading = value
        return row

    def block(self, rect: Rect, role: str) -> Rect:
        self.blocks.append((rect, role))
        self.next_row = max(self.next_row, rect.bottom + 2)
        return rect

    def rect(self, row: int, col: int, rows: int, cols: int) -> Rect:
        return Rect(self.title, row, col, rows, cols)

    def extent(self) -> tuple[int, int]:
        """The last row and the last column that hold a cell (0, 0 for an empty sheet)."""
        rows = [r for r, _ in self.cells] + [b.bottom for b in self.values]
        cols = [c for _, c in self.cells] + [b.right for b in self.values]
        return max(rows, default=0), max(cols, default=0)

    def number_at(self, positions: list[tuple[int, int]]) -> np.ndarray:
        """The number in each cell (row, col), from `cells` or a value block."""
        found = np.full(len(positions), np.nan)
        if self.values and positions:
            at = np.array(positions, np.int64).reshape(-1, 2)
            for block in self.values:
                inside = (at[:, 0] >= block.row) & (at[:, 0] <= block.bottom) & \
                    (at[:, 1] >= block.col) & (at[:, 1] <= block.right)
                found[inside] = block.numbers[at[inside, 0] - block.row, at[inside, 1] - block.col]
        missing = np.flatnonzero(np.isnan(found)).tolist()
        found[missing] = [float(self.cells[positions[k]]) for k in missing]
        return found

    def formula_count(self) -> int:
        return list(map(type, self.cells.values())).count(Formula)


@dataclass
class CellKinds:
    """A plan's cells sorted by kind in one pass of C loops (a workbook has 10^5 of them):
    `keys` (n, 2) rows and columns in the plan's order, `values`, and masks of the formulas
    and of the plain numbers (exactly float or int; numpy numbers and bools are left to the caller)."""

    keys: np.ndarray
    values: list
    formula: np.ndarray
    number: np.ndarray

    @classmethod
    def of(cls, cells: dict) -> "CellKinds":
        values = list(cells.values())
        n = len(values)
        keys = np.fromiter(chain.from_iterable(cells), np.int64, 2 * n).reshape(n, 2)
        kinds = list(map(type, values))
        formula, number, integer = (np.fromiter(map(is_, kinds, repeat(kind)), bool, n) for kind in (Formula, float, int))
        return cls(keys, values, formula, number | integer)
