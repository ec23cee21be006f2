"""ZeroPadding2D: the feature maps with rows and columns of zeros around them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Planar
from ..sheet import SheetPlan
from .base import (LARGEST_SIZE, Book, Context, Op, Params, Unsupported, check_channels_last, converter,
                   finish)
from .cells import new_planar
from .elementwise import same_layout_gradient


@dataclass(frozen=True)
class ZeroPad2D(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    pads: tuple[int, int, int, int]          # top, bottom, left, right
    title = "ZeroPadding2D"

    def describe(self) -> str:
        top, bottom, left, right = self.pads
        return f"zeros around each channel: {top} row(s) above, {bottom} below, {left} column(s) left, {right} right"

    def reference(self, x: np.ndarray) -> np.ndarray:
        top, bottom, left, right = self.pads
        return np.pad(x.astype(np.float64), ((top, bottom), (left, right), (0, 0)))

    def emit(self, sheet: SheetPlan, x: Planar, book: Book, params: Params | None = None) -> Planar:
        top, bottom, left, right = self.pads
        sheet.line("Each cell copies the same cell of the layer before; the border is zeros.", "note", skip=1)
        out = new_planar(sheet, self.output_shape)
        here = sheet.title
        for c, grid in enumerate(out.grids):
            for y in range(out.height):
                for xx in range(out.width):
                    inside = top <= y < top + x.height and left <= xx < left + x.width
                    if inside:
                        sheet.formula(grid.row + y, grid.col + xx, x.cell_ref(y - top, xx - left, c, here))
                    else:
                        sheet.put(grid.row + y, grid.col + xx, 0)
        return out


    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        top, _, left, _ = self.pads
        height, width = self.input_shape[:2]
        return np.asarray(grad, dtype=np.float64)[top:top + height, left:left + width], ()

    def emit_backward(self, sheet: SheetPlan, x: Planar, out: Planar, grad: Planar, params: Params,
                      book: Book):
        """The border's zeros depend on nothing: each input cell takes the gradient of the output
        cell it was copied to."""
        top, _, left, _ = self.pads
        sheet.line("∂loss/∂input: the gradient of the same cell inside the border", "heading")
        d_x = same_layout_gradient(sheet, x)
        here = sheet.title
        for c, grid in enumerate(d_x.grids):
            for y in range(x.height):
                for xx in range(x.width):
                    sheet.formula(grid.row + y, grid.col + xx, grad.cell_ref(y + top, xx + left, c, here))
        return d_x, ()


def _amounts(padding) -> tuple[int, int, int, int] | None:
    """Keras' forms: 1, (1, 2) (rows, columns) or ((top, bottom), (left, right))."""
    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= LARGEST_SIZE

    if whole(padding):
        return (padding,) * 4
    if isinstance(padding, (list, tuple)) and len(padding) == 2:
        if all(whole(v) for v in padding):
            return padding[0], padding[0], padding[1], padding[1]
        if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(whole(w) for w in v) for v in padding):
            return padding[0][0], padding[0][1], padding[1][0], padding[1][1]
    return None


@converter("ZeroPadding2D")
def zero_padding(layer, shape, context: Context) -> ZeroPad2D | None:
    config, reasons = layer.config, []
    check_channels_last(config, reasons)
    pads = _amounts(config.get("padding", 1))
    if pads is None:
        reasons.append(f"padding={config.get('padding')!r} is not one, two or two pairs of whole numbers")
    if shape is not None and len(shape) != 3:
        reasons.append(f"its input {tuple(shape)} is not an image (H, W, C)")
    if not finish(reasons, shape):
        return None
    top, bottom, left, right = pads
    out = (shape[0] + top + bottom, shape[1] + left + right, shape[2])
    if max(out[:2]) > LARGEST_SIZE:
        raise Unsupported(f"padding of {pads} makes a {out} output, larger than any sheet")
    return ZeroPad2D(layer.name, tuple(shape), out, pads)
