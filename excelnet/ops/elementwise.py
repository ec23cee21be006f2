"""Layers that change each number on its own: activations, batch norm, rescaling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..layout import Cells, Flat, Rect
from ..sheet import WEIGHTS, SheetPlan
from .activations import SOFTMAX, Activation, activation, elu, leaky_relu, relu
from .backward import channel_range, fill_elements, times_derivative
from .base import (Book, Params, block_cells, Context, Op, Unsupported, converter, finish, number,
                   option)
from .cells import fill_like, new_flat, new_planar, parameter_table, same_layout, write_values
from .core import emit_softmax, softmax


@dataclass(frozen=True)
class ActivationOp(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    activation: Activation
    title: str = "Activation"

    def describe(self) -> str:
        return f"{self.activation.name} of each value"

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.activation.numpy(x.astype(np.float64))

    def emit(self, sheet: SheetPlan, x: Cells, book: Book, params: Params | None = None) -> Cells:
        sheet.line(f"Each cell: {self.activation.formula('x')}, where x is the same cell "
                   "in the layer before.", "note", skip=1)
        out = same_layout(sheet, x, self.activation.name)
        fill_like(sheet, x, out, lambda ref, i: self.activation.formula(ref))
        return out

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        return grad * self.activation.derivative_numpy(x), ()

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        act = self.activation
        source = "input" if act.derivative_needs_input else "output"
        sheet.line(f"∂loss/∂input = ∂loss/∂output × {act.name}′, from this layer's {source}: "
                   f"{act.derivative_formula('x', 'a')}", "heading")
        d_x = same_layout_gradient(sheet, x)
        fill_elements(sheet, d_x, [grad, x, out], lambda refs, i: times_derivative(act, *refs))
        return d_x, ()


def same_layout_gradient(sheet: SheetPlan, x: Cells) -> Cells:
    """A block for ∂loss/∂x placed like x, coloured like weights (signed)."""
    if isinstance(x, Flat):
        return new_flat(sheet, x.shape, "∂loss/∂input", role=WEIGHTS, block=(x.block.rows, x.block.cols))
    return new_planar(sheet, x.shape, role=WEIGHTS)


@dataclass(frozen=True)
class SoftmaxOp(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    title: str = "Softmax"

    def describe(self) -> str:
        return "softmax: exp of each value over the sum of all exps"

    def reference(self, x: np.ndarray) -> np.ndarray:
        return softmax(x.astype(np.float64))

    def emit(self, sheet: SheetPlan, x: Flat, book: Book, params: Params | None = None) -> Flat:
        sheet.line("Softmax turns scores into probabilities that add up to 1.", "note", skip=1)
        return emit_softmax(sheet, x)

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        """The loss hands in ∂loss/∂(values before the softmax) (p − onehot): it passes through."""
        return np.asarray(grad, dtype=np.float64), ()

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        return grad, ()


@dataclass(frozen=True)
class AffineOp(Op):
    """x * scale + offset per channel: BatchNormalization at inference, Rescaling."""

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    table: tuple[tuple[str, np.ndarray], ...]   # named parameter rows shown as cells
    epsilon: float | None = None                 # BatchNormalization only
    title: str = "BatchNormalization"
    weight_rows: tuple[str, ...] = ()            # the rows of `table` that are Keras weights, in order

    def weight_arrays(self) -> tuple[tuple[str, np.ndarray], ...]:
        table = dict(self.table)
        return tuple((name, np.asarray(table[name])) for name in self.weight_rows)

    def _params(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(value, dtype=np.float64) for name, value in self.table}

    def parameter_count(self) -> int:
        return sum(np.size(v) for _, v in self.table)

    def describe(self) -> str:
        if self.epsilon is None:
            return "x × scale + offset"
        return "(x − mean) / √(variance + ε) × gamma + beta"

    def reference(self, x: np.ndarray) -> np.ndarray:
        p, x = self._params(), x.astype(np.float64)
        if self.epsilon is None:
            return x * p["scale"] + p["offset"]
        return (x - p["moving mean"]) / np.sqrt(p["moving variance"] + self.epsilon) * p["gamma"] + p["beta"]

    def emit(self, sheet: SheetPlan, x: Cells, book: Book, params: Params | None = None) -> Cells:
        sheet.line(f"Each cell: {self.describe()}, with the parameters of its channel below.", "note", skip=1)
        names = [name for name, _ in self.table]
        rects = dict(zip(names, parameter_table(sheet, names, [v for _, v in self.table])))
        if params is None:
            params = book.record(Params(tuple(
                block_cells(sheet.title, [rects[name]], np.shape(value), lambda idx: (0, 0, idx[0]))
                for name, value in self.weight_arrays())))
        for name, cells in zip(self.weight_rows, params.arrays):
            rects[name] = cells.areas[0]
        eps = None
        if self.epsilon is not None:
            row = sheet.line("epsilon", "label")
            sheet.put(row, 2, float(self.epsilon), "weight")
            eps = sheet.block(sheet.rect(row, 2, 1, 1), "weights").ref(sheet.title, absolute=True)
        channels = x.shape[-1]                 # Keras' channel axis: the last one
        out = same_layout(sheet, x, "value")
        here = sheet.title

        def param(name: str, i: int) -> str:
            rect = rects[name]
            return rect.cell_ref(0, 0 if rect.cols == 1 else i % channels, here, absolute=True)

        fill_like(sheet, x, out, lambda ref, i: self.formula(ref, lambda name: param(name, i), eps))
        return out

    def formula(self, ref: str, param, eps: str | None) -> str:
        """One cell's formula; `param(name)` is the reference to that parameter of its channel."""
        if self.epsilon is None:
            return f"{ref}*{param('scale')}+{param('offset')}"
        return (f"({ref}-{param('moving mean')})/SQRT({param('moving variance')}+{eps})"
                f"*{param('gamma')}+{param('beta')}")


    # --- backward ------------------------------------------------------------------------------

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        p, x, grad = self._params(), x.astype(np.float64), np.asarray(grad, dtype=np.float64)
        axes = tuple(range(x.ndim - 1))            # every axis but the channel axis
        if self.epsilon is None:
            return grad * p["scale"], ()
        inv = 1 / np.sqrt(p["moving variance"] + self.epsilon)
        scale = p["gamma"] * inv
        sum_g, sum_g_xhat = grad.sum(axis=axes), (grad * (x - p["moving mean"]) * inv).sum(axis=axes)
        grads = {"gamma": sum_g_xhat, "beta": sum_g, "moving mean": -scale * sum_g,
                 "moving variance": -0.5 * p["gamma"] * inv ** 2 * sum_g_xhat}
        return grad * scale, tuple(grads[name] for name in self.weight_rows)

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        if self.epsilon is None:
            return self._emit_rescaling_backward(sheet, x, grad), ()
        return self._emit_norm_backward(sheet, x, grad, params)

    def _emit_rescaling_backward(self, sheet: SheetPlan, x: Cells, grad: Cells) -> Cells:
        return self._emit_per_channel_backward(sheet, x, grad, "scale", "*", "×")

    def _emit_per_channel_backward(self, sheet: SheetPlan, x: Cells, grad: Cells, name: str,
                                   operator: str, sign: str) -> Cells:
        """∂loss/∂input = ∂loss/∂output (operator) the table row `name` of the input's channel,
        that row shown as numbers above the gradient (Rescaling: × scale; Normalize: ÷ std)."""
        sheet.line(f"∂loss/∂input = ∂loss/∂output {sign} {name} (the {name} of the input's channel, below)",
                   "heading")
        row = sheet.line(name, "label")
        values = np.atleast_1d(dict(self.table)[name]).astype(np.float64)
        rect = write_values(sheet, sheet.rect(row, 2, 1, values.size), values)
        sheet.next_row = row + 2
        d_x = same_layout_gradient(sheet, x)
        here = sheet.title
        fill_elements(sheet, d_x, [grad], lambda refs, c: (
            f"{refs[0]}{operator}{rect.cell_ref(0, 0 if values.size == 1 else c, here, absolute=True)}"))
        return d_x

    def _emit_norm_backward(self, sheet: SheetPlan, x: Cells, grad: Cells, params: Params):
        """Per channel: 1/√(variance+ε), the scale gamma/√(variance+ε), Σ g, Σ g·x̂ (x̂ the
        normalised input); the weights' gradients are rows of these, ∂loss/∂input = g × scale."""
        here, channels = sheet.title, x.shape[-1]
        weights = dict(zip(self.weight_rows, params.arrays))
        sheet.line("Per channel (one column each), with x̂ = (x − mean)/√(variance + ε):", "heading")
        row = sheet.line("epsilon", "label")
        sheet.put(row, 2, float(self.epsilon), "weight")
        eps = sheet.block(sheet.rect(row, 2, 1, 1), WEIGHTS).ref(here, absolute=True)
        sheet.next_row = row + 1

        def param(name: str, c: int) -> str | None:
            return weights[name].ref((c,), here) if name in weights else None

        rows: dict[str, Rect] = {}

        def table_row(key: str, label: str, formula) -> None:
            r = sheet.line(label, "label")
            rows[key] = sheet.block(sheet.rect(r, 2, 1, channels), WEIGHTS)
            sheet.next_row = r + 1
            for c in range(channels):
                sheet.formula(r, 2 + c, formula(c))

        def cell(key: str, c: int) -> str:
            return rows[key].cell_ref(0, c, here)

        def gamma_times(c: int, text: str) -> str:
            return text if param("gamma", c) is None else f"{param('gamma', c)}*{text}"

        table_row("inv", "1/√(variance + ε)", lambda c: f"1/SQRT({param('moving variance', c)}+{eps})")
        table_row("scale", "gamma/√(variance + ε)", lambda c: gamma_times(c, cell("inv", c)))
        table_row("beta", "∂loss/∂beta = Σ ∂loss/∂output", lambda c: f"SUM({channel_range(grad, c, here)})")
        table_row("gamma", "∂loss/∂gamma = Σ ∂loss/∂output × x̂", lambda c: (
            f"(SUMPRODUCT({channel_range(grad, c, here)},{channel_range(x, c, here)})"
            f"-{param('moving mean', c)}*{cell('beta', c)})*{cell('inv', c)}"))
        table_row("moving mean", "∂loss/∂moving mean = −scale × Σ ∂loss/∂output",
                  lambda c: f"-{cell('scale', c)}*{cell('beta', c)}")
        table_row("moving variance", "∂loss/∂moving variance = −½ gamma/(variance + ε) × Σ ∂loss/∂output × x̂",
                  lambda c: f"-0.5*{gamma_times(c, cell('inv', c) + '^2')}*{cell('gamma', c)}")
        sheet.next_row += 1
        sheet.line("∂loss/∂input = ∂loss/∂output × scale", "heading")
        d_x = same_layout_gradient(sheet, x)
        fill_elements(sheet, d_x, [grad], lambda refs, c: f"{refs[0]}*{rows['scale'].cell_ref(0, c, here, absolute=True)}")
        return d_x, tuple(weights[name].moved([rows[name]]) for name in self.weight_rows)


@dataclass(frozen=True)
class NormalizeOp(AffineOp):
    """(x − mean) / std per channel: the normalisation a PyTorch model expects of its input
    (excelnet build --normalize), or a division by a constant inside an ONNX graph."""

    title: str = "Normalize"

    def describe(self) -> str:
        return "(x − mean) / std"

    def reference(self, x: np.ndarray) -> np.ndarray:
        p = self._params()
        return (x.astype(np.float64) - p["mean"]) / p["std"]

    def formula(self, ref: str, param, eps: str | None) -> str:
        return f"({ref}-{param('mean')})/{param('std')}"

    # --- backward: ∂/∂x of (x − mean)/std is 1/std --------------------------------------------

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        return np.asarray(grad, dtype=np.float64) / self._params()["std"], ()

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        return self._emit_per_channel_backward(sheet, x, grad, "std", "/", "÷"), ()



def _elementwise(layer, shape, act: Activation, title: str) -> ActivationOp | None:
    if shape is None:
        return None
    return ActivationOp(layer.name, tuple(shape), tuple(shape), act, title)


@converter("Activation")
def activation_layer(layer, shape, context: Context):
    act = activation(layer.config.get("activation"), context.keras2)
    if act == SOFTMAX:
        return softmax_layer(layer, shape, context)
    return _elementwise(layer, shape, act, "Activation")


@converter("ReLU")
def relu_layer(layer, shape, context: Context):
    config, reasons = layer.config, []
    max_value = number(config, "max_value", None, reasons, optional=True)
    slope = number(config, "negative_slope", 0.0, reasons)
    threshold = number(config, "threshold", 0.0, reasons)
    if max_value is not None and max_value < 0:
        reasons.append(f"max_value={max_value!r} is negative")
    if not finish(reasons, shape):
        return None
    return _elementwise(layer, shape, relu(max_value, slope, threshold), "ReLU")


@converter("LeakyReLU")
def leaky_relu_layer(layer, shape, context: Context):
    reasons = []
    key = "negative_slope" if "negative_slope" in layer.config else "alpha"    # Keras 2 calls it alpha
    slope = number(layer.config, key, 0.3, reasons)
    if not finish(reasons, shape):
        return None
    return _elementwise(layer, shape, leaky_relu(slope), "LeakyReLU")


@converter("ELU")
def elu_layer(layer, shape, context: Context):
    reasons = []
    alpha = number(layer.config, "alpha", 1.0, reasons)
    if not finish(reasons, shape):
        return None
    return _elementwise(layer, shape, elu(alpha), "ELU")


@converter("Softmax")
def softmax_layer(layer, shape, context: Context):
    axis = option(layer.config, "axis", -1)
    reasons = []
    if shape is not None and len(shape) != 1:
        reasons.append(f"softmax over a {len(shape)}-D tensor {tuple(shape)} is not supported (only over vectors)")
    if axis not in (-1, [-1], 1, [1]):
        reasons.append(f"axis={axis} is not supported (only the last axis)")
    if not finish(reasons, shape):
        return None
    return SoftmaxOp(layer.name, tuple(shape), tuple(shape))


@converter("BatchNormalization")
def batch_norm(layer, shape, context: Context):
    config, reasons = layer.config, []
    axis = config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if shape is not None and axis not in (-1, len(shape)):
        reasons.append(f"axis={axis} is not supported (only the last, channel axis)")
    epsilon = number(config, "epsilon", 1e-3, reasons)
    if epsilon is not None and epsilon < 0:
        reasons.append(f"epsilon={epsilon!r} is negative")
    if not finish(reasons, shape):
        return None
    channels = shape[-1]
    weights = list(layer.weights)             # checked: one value per channel (ops/weights.py)
    gamma = weights.pop(0) if option(config, "scale", True) else np.ones(channels)
    beta = weights.pop(0) if option(config, "center", True) else np.zeros(channels)
    if not np.all(weights[1].astype(np.float64) + epsilon > 0):
        raise Unsupported("its moving variance plus epsilon is not positive for every channel "
                          "(a square root of it divides each value)")
    table = (("gamma", gamma), ("beta", beta), ("moving mean", weights[0]), ("moving variance", weights[1]))
    present = tuple(name for name, on in (("gamma", option(config, "scale", True)),
                                          ("beta", option(config, "center", True))) if on)
    return AffineOp(layer.name, tuple(shape), tuple(shape), table, epsilon,
                    weight_rows=present + ("moving mean", "moving variance"))


def _plain(value):
    """Keras 3 writes a NumPy array as {"class_name": "__numpy__", "config": {"value": [...]}}."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = (value.get("config") or {}).get("value", value)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    return value


@converter("Rescaling")
def rescaling(layer, shape, context: Context):
    scale, offset = (_plain(layer.config.get(key, default)) for key, default in (("scale", 1.0), ("offset", 0.0)))
    reasons = []
    for name, value in (("scale", scale), ("offset", offset)):
        values = value if isinstance(value, list) else [value]
        if not values or len(values) not in (1, (shape or [len(values)])[-1]) or \
                any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            reasons.append(f"{name}={value!r} is not supported (only a number or one per channel)")
        elif not all(math.isfinite(v) for v in values):
            reasons.append(f"{name}={value!r} is not a finite number")
    if not finish(reasons, shape):
        return None
    table = (("scale", np.atleast_1d(np.asarray(scale, dtype=np.float32))),
             ("offset", np.atleast_1d(np.asarray(offset, dtype=np.float32))))
    return AffineOp(layer.name, tuple(shape), tuple(shape), table, None, "Rescaling")


@converter("Affine")
def affine(layer, shape, context: Context):
    """A per-channel scale and shift, or (x − mean) / std: element-wise arithmetic with constants
    (what ONNX's Mul/Add/Sub/Div by constants and `excelnet build --normalize` become)."""
    config, reasons = layer.config, []
    keys = ("mean", "std") if "std" in config else ("scale", "offset")
    values = [np.atleast_1d(np.asarray(config.get(key, 1.0 if key in ("scale", "std") else 0.0), dtype=np.float64))
              for key in keys]
    channels = (shape or [0])[-1]
    for key, value in zip(keys, values):
        if value.ndim != 1 or (value.size != 1 and shape is not None and value.size != channels):
            reasons.append(f"{key} has {value.size} values; only one, or one per channel ({channels}), is supported")
    if "std" in config and any(np.any(v == 0) for v in values[1:]):
        reasons.append("std contains a zero")
    if not finish(reasons, shape):
        return None
    table = tuple(zip(keys, values))
    op, title = (NormalizeOp, "Normalize") if keys[0] == "mean" else (AffineOp, "Scale and shift")
    return op(layer.name, tuple(shape), tuple(shape), table, None, str(config.get("title") or title))
