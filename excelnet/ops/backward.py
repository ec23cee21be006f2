"""Helpers the backward rules share: element-wise gradient blocks, weight-gradient areas laid
out like the weights, the gradient through an activation.

A gradient is always laid out like what it is the gradient of: ∂loss/∂x like x, ∂loss/∂w
like w (WeightCells.moved), so a student can put the two side by side."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..layout import Cells, Flat, Planar, Rect, arrange
from ..sheet import WEIGHTS, SheetPlan
from .activations import Activation
from .base import WeightCells


def element_count(cells: Cells) -> int:
    return int(np.prod(cells.shape))


def fill_elements(sheet: SheetPlan, out: Cells, sources: list[Cells],
                  formula: Callable[[list[str], int], str]) -> None:
    """out[i] = formula([reference to s[i] for each source], i % last axis) for every element i in
    Keras' flat order; the sources may be laid out differently from `out` (a grid, a block)."""
    here, last = sheet.title, out.shape[-1]
    for i in range(element_count(out)):
        sheet.formula(*out.position(i), formula([s.flat_ref(i, here) for s in sources], i % last))


def times_derivative(act: Activation, grad: str, x: str | None, a: str | None) -> str:
    """grad × f'(...) as one expression: the gradient through an element-wise activation."""
    if act.is_identity:
        return grad
    return f"{grad}*{act.derivative_formula(x, a)}"


def mirror(sheet: SheetPlan, weights: WeightCells, caption: str, labels: list[str] | None = None) -> WeightCells:
    """Empty areas shaped like each area of `weights`, on `sheet` under `caption`, wrapped like
    pictures on a page (each under its label): the cells of ∂loss/∂weights or of updated weights.
    Fill them through the returned WeightCells (position(idx) or ref(idx))."""
    sheet.line(caption, "heading")
    shapes = [(a.rows, a.cols) for a in weights.areas]
    rows, cols = max(r for r, _ in shapes), max(c for _, c in shapes)
    top, areas = sheet.next_row, []
    for k, (dr, dc) in enumerate(arrange(len(shapes), rows + 1, cols)):
        sheet.put(top + dr, 1 + dc, labels[k] if labels else f"{k + 1}", "label")
        areas.append(sheet.block(sheet.rect(top + dr + 1, 1 + dc, *shapes[k]), WEIGHTS))
    return weights.moved(areas)


def zero_or_formula(sheet: SheetPlan, row: int, col: int, expression: str | None) -> None:
    """A formula, or a plain 0 where nothing contributes (outside every window, a dilation gap)."""
    if expression is None:
        sheet.put(row, col, 0)
    else:
        sheet.formula(row, col, expression)


def channel_range(cells: Cells, c: int, here: str) -> str:
    """Every element of channel c (Keras' last axis): a grid of an image, a column of a 2-D
    picture, one cell of a vector."""
    if isinstance(cells, Planar) and len(cells.shape) == 3:
        return cells.grids[c].ref(here)
    if isinstance(cells, Planar):
        return cells.grids[0].sub_ref(0, c, cells.height, 1, here)
    assert isinstance(cells, Flat)
    return cells.flat_ref(c, here)


def grid_rect(sheet: SheetPlan, rows: int, cols: int, role: str) -> Rect:
    return sheet.block(sheet.rect(sheet.next_row, 1, rows, cols), role)
