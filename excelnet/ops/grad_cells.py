"""Helpers for the backward pass (excelnet build --learn): where gradients go on a sheet.

A gradient is laid out like what it is the gradient of: ∂loss/∂x like x, ∂loss/∂w like w
(WeightCells.moved, so Grad_<i>_<k> lines up with Weights_<i>_<k> cell for cell)."""

from __future__ import annotations

from ..layout import Cells, Flat, arrange
from ..sheet import GRADIENTS, SheetPlan, Text
from .base import Book, WeightCells
from .cells import new_flat, new_planar


def like(sheet: SheetPlan, x: Cells, caption: str | None = None, role: str = GRADIENTS) -> Cells:
    """Empty cells shaped and arranged like `x` (grids for a feature map, the same block for a vector)."""
    if isinstance(x, Flat):
        return new_flat(sheet, x.shape, caption, role=role, block=(x.block.rows, x.block.cols))
    return new_planar(sheet, x.shape, role=role)


def sum_of_products(terms: list[tuple[str, str]]) -> str:
    """a1*b1+a2*b2+...: for pairs that are not two contiguous ranges of the same shape."""
    return "+".join(f"{a}*{b}" for a, b in terms) or "0"


def place_weights(cells: WeightCells, sheet: SheetPlan, caption: str, role: str = GRADIENTS,
                  noun: str = "part") -> WeightCells:
    """Areas of the same shapes as `cells`, in the same order, placed at the next free rows:
    single cells side by side in one row (a bias: one per filter), else blocks wrapped like
    pictures, each labelled `noun k`. Returns the moved WeightCells (fill them in)."""
    shapes = [(a.rows, a.cols) for a in cells.areas]
    row = sheet.line(caption, "label")
    if all(shape == (1, 1) for shape in shapes):
        areas = [sheet.rect(row, 2 + k, 1, 1) for k in range(len(shapes))]
        sheet.block(sheet.rect(row, 2, 1, len(shapes)), role)
        return cells.moved(areas)
    if len(shapes) == 1 and shapes[0][0] == 1:
        area = sheet.block(sheet.rect(row, 2, 1, shapes[0][1]), role)
        return cells.moved([area])
    height, width = max(r for r, _ in shapes), max(c for _, c in shapes)
    top, areas = sheet.next_row, []
    for k, (dr, dc) in enumerate(arrange(len(shapes), height + 1, max(width, 4))):
        sheet.put(top + dr, 2 + dc, f"{noun} {k + 1}", "label")
        rows, cols = shapes[k]
        areas.append(sheet.block(sheet.rect(top + dr + 1, 2 + dc, rows, cols), role))
    return cells.moved(areas)


def mirror_weights(cells: WeightCells, sheet: SheetPlan, book: Book, role: str = GRADIENTS,
                   noun: str = "part") -> WeightCells:
    """The same areas at the same addresses on `sheet` (a fresh sheet), with the labels of the
    weights' own sheet, when the weights have a sheet to themselves (a Dense kernel): flipping
    between the two tabs shows a weight and its gradient in the same cell. Otherwise placed
    like place_weights."""
    source = next((s for s in book.sheets if s.title == cells.sheet), None)
    if source is None or source.kind != "weights" or sheet.next_row > 3:
        return place_weights(cells, sheet, "", role, noun)
    for (row, col), value in source.cells.items():
        if isinstance(value, Text) and (row, col) != (1, 1):
            sheet.put(row, col, value.value, source.styles.get((row, col)))
    areas = [sheet.block(sheet.rect(a.row, a.col, a.rows, a.cols), role) for a in cells.areas]
    return cells.moved(areas)
