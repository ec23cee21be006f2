"""Helpers every emitter uses: place a tensor on a sheet, fill it element-wise."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..layout import Cells, Flat, Planar, Rect, arrange, flat_width
from ..sheet import ACTIVATIONS, WEIGHTS, Each, SheetPlan, ValueBlock, mark
from ..templates import formula_templates


def shape_text(shape: tuple[int, ...]) -> str:
    return " × ".join(str(d) for d in shape)


def new_planar(sheet: SheetPlan, shape: tuple[int, ...], label: str = "channel",
               role: str = ACTIVATIONS) -> Planar:
    """One labelled H x W grid per channel, wrapped like pictures on a page, with its row numbers
    on the left and its column numbers underneath (as on the Canvas): a student finds "row 4,
    column 6" of a picture (the Explain sheet, the One weight sheet name cells so) without counting."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    extra = ruler_width(height, width)
    top = sheet.next_row
    grids = []
    for c, (dr, dc) in enumerate(arrange(channels, height + 1 + extra, width + extra)):
        sheet.put(top + dr, 1 + dc, f"{label} {c + 1}", "label")
        grid = sheet.block(sheet.rect(top + dr + 1, 1 + dc + extra, height, width), role)
        if extra:
            rulers(sheet, grid, "ruler")
        grids.append(grid)
    sheet.next_row = max(sheet.next_row, grids[-1].bottom + 1 + extra + 1)
    sheet.pictures.append((label, tuple(grids), sheet.last_heading))   # the Magnifier offers them
    return Planar(tuple(shape), tuple(grids))


def ruler_width(height: int, width: int) -> int:
    """1: a picture has row numbers on its left and column numbers under it; 0: a one-cell
    picture has none. workbook/limits.py sizes sheets by it."""
    return 1 if height > 1 or width > 1 else 0


def rulers(sheet: SheetPlan, picture: Rect, style: str) -> tuple[list[str], list[str]]:
    """Row numbers left of a picture and column numbers under it (1, 2, 3, ...): a student reads
    a cell's position off them. Returns their absolute references (rows, columns): the Canvas's
    stroke formulas refer to them instead of repeating constants."""
    here = sheet.title
    rows, cols = [], []
    for r in range(picture.rows):
        sheet.put(picture.row + r, picture.col - 1, r + 1, style)
        rows.append(sheet.rect(picture.row + r, picture.col - 1, 1, 1).ref(here, True))
    for c in range(picture.cols):
        sheet.put(picture.bottom + 1, picture.col + c, c + 1, style)
        cols.append(sheet.rect(picture.bottom + 1, picture.col + c, 1, 1).ref(here, True))
    return rows, cols


def new_flat(sheet: SheetPlan, shape: tuple[int, ...], caption: str | None = None,
             role: str = ACTIVATIONS, col: int = 2, block: tuple[int, int] | None = None) -> Flat:
    """A block for a 1-D tensor (`block` = rows, cols; default one row); `caption` goes in column A."""
    rows, cols = block or flat_width(shape)
    row = sheet.next_row
    if caption:
        sheet.put(row, 1, caption, "label")
    block = sheet.block(sheet.rect(row, col, rows, cols), role)
    return Flat((int(np.prod(shape)),), block)


def same_layout(sheet: SheetPlan, x: Cells, caption: str | None = None) -> Cells:
    """An output placed like the input: grids for a feature map, a block for a vector."""
    if isinstance(x, Planar):
        return new_planar(sheet, x.shape)
    out = new_flat(sheet, x.shape, caption, block=(x.block.rows, x.block.cols))
    return Flat(out.shape, out.block, x.channels, x.stacked)


def fill_like(sheet: SheetPlan, x: Cells, out: Cells, formula: Callable[[str, int], str]) -> None:
    """out[i] = formula(reference to x[i], index of i along the last axis) for every element:
    the channel of an image, the column of a 2-D (H, W) input, the position in a vector."""
    here = sheet.title
    if isinstance(x, Planar):
        for c, grid in enumerate(out.grids):
            for y in range(x.height):
                for xx in range(x.width):
                    last = c if len(x.shape) == 3 else xx
                    sheet.formula(grid.row + y, grid.col + xx, formula(x.cell_ref(y, xx, c, here), last))
        return
    for i in range(x.size):
        sheet.formula(*out.position(i), formula(x.flat_ref(i, here), i))


def one_cell(cells: Cells, i: int) -> Rect:
    """Element i (Keras' flat order) as a block of one cell."""
    return Rect(cells.sheet, *cells.position(i), 1, 1)


def copy_cells(sheet: SheetPlan, targets: list[tuple[int, int]], sources: list[Rect], absolute: bool = False) -> None:
    """targets[k] = sources[k] (a formula that copies one cell), as one formula block."""
    if targets:
        formula_templates(sheet, [r for r, _ in targets], [c for _, c in targets], [mark("x")], None,
                          {"x": Each(sources, absolute)})


VALUE_BLOCK_SIZE = 4096    # numbers from which a block is kept as one array (SheetPlan.values)


def write_values(sheet: SheetPlan, rect: Rect, values: np.ndarray, role: str = WEIGHTS) -> Rect:
    """Numbers (weights) into a block, row by row; float32 weights are stored exactly. A large
    block stays one array (a ValueBlock), which the writer and the evaluator take as a whole."""
    if rect.rows * rect.cols >= VALUE_BLOCK_SIZE:
        numbers = np.array(values, dtype=np.float64).reshape(rect.rows, rect.cols)
        sheet.values.append(ValueBlock(rect.row, rect.col, numbers, "weight"))
        return sheet.block(rect, role)
    values = np.asarray(values, dtype=np.float64).reshape(-1).tolist()
    rows = range(rect.row, rect.row + rect.rows)
    cols = range(rect.col, rect.col + rect.cols)
    keys = [(r, c) for r in rows for c in cols]     # put() without its text check: 10^6 numbers
    sheet.cells.update(zip(keys, values))
    sheet.styles.update(dict.fromkeys(keys, "weight"))
    return sheet.block(rect, role)


def parameter_table(sheet: SheetPlan, names: list[str], values: list[np.ndarray]) -> list[Rect]:
    """A small table of per-channel parameters (one row each), e.g. batch-norm statistics."""
    rects = []
    for name, value in zip(names, values):
        row = sheet.next_row
        sheet.put(row, 1, name, "label")
        flat = np.asarray(value, dtype=np.float64).reshape(-1)
        rects.append(write_values(sheet, sheet.rect(row, 2, 1, flat.size), flat))
        sheet.next_row = row + 1
    sheet.next_row += 1
    return rects


def turned(row: int, every_cell_changes: bool = False) -> bool:
    """Whether output row `row` of a convolution or pooling picture writes its formula the other
    way round (SUMPRODUCT(filter, window), or a window in two pieces): the same value, but a
    formula unlike the one above it. LibreOffice groups a column of equal formulas and computes
    a group's changed cells on several threads; for the few cells a one-pixel edit changes that
    costs more than it saves (benchmarks/helper_blocks.py, variant 'formulas grouped').
    A picture whose every cell a pixel edit changes (the learning workbook's pass after the step:
    its weights change too) keeps its groups: one listener per group instead of one per cell
    makes typing the pixel faster (benchmarks/RESULTS.md, issue 20 §4: 212 -> 189 ms CPU)."""
    return row % 2 == 1 and not every_cell_changes
