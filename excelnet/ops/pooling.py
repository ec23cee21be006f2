"""Max and average pooling over windows, and their global versions.

A planar channel grid makes each window one contiguous range: =MAX(B5:C6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Flat, Planar
from ..sheet import SheetPlan
from ..shapes import on_axis, output_size, padding_amounts, padding_text, pair, parse_padding, window_span
from .base import Book, Params, Context, Op, Unsupported, check_channels_last, converter, finish, option
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
    padding: object               # 'valid', 'same' or ((top, bottom), (left, right))
    ceil_mode: bool = False       # keep a last, partial window (PyTorch/ONNX)
    count_include_pad: bool = False  # average: divide by the window's size including padding

    @property
    def title(self) -> str:
        return "MaxPooling2D" if self.kind == "max" else "AveragePooling2D"

    def describe(self) -> str:
        extra = ", ceil mode" if self.ceil_mode else ""
        extra += ", padding counted in the average" if self.count_include_pad and self.kind == "average" else ""
        return (f"{self.kind} of each {self.pool[0]}×{self.pool[1]} window, "
                f"stride {self.strides[0]}×{self.strides[1]}, padding {padding_text(self.padding)}{extra}")

    def windows(self, axis: int):
        """(start, length, padded length) of each output position's window along one axis, clipped
        to the input: padding adds no values, so the max or average is over real cells (divided by
        the padded length instead when count_include_pad)."""
        size, window, stride = self.input_shape[axis], self.pool[axis], self.strides[axis]
        before, after = padding_amounts(size, window, stride, on_axis(self.padding, axis))
        for i in range(self.output_shape[axis]):
            yield window_span(i * stride - before, window, size, before, after)

    def _divides(self) -> bool:
        """Whether a window's average is SUM/count with padding counted, not AVERAGE of real cells."""
        return self.kind == "average" and self.count_include_pad

    def reference(self, x: np.ndarray) -> np.ndarray:
        reduce = FUNCTIONS[self.kind][1]
        out = np.zeros(self.output_shape)
        for i, (y0, h, ph) in enumerate(self.windows(0)):
            for j, (x0, w, pw) in enumerate(self.windows(1)):
                window = x[y0:y0 + h, x0:x0 + w].astype(np.float64)
                out[i, j] = window.sum(axis=(0, 1)) / (ph * pw) if self._divides() else reduce(window, axis=(0, 1))
        return out

    def emit(self, sheet: SheetPlan, x: Planar, book: Book, params: Params | None = None) -> Planar:
        name = FUNCTIONS[self.kind][0]
        how = f"the {self.kind}" if not self._divides() else "the sum (padding counts as zeros) divided by the count"
        sheet.line(f"Each cell: {how} of a {self.pool[0]}×{self.pool[1]} window "
                   "of the same channel in the layer before.", "note", skip=1)
        out = new_planar(sheet, self.output_shape)
        here = sheet.title
        for c, grid in enumerate(out.grids):
            for i, (y0, h, ph) in enumerate(self.windows(0)):
                for j, (x0, w, pw) in enumerate(self.windows(1)):
                    window = x.window_ref(c, y0, x0, h, w, here)
                    formula = f"SUM({window})/{ph * pw}" if self._divides() else f"{name}({window})"
                    sheet.formula(grid.row + i, grid.col + j, formula)
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
    try:
        padding = parse_padding(option(config, "padding", "valid"))
    except ValueError as error:
        reasons.append(str(error))
    if not finish(reasons, shape):
        return None
    pool = pair(option(config, "pool_size", 2))
    strides = pair(option(config, "strides", pool))
    ceil_mode = bool(option(config, "ceil_mode", False))
    out = tuple(output_size(shape[a], pool[a], strides[a], on_axis(padding, a), ceil_mode) for a in (0, 1))
    if min(out) < 1:
        raise Unsupported(f"a {pool[0]}×{pool[1]} pool does not fit the {shape_text(shape)} input")
    if not isinstance(padding, str) and any(2 * max(on_axis(padding, a)) > pool[a] for a in (0, 1)):
        raise Unsupported(f"padding {padding_text(padding)} is more than half the {pool[0]}×{pool[1]} window")
    kind = "max" if layer.class_name.startswith("Max") else "average"
    return Pool2D(layer.name, tuple(shape), out + (shape[2],), kind, pool, strides, padding, ceil_mode,
                  bool(option(config, "count_include_pad", False)))


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
