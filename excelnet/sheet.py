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
PICTURE = "picture"           # input pixels: grayscale
SWITCH = "switch"             # 1/0 filter switches
PROBABILITIES = "probabilities"
BARS = "bars"                 # a data bar from 0 to 1 without its number (the value sits beside it)
RAW_BARS = "raw-bars"         # the same, from the smallest to the largest value (not probabilities)
CANVAS = "canvas"             # cells a student types into: yellow paper, grayscale ink
CONTROL = "control"           # one cell a student changes (Sample): yellow, large
ENTRY = "entry"               # a small yellow cell to type a number into (a stroke's end points)


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
    links: dict[tuple[int, int], str] = field(default_factory=dict)  # cell -> title of the sheet it opens
    row_heights: dict[int, float] = field(default_factory=dict)  # points
    picture_range: tuple[float, float] = (0.0, 1.0)             # white .. black for PICTURE and CANVAS
    rules: list[tuple[Rect, str, str]] = field(default_factory=list)  # (cells, formula for the first, style)
    gridlines: bool = True
    layer: tuple[str, str] | None = None          # (name, class) of the layer whose sheet this is

    def put(self, row: int, col: int, value: Any, style: str | None = None) -> None:
        if isinstance(value, str):         # text, made safe for the XML of a workbook (no NUL,
            value = Text(safe_text(value, keep="\n\t"))   # control characters or lone surrogates)
        self.cells[(row, col)] = value
        if style:
            self.styles[(row, col)] = style

    def formula(self, row: int, col: int, expression: str, style: str | None = None) -> None:
        self.cells[(row, col)] = Formula(expression)       # put() without its checks: 10^5 calls
        if style:
            self.styles[(row, col)] = style

    def line(self, value: Any, style: str | None = None, col: int = 1, skip: int = 0) -> int:
        """Write one line of text at the next free row; returns its row."""
        row = self.next_row
        self.put(row, col, value, style)
        self.next_row = row + 1 + skip
        return row

    def block(self, rect: Rect, role: str) -> Rect:
        self.blocks.append((rect, role))
        self.next_row = max(self.next_row, rect.bottom + 2)
        return rect

    def rect(self, row: int, col: int, rows: int, cols: int) -> Rect:
        return Rect(self.title, row, col, rows, cols)

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
