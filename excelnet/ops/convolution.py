"""Conv2D: one SUMPRODUCT per output cell.

Speed decides the layout (see benchmarks/layouts.py and benchmarks/RESULTS.md): one SUMPRODUCT
over a whole kh x kw x C window recalculates several times faster than one per input channel,
so window and filter must each be one contiguous block, in the same order. LibreOffice stores
a sheet column by column, and a range costs about as much per column it spans as per cell it
holds, so both blocks are tall and narrow: C·kh rows × kw columns.

- The filter is the block a student reads and edits: C small kh x kw pictures, one below the
  other (input channel c at rows c·kh …). The formulas read these cells directly.
- With several input channels, the input is copied once into *bands*, one per output row y:
  band y holds, for each channel c, the kh input rows that output row's windows cover (rows
  c·kh + i), across the whole width. A window is then kw columns of one band.
- The output is planar: every channel is a picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..layout import Cells, Planar, Rect, arrange
from ..sheet import SWITCH, SheetPlan, mark
from ..templates import formula_templates
from .activations import FIXED, SOFTMAX, Activation, activation
from .base import (Book, Context, Op, Params, Unsupported, WeightCells, block_cells, check_channels_last,
                   converter, finish, option, whole, whole_pair)
from .cells import copy_cells, fill_like, new_planar, shape_text, turned, write_values
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
        step = ("moving 1 cell at a time" if self.strides == (1, 1)
                else f"moving {self.strides[0]}×{self.strides[1]} cells at a time")
        edge = "never past the edge" if self.padding == "valid" else "with a border of zeros"
        act = "" if self.activation.is_identity else (", negatives → 0 (relu)" if self.activation.name == "relu"
                                                      else f", then {self.activation.name}")
        return (f"{cout} filters of {kh}×{kw} over {cin} picture(s), {step} (stride), {edge} "
                f"(padding {padding_text(self.padding)}){act}")

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
        act = "" if self.activation.is_identity else (", then turn a negative result into 0 (relu)"
                                                      if self.activation.name == "relu"
                                                      else ", then apply " + self.activation.name)
        sheet.line(f"Each cell: lay a {kh}×{kw} filter over a window of the {cin} picture(s) before, multiply "
                   f"cell by cell, add everything up{' and the bias' if self.bias is not None else ''}{act}.",
                   "note")
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
        given = params is not None
        if params is None:
            params = book.record(self._emit_filters(sheet))
        filters = self._filter_blocks(params.arrays[0])
        biases = [None] * cout if self.bias is None else params.arrays[1].cell_rects()
        source = self._emit_source(sheet, x)
        act = self.activation if pre is out else FIXED["linear"]
        # Weights given: a pass after a step, whose every cell a pixel edit changes (cells.turned).
        self._fill(sheet, pre, source, filters, biases, params.switches, act, every_cell_changes=given)
        return out

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        return emit_conv_backward(self, sheet, x, out, grad, params, book)

    def _emit_filters(self, sheet: SheetPlan) -> Params:
        """Each filter as C small kh x kw pictures one below the other (one per input channel),
        with its 'on' switch and its bias: what a student reads and edits."""
        kh, kw, cin, cout = self.kernel.shape
        sheet.line("Filters (weights you may edit): one small picture per input channel", "heading")
        areas, biases, switches = [], [], []
        for co, (row, col, rect) in enumerate(self.filter_slots(sheet)):
            switches.append(self._value_cell(sheet, row + 1, col, "on", 1, SWITCH))
            if self.bias is not None:
                biases.append(self._value_cell(sheet, row + 1, col + 2, "bias", float(self.bias[co])))
            picture = self.kernel[:, :, :, co].transpose(2, 0, 1).reshape(cin * kh, kw)
            areas.append(write_values(sheet, rect, picture))
        kernel = block_cells(sheet.title, areas, self.kernel.shape,
                             lambda idx: (idx[3], idx[2] * kh + idx[0], idx[1]))
        arrays = (kernel,)
        if self.bias is not None:
            arrays += (block_cells(sheet.title, biases, self.bias.shape, lambda idx: (idx[0], 0, 0)),)
        return Params(arrays, tuple(switches))

    def filter_slots(self, sheet: SheetPlan, noun: str = "filter") -> list[tuple[int, int, Rect]]:
        """Room for each filter (or its gradient), in a wrapped grid from the sheet's next row:
        (title row, left column, picture). Writes the titles and, with several input channels,
        'in c' to the right of each channel's picture. The row below the title is left for the
        switch and the bias (four cells)."""
        kh, kw, cin, cout = self.kernel.shape
        labels = 1 if cin > 1 else 0
        first, slots = sheet.next_row, []
        for co, (dr, dc) in enumerate(arrange(cout, 3 + cin * kh, max(kw + labels, 4))):
            row, col = first + dr, 1 + dc
            sheet.put(row, col, f"{noun} {co + 1}", "label")
            for c in range(cin if labels else 0):
                sheet.put(row + 2 + c * kh, col + kw, f"in {c + 1}", "label")
            slots.append((row, col, sheet.rect(row + 2, col, cin * kh, kw)))
        return slots

    def _filter_blocks(self, kernel: WeightCells) -> list[Rect]:
        """Each filter's block (C·kh rows × kw columns, row = c·kh + i), as SUMPRODUCT pairs it
        with a window: the pictures themselves, or a copy laid out like them (the Step sheet's)."""
        kh, kw, cin, cout = self.kernel.shape
        assert [(a.rows, a.cols) for a in kernel.areas] == [(cin * kh, kw)] * cout
        assert kernel.position((kh - 1, kw - 1, cin - 1, 0)) == (kernel.areas[0].bottom, kernel.areas[0].right)
        return list(kernel.areas)

    @staticmethod
    def _value_cell(sheet: SheetPlan, row: int, col: int, label: str, value: float, role="weights") -> Rect:
        sheet.put(row, col, label, "label")
        sheet.put(row, col + 1, value, "weight")
        return sheet.block(sheet.rect(row, col + 1, 1, 1), role)

    def _emit_source(self, sheet: SheetPlan, x: Planar) -> "Callable[[int, int], Rect]":
        """Where the window of output cell (y, x) is read: window(y, x) -> the block it covers."""
        kh, kw, cin, _ = self.kernel.shape
        sh, sw = self.strides
        if cin == 1:
            grid = self._copy_padded(sheet, x) if any(self.pads) else x.grids[0]
            return lambda y, xo: Rect(grid.sheet, grid.row + y * sh, grid.col + xo * sw, kh, kw)
        bands = self._copy_bands(sheet, x)
        return lambda y, xo: Rect(bands[y].sheet, bands[y].row, bands[y].col + xo * sw, cin * kh, kw)

    def _copy_padded(self, sheet: SheetPlan, x: Planar) -> Rect:
        """The one input picture with a border of zeros."""
        top, bottom, left, right = self.pads
        sheet.line("The picture before, copied with a border of zeros (padding)", "heading")
        rect = sheet.rect(sheet.next_row, 1, x.height + top + bottom, x.width + left + right)
        self._copy_rows(sheet, x, [(0, yy - top, rect.row + yy, rect.col) for yy in range(rect.rows)])
        return sheet.block(rect, "activations")

    def _copy_bands(self, sheet: SheetPlan, x: Planar) -> list[Rect]:
        """One band per output row y, one below the other (an empty row between): row c·kh + i is
        input channel c's row y·sh + i − top, across the padded width."""
        top, bottom, left, right = self.pads
        kh, kw, cin, _ = self.kernel.shape
        sh = self.strides[0]
        border = " (with a border of zeros: padding)" if any(self.pads) else ""
        sheet.line(f"The pictures before, copied{border} as one band per output row: the {kh} rows that row's "
                   f"windows cover, of each of the {cin} pictures one below the other like the filter "
                   "pictures, so that one formula reads a whole window at once", "heading")
        first, bands, rows = sheet.next_row, [], []
        for y in range(self.output_shape[0]):
            rect = sheet.rect(first + y * (cin * kh + 1), 1, cin * kh, x.width + left + right)
            rows += [(c, y * sh + i - top, rect.row + c * kh + i, rect.col) for c in range(cin) for i in range(kh)]
            bands.append(rect)
        self._copy_rows(sheet, x, rows)
        for rect in bands:
            sheet.block(rect, "activations")
        return bands

    def _copy_rows(self, sheet: SheetPlan, x: Planar, rows: list[tuple[int, int, int, int]]) -> None:
        """For each (c, y, row, col): input row y of channel c (zeros outside the input: the
        padding) into the sheet's row `row`, from column `col`, with the left and right borders
        of zeros. One formula block: the evaluator needs not read 10^3 copies back from text."""
        _, _, left, right = self.pads
        targets, sources = [], []
        for c, y, row, col in rows:
            for xx in range(x.width + left + right):
                xi = xx - left
                if 0 <= y < x.height and 0 <= xi < x.width:
                    targets.append((row, col + xx))
                    sources.append(Rect(x.grids[c].sheet, x.grids[c].row + y, x.grids[c].col + xi, 1, 1))
                else:
                    sheet.put(row, col + xx, 0)
        copy_cells(sheet, targets, sources)

    def _fill(self, sheet, out: Planar, window, filters, biases, switches, act, every_cell_changes=False) -> None:
        """Every output cell: act((SUMPRODUCT(window, filter) + bias) × switch); `window(y, x)` is
        the Rect the output cell (y, x) reads, `biases` Rects (or None), written in two forms by
        the row (turned)."""
        rows, cols = np.indices((out.height, out.width)).reshape(2, -1)
        which = np.array([turned(y, every_cell_changes) for y in rows.tolist()], np.int64)
        windows = [window(y, xo) for y, xo in zip(rows.tolist(), cols.tolist())]
        for co, grid in enumerate(out.grids):
            bias = "" if biases[co] is None else "+" + mark("bias")
            templates = [act.formula(f"(SUMPRODUCT({first},{second}){bias})*{mark('switch')}")
                         for first, second in ((mark("window"), mark("kernel")), (mark("kernel"), mark("window")))]
            formula_templates(sheet, grid.row + rows, grid.col + cols, templates, which,
                              {"window": windows, "kernel": filters[co], "bias": biases[co], "switch": switches[co]})


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
