"""Conv2D: one SUMPRODUCT per output cell.

Speed decides the layout (see benchmarks/layouts.py): the input is read from a
*channel-interleaved* block (rows = y, columns = x*C + c) so that a whole
kh x kw x C window is one contiguous range, and each filter is stored the same
way. One SUMPRODUCT per cell recalculates several times faster than one per
input channel. The output is still planar, so every channel reads as a picture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Cells, Planar, Rect, arrange
from ..sheet import SWITCH, SheetPlan
from .activations import FIXED, SOFTMAX, Activation, activation
from .base import (Book, Context, Op, Params, Unsupported, WeightCells, block_cells, check_channels_last,
                   converter, finish, option, whole, whole_pair)
from .cells import fill_like, new_planar, shape_text, write_values
from .convolution_backward import emit_conv_backward
from ..shapes import on_axis, output_size, padding_amounts, padding_text, parse_padding


@dataclass(frozen=True)
class Conv2D(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel: np.ndarray            # (kh, kw, C_in, C_out)
    bias: np.ndarray | None       # (C_out,)
    strides: tuple[int, int]
    padding: object               # 'valid', 'same' or ((top, bottom), (left, right))
    activation: Activation
    title = "Conv2D"

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero padding."""
        (kh, kw), (sh, sw) = self.kernel.shape[:2], self.strides
        top, bottom = padding_amounts(self.input_shape[0], kh, sh, on_axis(self.padding, 0))
        left, right = padding_amounts(self.input_shape[1], kw, sw, on_axis(self.padding, 1))
        return top, bottom, left, right

    def parameter_count(self) -> int:
        return self.kernel.size + (0 if self.bias is None else self.bias.size)

    def describe(self) -> str:
        kh, kw, cin, cout = self.kernel.shape
        act = "" if self.activation.is_identity else f", then {self.activation.name}"
        return f"{cout} filters of {kh}×{kw}×{cin}, stride {self.strides[0]}×{self.strides[1]}, padding {padding_text(self.padding)}{act}"

    def _patches(self, x: np.ndarray):
        """(i, j, the input values kernel tap (i, j) meets at every output position, as a view
        into the zero-padded input) for every tap; and that padded input."""
        top, bottom, left, right = self.pads
        padded = np.pad(x.astype(np.float64), ((top, bottom), (left, right), (0, 0)))
        kh, kw = self.kernel.shape[:2]
        (sh, sw), (ho, wo) = self.strides, self.output_shape[:2]
        taps = [(i, j, (slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)))
                for i in range(kh) for j in range(kw)]
        return padded, taps

    def _pre_activation(self, x: np.ndarray) -> np.ndarray:
        padded, taps = self._patches(x)
        out = np.zeros(self.output_shape)
        for i, j, window in taps:
            out += padded[window] @ self.kernel[i, j].astype(np.float64)
        if self.bias is not None:
            out += self.bias
        return out

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.activation.numpy(self._pre_activation(x))

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        delta = grad * self.activation.derivative_numpy(self._pre_activation(x))
        padded, taps = self._patches(x)
        kernel = self.kernel.astype(np.float64)
        d_padded, d_kernel = np.zeros_like(padded), np.zeros_like(kernel)
        for i, j, window in taps:
            d_kernel[i, j] = np.einsum("yxc,yxf->cf", padded[window], delta)
            d_padded[window] += delta @ kernel[i, j].T
        top, _, left, _ = self.pads
        height, width = self.input_shape[:2]
        d_x = d_padded[top:top + height, left:left + width]
        return d_x, (d_kernel,) if self.bias is None else (d_kernel, delta.sum(axis=(0, 1)))

    def weight_arrays(self) -> tuple[tuple[str, np.ndarray], ...]:
        kernel = (("kernel", self.kernel),)
        return kernel if self.bias is None else kernel + (("bias", self.bias),)

    def emit(self, sheet: SheetPlan, x: Cells, book: Book, params: Params | None = None) -> Planar:
        kh, kw, cin, cout = self.kernel.shape
        sheet.line(f"Each cell: multiply a {kh}×{kw} window of all {cin} input channel(s) "
                   f"by a filter, add everything up{' and the bias' if self.bias is not None else ''}"
                   f"{'' if self.activation.is_identity else ', then apply ' + self.activation.name}.", "note")
        sheet.line("Switch a filter off by setting its 'on' cell to 0.", "note", skip=1)
        sheet.line("Feature maps", "heading")
        out = new_planar(sheet, self.output_shape)
        pre = out
        if self.activation.uses_input > 1:
            # The activation repeats its input: compute the sum once, in its own cells.
            sheet.line(f"Before the {self.activation.name} activation", "heading")
            pre = new_planar(sheet, self.output_shape)
            fill_like(sheet, pre, out, lambda ref, c: self.activation.formula(ref))
            book.remember_pre_activation(out, pre)
        if params is None:
            params = book.record(self._emit_filters(sheet))
        filters = self._interleaved_filters(sheet, params.arrays[0])
        biases = [None] * cout if self.bias is None else [params.arrays[1].ref((co,), sheet.title)
                                                          for co in range(cout)]
        source = self._emit_source(sheet, x)
        act = self.activation if pre is out else FIXED["linear"]
        self._fill(sheet, pre, source, filters, biases, params.switches, act)
        return out

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        return emit_conv_backward(self, sheet, x, out, grad, params, book)

    def _emit_filters(self, sheet: SheetPlan) -> Params:
        """Each filter as C small kh x kw pictures side by side (one per input channel), with its
        'on' switch and its bias: what a student reads and edits."""
        kh, kw, cin, cout = self.kernel.shape
        sheet.line("Filters (weights you may edit): one small picture per input channel", "heading")
        top = sheet.next_row
        heading = 1 if cin > 1 else 0
        areas, biases, switches = [], [], []
        for co, (dr, dc) in enumerate(arrange(cout, kh + 3 + heading, max(kw * cin, 4))):
            row, col = top + dr, 1 + dc
            sheet.put(row, col, f"filter {co + 1}", "label")
            switches.append(self._value_cell(sheet, row + 1, col, "on", 1, SWITCH))
            if self.bias is not None:
                biases.append(self._value_cell(sheet, row + 1, col + 2, "bias", float(self.bias[co])))
            for c in range(cin if heading else 0):
                sheet.put(row + 2, col + c * kw, f"in {c + 1}", "label")
            rect = sheet.rect(row + 2 + heading, col, kh, kw * cin)
            picture = self.kernel[:, :, :, co].transpose(0, 2, 1).reshape(kh, cin * kw)
            areas.append(write_values(sheet, rect, picture))
        kernel = block_cells(sheet.title, areas, self.kernel.shape,
                             lambda idx: (idx[3], idx[0], idx[2] * kw + idx[1]))
        arrays = (kernel,)
        if self.bias is not None:
            arrays += (block_cells(sheet.title, biases, self.bias.shape, lambda idx: (idx[0], 0, 0)),)
        return Params(arrays, tuple(switches))

    def _interleaved_filters(self, sheet: SheetPlan, kernel: WeightCells) -> list[Rect]:
        """Each filter in the order the input block is read (column = x·C + c), so one SUMPRODUCT
        pairs a window with it. With one input channel that is the picture itself; otherwise a
        block of formulas copies the pictures' numbers into that order."""
        kh, kw, cin, cout = self.kernel.shape
        if cin == 1:
            return list(kernel.areas)
        sheet.line("The same filters arranged for the computation (formulas: column = x·C + c)", "heading")
        top, here, rects = sheet.next_row, sheet.title, []
        for co, (dr, dc) in enumerate(arrange(cout, kh, kw * cin)):
            rect = sheet.block(sheet.rect(top + dr, 1 + dc, kh, kw * cin), "weights")
            for i in range(kh):
                for j in range(kw):
                    for c in range(cin):
                        sheet.formula(rect.row + i, rect.col + j * cin + c, kernel.ref((i, j, c, co), here))
            rects.append(rect)
        return rects

    @staticmethod
    def _value_cell(sheet: SheetPlan, row: int, col: int, label: str, value: float, role="weights") -> Rect:
        sheet.put(row, col, label, "label")
        sheet.put(row, col + 1, value, "weight")
        return sheet.block(sheet.rect(row, col + 1, 1, 1), role)

    def _emit_source(self, sheet: SheetPlan, x: Planar) -> Rect:
        """The input as one interleaved block, zero-padded; the input itself when it already is."""
        top, bottom, left, right = self.pads
        height, width, cin = x.height, x.width, x.channels
        if cin == 1 and not any(self.pads):
            return x.grids[0]
        sheet.line("Input arranged for the filters: padding zeros around, channels side by side "
                   "(column = x·C + c)", "heading")
        rect = sheet.rect(sheet.next_row, 1, height + top + bottom, (width + left + right) * cin)
        here = sheet.title
        for yy in range(rect.rows):
            for xx in range(width + left + right):
                for c in range(cin):
                    y, xi = yy - top, xx - left
                    inside = 0 <= y < height and 0 <= xi < width
                    cell = (rect.row + yy, rect.col + xx * cin + c)
                    if inside:
                        sheet.formula(*cell, x.cell_ref(y, xi, c, here))
                    else:
                        sheet.put(*cell, 0)
        return sheet.block(rect, "activations")

    def _fill(self, sheet, out: Planar, source: Rect, filters, biases, switches, act) -> None:
        kh, kw, cin, _ = self.kernel.shape
        (sh, sw), here = self.strides, sheet.title
        for co, grid in enumerate(out.grids):
            kernel = filters[co].ref(here, absolute=True)
            bias = "" if biases[co] is None else "+" + biases[co]
            switch = switches[co].ref(here, absolute=True)
            for y in range(out.height):
                for xo in range(out.width):
                    window = source.sub_ref(y * sh, xo * sw * cin, kh, kw * cin, here)
                    pre = f"(SUMPRODUCT({window},{kernel}){bias})*{switch}"
                    sheet.formula(grid.row + y, grid.col + xo, act.formula(pre))


@converter("Conv2D", "Convolution2D")
def conv2d(layer, shape, context: Context) -> Conv2D | None:
    """The weights were checked against this config and shape before (ops/weights.py)."""
    config, reasons = layer.config, []
    check_channels_last(config, reasons)
    if whole_pair(config, "dilation_rate", 1, reasons) not in ((1, 1), None):
        reasons.append(f"dilation_rate={option(config, 'dilation_rate')} is not supported (only 1)")
    if option(config, "groups", 1) != 1:
        reasons.append(f"groups={config['groups']!r} is not supported (only 1)")
    padding = _padding(config, reasons)
    strides = whole_pair(config, "strides", 1, reasons)
    whole_pair(config, "kernel_size", None, reasons)
    whole(config, "filters", None, reasons)
    act = _conv_activation(config, context, reasons)
    if shape is not None and len(shape) != 3:
        reasons.append(f"its input {tuple(shape)} is not an image (H, W, C)")
    if not finish(reasons, shape):
        return None
    kernel = layer.weights[0]
    bias = layer.weights[1] if len(layer.weights) > 1 else None
    kh, kw = kernel.shape[:2]
    out_shape = (output_size(shape[0], kh, strides[0], on_axis(padding, 0)),
                 output_size(shape[1], kw, strides[1], on_axis(padding, 1)), kernel.shape[3])
    if min(out_shape) < 1:
        raise Unsupported(f"a {kh}×{kw} kernel does not fit the {shape_text(shape)} input")
    return Conv2D(layer.name, tuple(shape), out_shape, kernel, bias, strides, padding, act)


def _padding(config, reasons):
    """'valid', 'same', or explicit ((top, bottom), (left, right)) zeros (what ONNX/PyTorch files carry)."""
    try:
        return parse_padding(option(config, "padding", "valid"))
    except ValueError as error:
        reasons.append(str(error))
        return "valid"


def _conv_activation(config, context, reasons) -> Activation | None:
    try:
        act = activation(config.get("activation"), context.keras2)
    except Unsupported as error:
        reasons.extend(error.reasons)
        return None
    if act == SOFTMAX:
        reasons.append("a softmax activation on a feature map is not supported (only on vectors)")
        return None
    return act
