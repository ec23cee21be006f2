"""Where tensors live: pure cell arithmetic, no openpyxl.

Rows and columns are 1-based, as in a spreadsheet. A 3-D tensor (H, W, C) is
stored *planar*: one H x W grid per channel, so every channel reads as a
picture. A 1-D tensor is one rectangular block read row by row."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

MAX_ROWS = 1_048_576
MAX_COLS = 16_384


def units_fit_side_by_side(units: int, cols: int) -> bool:
    """Whether a dense layer's units, each a block `cols` wide, fit side by side on one sheet (a
    column of labels, then each unit and a gap): ops/core.py lays them out, limits.py estimates."""
    return units * (cols + 1) + 1 <= MAX_COLS


@lru_cache(maxsize=None)
def column_letter(col: int) -> str:
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@lru_cache(maxsize=None)
def quote_sheet(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


def address(row: int, col: int, absolute: bool = False) -> str:
    if absolute:
        return f"${column_letter(col)}${row}"
    return f"{column_letter(col)}{row}"


def ref(sheet: str, row: int, col: int, here: str, absolute: bool = False) -> str:
    """A reference to one cell, qualified with its sheet when seen from another sheet.
    (Called for every reference of every formula: address() is written out here.)"""
    cell = f"${column_letter(col)}${row}" if absolute else f"{column_letter(col)}{row}"
    return cell if sheet == here else f"{quote_sheet(sheet)}!{cell}"


def range_ref(sheet: str, top: int, left: int, bottom: int, right: int, here: str,
              absolute: bool = False) -> str:
    """A reference to the rectangle top..bottom x left..right (inclusive)."""
    if (top, left) == (bottom, right):
        return ref(sheet, top, left, here, absolute)
    span = f"{address(top, left, absolute)}:{address(bottom, right, absolute)}"
    return span if sheet == here else f"{quote_sheet(sheet)}!{span}"


@dataclass(frozen=True)
class Rect:
    """A block of cells on one sheet."""

    sheet: str
    row: int
    col: int
    rows: int
    cols: int

    @property
    def bottom(self) -> int:
        return self.row + self.rows - 1

    @property
    def right(self) -> int:
        return self.col + self.cols - 1

    def ref(self, here: str, absolute: bool = False) -> str:
        return range_ref(self.sheet, self.row, self.col, self.bottom, self.right, here, absolute)

    def cell_ref(self, r: int, c: int, here: str, absolute: bool = False) -> str:
        return ref(self.sheet, self.row + r, self.col + c, here, absolute)

    def sub(self, r0: int, c0: int, rows: int = 1, cols: int = 1) -> "Rect":
        """The block of `rows` x `cols` cells from offset (r0, c0): one cell by default."""
        return Rect(self.sheet, self.row + r0, self.col + c0, rows, cols)

    def sub_ref(self, r0: int, c0: int, rows: int, cols: int, here: str, absolute: bool = False) -> str:
        top, left = self.row + r0, self.col + c0
        return range_ref(self.sheet, top, left, top + rows - 1, left + cols - 1, here, absolute)


@dataclass(frozen=True)
class Planar:
    """A (H, W, C) tensor (or (H, W), read as C = 1): one grid per channel."""

    shape: tuple[int, ...]
    grids: tuple[Rect, ...]

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def channels(self) -> int:
        return self.shape[2] if len(self.shape) == 3 else 1

    @property
    def sheet(self) -> str:
        return self.grids[0].sheet

    def cell_ref(self, y: int, x: int, c: int, here: str) -> str:
        return self.grids[c].cell_ref(y, x, here)

    def window_ref(self, c: int, y0: int, x0: int, rows: int, cols: int, here: str) -> str:
        return self.grids[c].sub_ref(y0, x0, rows, cols, here)

    def position(self, i: int) -> tuple[int, int]:
        """(row, col) of element i in Keras' row-major (y, x, c) order."""
        pixel, c = divmod(i, self.channels)
        y, x = divmod(pixel, self.width)
        return self.grids[c].row + y, self.grids[c].col + x

    def flat_ref(self, i: int, here: str) -> str:
        return ref(self.sheet, *self.position(i), here)


@dataclass(frozen=True)
class Flat:
    """A 1-D tensor of length rows*cols in one block.

    With `channels` = 1, element i sits at (i // cols, i % cols). A flattened (H, W, C) feature
    map uses `channels` = C: the block holds C pictures, so a student still sees each channel as
    a picture while a Dense layer takes one SUMPRODUCT of the block; element i (Keras' (y, x, c)
    order) is found through position(). The pictures stand one below the other (row = c·H + y,
    column = x; `stacked`), because LibreOffice reads a range column by column: a 160 × 5 block
    is read about twice as fast as a 5 × 160 one (benchmarks/RESULTS.md). With the learning
    sheets they stand side by side (row = y, column = c·W + x): see Book.maps_side_by_side."""

    shape: tuple[int, ...]
    block: Rect
    channels: int = 1
    stacked: bool = True

    @property
    def size(self) -> int:
        return self.shape[0]

    @property
    def sheet(self) -> str:
        return self.block.sheet

    @property
    def map_height(self) -> int:
        """Rows of one channel's picture (of the whole block when channels = 1)."""
        return self.block.rows // self.channels if self.stacked else self.block.rows

    @property
    def map_width(self) -> int:
        return self.block.cols if self.stacked else self.block.cols // self.channels

    def offset(self, i: int) -> tuple[int, int]:
        """(row, col) of element i from the block's top-left."""
        if self.channels == 1:
            return divmod(i, self.block.cols)
        pixel, c = divmod(i, self.channels)
        y, x = divmod(pixel, self.map_width)
        return (c * self.map_height + y, x) if self.stacked else (y, c * self.map_width + x)

    def position(self, i: int) -> tuple[int, int]:
        """(row, col) of element i."""
        r, c = self.offset(i)
        return self.block.row + r, self.block.col + c

    def flat_ref(self, i: int, here: str) -> str:
        return ref(self.sheet, *self.position(i), here)


Cells = Planar | Flat


def flat_width(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, cols) of the block that holds `shape` flattened in Keras order."""
    if len(shape) == 1:
        return 1, shape[0]
    rows = shape[0]
    size = 1
    for d in shape:
        size *= d
    return rows, size // rows


def arrange(count: int, block_rows: int, block_cols: int, max_cols: int = 120,
            gap: int = 1) -> list[tuple[int, int]]:
    """Offsets (row, col) of `count` equal blocks in a wrapped grid, like pictures on a page."""
    per_line = max(1, (max_cols + gap) // (block_cols + gap))
    return [((i // per_line) * (block_rows + gap), (i % per_line) * (block_cols + gap))
            for i in range(count)]
