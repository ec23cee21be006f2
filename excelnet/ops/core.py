"""Dense, Flatten, Reshape and softmax: the vector end of the network."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Cells, Flat, Planar, flat_width, ref, units_fit_side_by_side
from ..sheet import ACTIVATIONS, Reference, SheetPlan
from .activations import FIXED, SOFTMAX, Activation, activation
from .base import (Book, Context, Op, OuterProduct, Params, SteppedWeights, Unsupported, WeightCells, block_cells, converter,
                   finish, option, whole)
from .cells import fill_like, new_flat, new_planar, write_values
from .dense_backward import emit_dense_input_gradient
from .grad_cells import like, mirror_weights, place_weights


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return e / e.sum()


def emit_softmax(sheet: SheetPlan, logits: Flat) -> Flat:
    """Numerically stable softmax: subtract the largest value before EXP so it cannot overflow."""
    here = sheet.title
    row = sheet.line("largest value", "label") 
    largest = sheet.rect(row, 2, 1, 1)
    sheet.formula(row, 2, f"MAX({logits.block.ref(here)})")
    block = (logits.block.rows, logits.block.cols)
    exps = new_flat(sheet, logits.shape, "exp(value − largest)", block=block)
    top = largest.ref(here, absolute=True)
    fill_like(sheet, logits, exps, lambda ref, i: f"EXP({ref}-{top})")
    row = sheet.line("sum of exps", "label")
    total = sheet.rect(row, 2, 1, 1)
    sheet.formula(row, 2, f"SUM({exps.block.ref(here)})")
    sheet.next_row += 1
    probs = new_flat(sheet, logits.shape, "probability", block=block)
    fill_like(sheet, exps, probs, lambda ref, i: f"{ref}/{total.ref(here, absolute=True)}")
    return probs


@dataclass(frozen=True)
class Dense(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel: np.ndarray              # (inputs, units)
    bias: np.ndarray | None
    activation: Activation | str    # an Activation, or "softmax"
    title = "Dense"

    def parameter_count(self) -> int:
        return self.kernel.size + (0 if self.bias is None else self.bias.size)

    @property
    def act_name(self) -> str:
        return self.activation if isinstance(self.activation, str) else self.activation.name

    def describe(self) -> str:
        act = "" if self.act_name == "linear" else f", then {self.act_name}"
        return f"{self.kernel.shape[1]} units, each a weighted sum of {self.kernel.shape[0]} inputs{act}"

    def reference(self, x: np.ndarray) -> np.ndarray:
        z = x.astype(np.float64).reshape(-1) @ self.kernel.astype(np.float64)
        if self.bias is not None:
            z = z + self.bias
        return softmax(z) if self.activation == SOFTMAX else self.activation.numpy(z)

    def weight_arrays(self) -> tuple[tuple[str, np.ndarray], ...]:
        kernel = (("kernel", self.kernel),)
        return kernel if self.bias is None else kernel + (("bias", self.bias),)

    def emit(self, sheet: SheetPlan, x: Flat, book: Book, params: Params | None = None) -> Flat:
        units = self.kernel.shape[1]
        kernel = self._emit_kernel(book, x) if params is None else params.arrays[0]
        overlap = None
        if isinstance(kernel, SteppedWeights):
            overlap = self._emit_overlap(sheet, x, kernel)
            if overlap is None:
                sheet.line(f"Each unit: SUMPRODUCT of the {x.size} inputs with its weights (sheet "
                           f"'{kernel.weights.sheet}') − LearningRate × SUMPRODUCT of the inputs with the weights' "
                           f"gradients (sheet '{kernel.grads.sheet}'): that is Σ input × (w − LearningRate × ∂loss/∂w), "
                           "the new weights, plus the new bias.", "note", skip=1)
        else:
            sheet.line(f"Each unit: multiply each of the {x.size} inputs by its own weight (sheet '{kernel.sheet}'), "
                       "add them all up, then add its bias (one SUMPRODUCT).", "note", skip=1)
        row = sheet.line("unit", "label")
        for j in range(units):
            sheet.put(row, 2 + j, j + 1, "label")
        if params is None:
            params = book.record(Params((kernel,) + self._emit_bias(sheet)))
        act = FIXED["linear"] if self.activation == SOFTMAX or self.activation.uses_input > 1 else self.activation
        caption = "value" if act.is_identity else f"{act.name}(value)"
        out = new_flat(sheet, (units,), caption)
        here = sheet.title
        for j in range(units):
            bias = "" if self.bias is None else "+" + params.arrays[1].ref((j,), here, absolute=False)
            pre = f"{self._weighted_sum(x, kernel, j, here, overlap)}{bias}"
            sheet.formula(out.block.row, out.block.col + j, act.formula(pre))
        if self.activation == SOFTMAX:
            return emit_softmax(sheet, out)
        if act is not self.activation:
            final = new_flat(sheet, (units,), f"{self.activation.name}(value)")
            fill_like(sheet, out, final, lambda ref, i: self.activation.formula(ref))
            book.remember_pre_activation(final, out)
            return final
        return out

    @staticmethod
    def _emit_overlap(sheet: SheetPlan, x: Flat, kernel: SteppedWeights) -> "str | None":
        """Σ_i input_i × (the input of the first pass)_i in one cell, when the gradients are
        input × δ and both inputs are laid out alike: each unit then needs only its δ (see
        SteppedWeights.outer). Its reference, or None."""
        outer = kernel.outer
        if outer is None or (outer.inputs.block.rows, outer.inputs.block.cols, outer.inputs.channels,
                             outer.inputs.stacked) != (x.block.rows, x.block.cols, x.channels, x.stacked):
            return None
        here = sheet.title
        sheet.line(f"Each unit's new weight is w − LearningRate × input × δ (sheet '{kernel.grads.sheet}'), so "
                   f"Σ input now × new w = SUMPRODUCT(inputs now, weights on '{kernel.weights.sheet}') − "
                   "LearningRate × δ × (Σ input now × input before the step), the overlap below; plus the new "
                   "bias.", "note", skip=1)
        row = sheet.line("Σ input now × input before the step", "label")
        sheet.formula(row, 4, f"SUMPRODUCT({x.block.ref(here)},{outer.inputs.block.ref(here)})")
        sheet.next_row = row + 2
        return ref(here, row, 4, here, absolute=True)

    @staticmethod
    def _weighted_sum(x: Flat, kernel: "WeightCells | SteppedWeights", j: int, here: str,
                      overlap: "str | None" = None) -> str:
        """Unit j's Σ input × weight; after a step with a kernel no cells hold,
        Σ input × w − rate × Σ input × g (the same sum, w − rate × g, taken apart), or with
        g = input before × δ: Σ input × w − rate × δ_j × `overlap`."""
        inputs = x.block.ref(here)
        if isinstance(kernel, SteppedWeights) and overlap is not None:
            delta = kernel.outer.deltas.flat_ref(j, here)
            return (f"SUMPRODUCT({inputs},{kernel.weights.areas[j].ref(here, absolute=True)})-"
                    f"{kernel.rate_ref(here)}*{delta}*{overlap}")
        if isinstance(kernel, SteppedWeights):
            return (f"SUMPRODUCT({inputs},{kernel.weights.areas[j].ref(here, absolute=True)})-"
                    f"{kernel.rate_ref(here)}*SUMPRODUCT({inputs},{kernel.grads.areas[j].ref(here, absolute=True)})")
        return f"SUMPRODUCT({inputs},{kernel.areas[j].ref(here, absolute=True)})"

    def reads_stepped(self, k: int) -> bool:
        return k == 0          # the kernel: each unit reads its whole block in one SUMPRODUCT

    def _emit_bias(self, sheet: SheetPlan) -> tuple:
        """The biases as one row on the layer sheet, under the unit numbers."""
        if self.bias is None:
            return ()
        units = self.bias.shape[0]
        row = sheet.line("bias", "label")
        biases = write_values(sheet, sheet.rect(row, 2, 1, units), self.bias.reshape(1, units))
        sheet.next_row = row + 1
        return (block_cells(sheet.title, [biases], self.bias.shape, lambda idx: (0, 0, idx[0])),)

    def _emit_kernel(self, book: Book, x: Flat):
        """The kernel on its own sheet, one block per unit shaped like the input block, so
        SUMPRODUCT pairs them up. For a vector input the blocks stack into the familiar
        units x inputs matrix; for a stack of feature maps each unit is a column of small
        pictures, one per channel, like the maps it multiplies, and the units stand side by side."""
        sheet = book.add_sheet(f"{self.name} weights", "weights")
        rows, cols = x.block.rows, x.block.cols
        sheet.line(f"Weights of {self.name}: one block per unit, laid out like its input "
                   "(you may edit them).", "title", skip=1)
        offsets = np.array([x.offset(i) for i in range(x.size)], dtype=np.int32)   # input i -> (row, col)
        units = self.kernel.shape[1]
        if x.channels > 1:
            sheet.line("Each unit has one small picture per channel of the layer before: blue cells "
                       "push the unit up where that channel is bright, orange cells push it down.", "note", skip=1)
        if x.channels > 1 and x.stacked and units_fit_side_by_side(units, cols):
            label_row, top = sheet.next_row, sheet.next_row + 1
            for c in range(x.channels):
                sheet.put(top + c * x.map_height, 1, f"ch {c + 1}", "label")
            corners = [(label_row, top, 2 + j * (cols + 1)) for j in range(units)]
        else:                            # one below the other (also when side by side would not fit)
            if x.channels > 1:
                for c in range(x.channels):
                    sheet.put(sheet.next_row, 2 + c * x.map_width, f"ch {c + 1}", "label")
                sheet.next_row += 1
            step = rows if rows == 1 else rows + 1
            corners = [(sheet.next_row + j * step,) * 2 + (2,) for j in range(units)]
        rects = []
        for j, (label_row, row, col) in enumerate(corners):
            sheet.put(label_row, col if label_row != row else 1, f"unit {j + 1}", "label")
            values = np.zeros((rows, cols))
            values[offsets[:, 0], offsets[:, 1]] = self.kernel[:, j]
            rects.append(write_values(sheet, sheet.rect(row, col, rows, cols), values))
        return block_cells(sheet.title, rects, self.kernel.shape,
                           lambda idx: (idx[1], offsets[idx[0], 0], offsets[idx[0], 1]))

    # --- backward ------------------------------------------------------------------------------

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        x = x.astype(np.float64).reshape(-1)
        kernel = self.kernel.astype(np.float64)
        z = x @ kernel + (0 if self.bias is None else self.bias)
        delta = np.asarray(grad, dtype=np.float64).reshape(-1)
        if self.activation != SOFTMAX:     # a softmax's loss already hands in ∂loss/∂z
            delta = delta * self.activation.derivative_numpy(z)
        weights = (np.outer(x, delta),) + (() if self.bias is None else (delta,))
        return (kernel @ delta).reshape(self.input_shape), weights

    def emit_backward(self, sheet: SheetPlan, x: Flat, out: Flat, grad: Flat, params: Params,
                      book: Book) -> tuple[Cells, tuple[WeightCells, ...]]:
        """δ = ∂loss/∂(weighted sum) per unit; kernel gradient x_i·δ_j laid out like the kernel
        (its own sheet, cell for cell), bias gradient δ_j like the bias, input gradient Σ_j w_ij·δ_j."""
        here, units = sheet.title, self.kernel.shape[1]
        delta = self._emit_delta(sheet, out, grad, book)
        kernel = params.arrays[0]
        gradient_sheet = book.add_sheet(f"{self.name} gradients", "weights")
        gradient_sheet.line(f"Gradients of the weights of {self.name}: ∂loss/∂w = (input of w) × δ of its unit, "
                            "laid out exactly like the weights.", "title", skip=1)
        grad_kernel = mirror_weights(kernel, gradient_sheet, book)
        where = gradient_sheet.title
        inputs = self.kernel.shape[0]
        deltas = [ref(delta.block.sheet, *delta.position(j), where, absolute=True) for j in range(units)]
        # x_i relative, δ absolute: a unit's rows are one formula for LibreOffice (faster)
        texts = [f"{xi}*{dj}" for xi in (x.flat_ref(i, where) for i in range(inputs)) for dj in deltas]
        at = grad_kernel.position_array().reshape(inputs, units, 2)
        x_at = np.array([x.position(i) for i in range(inputs)], np.int64)
        delta_at = np.array([delta.position(j) for j in range(units)], np.int64)
        gradient_sheet.formula_block(at[..., 0], at[..., 1], texts, [
            Reference(x.block.sheet, np.repeat(x_at[:, 0], units), np.repeat(x_at[:, 1], units)),
            Reference(delta.block.sheet, np.tile(delta_at[:, 0], inputs), np.tile(delta_at[:, 1], inputs))])
        book.remember_outer_product(grad_kernel, OuterProduct(x, delta))
        arrays = (grad_kernel,)
        if self.bias is not None:
            sheet.line("bias gradient ∂loss/∂b = δ", "heading")
            grad_bias = place_weights(params.arrays[1], sheet, "bias gradient")
            for j in range(units):
                sheet.formula(*grad_bias.position((j,)), delta.flat_ref(j, here))
            arrays += (grad_bias,)
        return emit_dense_input_gradient(sheet, x, kernel, delta, book), arrays

    def _emit_delta(self, sheet: SheetPlan, out: Flat, grad: Flat, book: Book) -> Flat:
        """∂loss/∂(weighted sum) of each unit: the incoming gradient for a softmax or a linear
        unit, else the incoming gradient × the activation's slope."""
        if self.activation == SOFTMAX or self.activation.is_identity:
            return grad
        act, here = self.activation, sheet.title
        pre = book.pre_activation(out) if act.derivative_needs_input else None
        sheet.line(f"δ = ∂loss/∂(weighted sum) = incoming gradient × slope of {self.activation.name}", "heading")
        delta = new_flat(sheet, (self.kernel.shape[1],), "δ")
        for j in range(self.kernel.shape[1]):
            z = None if pre is None else pre.flat_ref(j, here)
            sheet.formula(*delta.position(j), f"{grad.flat_ref(j, here)}*"
                                              f"{act.derivative_formula(z, out.flat_ref(j, here))}")
        return delta


@dataclass(frozen=True)
class Gather(Op):
    """Flatten and Reshape: the same numbers in Keras' row-major order, in a new shape."""

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    title: str = "Flatten"

    def describe(self) -> str:
        return "the same numbers in one long list (Keras reads them row by row, channel by channel)"

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64).reshape(self.output_shape)

    def emit(self, sheet: SheetPlan, x: Cells, book: Book, params: Params | None = None) -> Cells:
        if len(self.output_shape) >= 2:
            sheet.line("Each cell copies one value of the layer before, in reading order: row by row, "
                       "pixel by pixel, channel by channel.", "note", skip=1)
            out = new_planar(sheet, self.output_shape)
        elif isinstance(x, Planar) and x.channels > 1:
            out = self._maps(sheet, x, stacked=not book.maps_side_by_side)
        else:
            sheet.line("Each cell copies one value of the layer before, in reading order: row by row, "
                       "pixel by pixel.", "note", skip=1)
            rows, cols = flat_width(self.input_shape)
            out = new_flat(sheet, (rows * cols,), None, col=1, block=(rows, cols))
        for i in range(int(np.prod(self.output_shape))):
            sheet.formula(*out.position(i), x.flat_ref(i, sheet.title))
        return out

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        return np.asarray(grad, dtype=np.float64).reshape(self.input_shape), ()

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book) -> tuple[Cells, tuple]:
        sheet.line("∂loss/∂input: each cell copies the gradient of the value it became, back in the "
                   "input's shape.", "note", skip=1)
        grad = book.original(grad)
        grad_x = like(sheet, x, "∂loss/∂input")
        for i in range(int(np.prod(self.input_shape))):
            sheet.formula(*grad_x.position(i), grad.flat_ref(i, sheet.title))
        book.remember_copy(grad_x, grad)          # the layer before reads `grad` itself: a shorter path
        return grad_x, ()


    @staticmethod
    def _maps(sheet: SheetPlan, x: Planar, stacked: bool) -> Flat:
        """The feature maps in one block, so the next layer multiplies all of them with one
        SUMPRODUCT while each channel still reads as a picture: one below the other (`stacked`),
        or side by side (see Book.maps_side_by_side)."""
        sheet.line(f"The feature maps {'one below the other' if stacked else 'side by side'}: now they are one "
                   f"long list of {x.height * x.width * x.channels} numbers, which the next layer reads all at once.",
                   "note")
        sheet.line("(Keras numbers them row by row, and for each pixel channel by channel; "
                   "the pictures here keep each channel together.)", "note", skip=1)
        top = sheet.next_row + (0 if stacked else 1)              # side by side: labels above
        rect = sheet.rect(top, 1, x.height * x.channels, x.width) if stacked else \
            sheet.rect(top, 1, x.height, x.width * x.channels)
        for c in range(x.channels):      # one colour scale per picture, like the grids before
            if stacked:                  # labelled to the right of each picture
                row, col, label = top + c * x.height, 1, (top + c * x.height, x.width + 2)
            else:                        # labelled above it
                row, col, label = top, 1 + c * x.width, (top - 1, 1 + c * x.width)
            sheet.put(*label, f"ch {c + 1}", "label")
            sheet.block(sheet.rect(row, col, x.height, x.width), ACTIVATIONS)
        return Flat((x.height * x.width * x.channels,), rect, x.channels, stacked)


@converter("Flatten")
def flatten(layer, shape, context: Context) -> Gather | None:
    reasons = []
    if (layer.config.get("data_format") or "channels_last") != "channels_last":
        reasons.append("data_format='channels_first' is not supported (only channels_last)")
    if not finish(reasons, shape):
        return None
    return Gather(layer.name, tuple(shape), (int(np.prod(shape)),), "Flatten")


@converter("Reshape")
def reshape(layer, shape, context: Context) -> Gather | None:
    target = option(layer.config, "target_shape", [])
    reasons = []
    sizes_ok = isinstance(target, list) and all(isinstance(d, int) and not isinstance(d, bool) and
                                                (d >= 1 or d == -1) for d in target) and target.count(-1) <= 1
    if not sizes_ok:
        reasons.append(f"target_shape={target!r} is not a list of whole sizes (one of them may be -1)")
    elif len(target) not in (1, 2, 3):
        reasons.append(f"target_shape={tuple(target)} is not supported (only 1-D vectors and 2-D/3-D images)")
    if not finish(reasons, shape):
        return None
    target, size = list(target), int(np.prod(shape))
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = size // known
    if int(np.prod(target)) != size:
        raise Unsupported(f"{tuple(shape)} cannot be reshaped into {tuple(target)}")
    return Gather(layer.name, tuple(shape), tuple(int(d) for d in target), "Reshape")


@converter("Dense")
def dense(layer, shape, context: Context) -> Dense | None:
    reasons = []
    try:
        act = activation(layer.config.get("activation"), context.keras2)
    except Unsupported as error:
        reasons.extend(error.reasons)
    if shape is not None and len(shape) != 1:
        reasons.append(f"Dense on a {len(shape)}-D input {tuple(shape)} is not supported (add a Flatten before it)")
    whole(layer.config, "units", None, reasons)
    if not finish(reasons, shape):
        return None
    kernel = layer.weights[0]                 # checked against the input and units (ops/weights.py)
    bias = layer.weights[1] if len(layer.weights) > 1 else None
    return Dense(layer.name, tuple(shape), (kernel.shape[1],), kernel, bias, act)
