"""Max and average pooling over windows, and their global versions.

A planar channel grid makes each window one contiguous range: =MAX(B5:C6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Flat, Planar
from ..sheet import SheetPlan
from ..shapes import output_size, padding_amounts
from .base import Book, Params, Context, Op, Unsupported, check_channels_last, converter, finish, option, whole_pair
from .cells import new_flat, new_planar, shape_text

FUNCTIONS = {"max": ("MAX", np.max), "average": ("AVERAGE", np.mean)}


@dataclass(frozen=True)
class Pool2D(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kind: str                     # "max" or "average"
    pool: tuple[int, int]
    strides: tuple[int, int]
    padding: str

    @property
    def title(self) -> str:
        return "MaxPooling2D" if self.kind == "max" else "AveragePooling2D"

    def describe(self) -> str:
        return (f"{self.kind} of each {self.pool[0]}×{self.pool[1]} window, "
                f"stride {self.strides[0]}×{self.strides[1]}, padding {self.padding}")

    def windows(self, axis: int):
        """(start, length) of each output position's window along one axis, clipped to
        the input: 'same' padding adds no values, so the max or average is over real cells."""
        size, window, stride = self.input_shape[axis], self.pool[axis], self.strides[axis]
        before, _ = padding_amounts(size, window, stride, self.padding)
        for i in range(self.output_shape[axis]):
            start = i * stride - before
            lo, hi = max(start, 0), min(start + window, size)
            yield lo, hi - lo

    def reference(self, x: np.ndarray) -> np.ndarray:
        reduce = FUNCTIONS[self.kind][1]
        out = np.zeros(self.output_shape)
        for i, (y0, h) in enumerate(self.windows(0)):
            for j, (x0, w) in enumerate(self.windows(1)):
                out[i, j] = reduce(x[y0:y0 + h, x0:x0 + w].astype(np.float64), axis=(0, 1))
        return out

    def emit(self, sheet: SheetPlan, x: Planar, book: Book, params: Params | None = None) -> Planar:
        name = FUNCTIONS[self.kind][0]
        sheet.line(f"Each cell: the {self.kind} of a {self.pool[0]}×{self.pool[1]} window "
                   "of the same channel in the layer before.", "note", skip=1)
        out = new_planar(sheet, self.output_shape)
        here = sheet.title
        for c, grid in enumerate(out.grids):
            for i, (y0, h) in enumerate(self.windows(0)):
                for j, (x0, w) in enumerate(self.windows(1)):
                    sheet.formula(grid.row + i, grid.col + j, f"{name}({x.window_ref(c, y0, x0, h, w, here)})")
        return out


@dataclass(frozen=True)
class GlobalPool(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kind: str

    @property
    def title(self) -> str:
        return "GlobalMaxPooling2D" if self.kind == "max" else "GlobalAveragePooling2D"

    def describe(self) -> str:
        return f"{self.kind} of each whole channel"

    def reference(self, x: np.ndarray) -> np.ndarray:
        return FUNCTIONS[self.kind][1](x.astype(np.float64), axis=(0, 1))

    def emit(self, sheet: SheetPlan, x: Planar, book: Book, params: Params | None = None) -> Flat:
        name = FUNCTIONS[self.kind][0]
        sheet.line(f"Each cell: the {self.kind} of one whole channel.", "note", skip=1)
        out = new_flat(sheet, self.output_shape, "channel value")
        for c in range(x.channels):
            sheet.formula(out.block.row, out.block.col + c, f"{name}({x.grids[c].ref(sheet.title)})")
        return out


def _check_image(config, shape, reasons) -> None:
    check_channels_last(config, reasons)
    if shape is not None and len(shape) != 3:
        reasons.append(f"its input {tuple(shape)} is not an image (H, W, C)")


@converter("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D")
def pool2d(layer, shape, context: Context) -> Pool2D | None:
    config, reasons = layer.config, []
    _check_image(config, shape, reasons)
    padding = option(config, "padding", "valid")
    if padding not in ("valid", "same"):
        reasons.append(f"padding={padding!r} is not supported (only 'valid' or 'same')")
    pool = whole_pair(config, "pool_size", 2, reasons)
    strides = whole_pair(config, "strides", pool or 2, reasons)
    if not finish(reasons, shape):
        return None
    out = (output_size(shape[0], pool[0], strides[0], padding),
           output_size(shape[1], pool[1], strides[1], padding), shape[2])
    if min(out) < 1:
        raise Unsupported(f"a {pool[0]}×{pool[1]} pool does not fit the {shape_text(shape)} input")
    kind = "max" if layer.class_name.startswith("Max") else "average"
    return Pool2D(layer.name, tuple(shape), out, kind, pool, strides, padding)


@converter("GlobalMaxPooling2D", "GlobalMaxPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D")
def global_pool(layer, shape, context: Context) -> GlobalPool | None:
    config, reasons = layer.config, []
    _check_image(config, shape, reasons)
    if option(config, "keepdims", False):
        reasons.append("keepdims=True is not supported (only False)")
    if not finish(reasons, shape):
        return None
    kind = "max" if "Max" in layer.class_name else "average"
    return GlobalPool(layer.name, tuple(shape), (shape[2],), kind)
