"""Activation functions, each as NumPy (the reference) and as a classic formula.

Every formula is written so no branch can overflow: EXP only ever sees a
number <= 0, because the `formulas` engine evaluates both branches of an IF.
Only functions every spreadsheet has are used: MAX, MIN, IF, EXP, LN, ABS, TANH, ERF.

Each activation also knows its derivative (for the learning sheets), written from the
activation's output where that is possible (a fused activation has no cells holding its
input) and from its input otherwise; those activations all repeat their input
(uses_input > 1), so the layers that apply them keep the input in cells of its own.
At the kinks the derivative is TensorFlow's: relu'(0) = 0, relu6'(6) = 0, ..."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from ..sheet import is_mark
from .base import Unsupported

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# A cell reference (optionally on another sheet) or a plain number: safe to use unbracketed.
_ATOM = re.compile(r"^(('[^']*(''[^']*)*'|[A-Za-z0-9_.]+)!)?\$?[A-Z]{1,3}\$?\d+$|^\d+(\.\d+)?(E[+-]?\d+)?$|^[A-Za-z_]\w*$")


def wrap(x: str) -> str:
    """`x` as an operand: bracketed unless it is a single cell or number.

    An emitter may hand in a whole expression (SUMPRODUCT(...)+bias); without the
    brackets x*0.2 would multiply only the bias."""
    if _ATOM.match(x) or is_mark(x) or _is_call(x):
        return x
    return f"({x})"


def _is_call(x: str) -> bool:
    """FUNC(...) whose closing bracket is the last character, or (...) around everything."""
    match = re.match(r"^[A-Z][A-Z0-9.]*\(|^\(", x)
    if not match or not x.endswith(")"):
        return False
    depth, quoted = 0, False
    for i, ch in enumerate(x):
        if ch == "'" or ch == '"':
            quoted = not quoted
        if quoted:
            continue
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i >= match.end() - 1 and i < len(x) - 1:
            return False
    return True


_SLOT = "XSLOTX"      # stands for the operand while a formula is built once per activation


@dataclass(frozen=True)
class Derivative:
    """f'(x) written from the output a = f(x) (of_output) or from the input x."""

    numpy: Callable[[np.ndarray], np.ndarray]
    template: Callable[[str], str]     # receives a (or x) as an operand
    of_output: bool = True


ONE = Derivative(np.ones_like, lambda v: "1")


@dataclass(frozen=True)
class Activation:
    name: str
    numpy: Callable[[np.ndarray], np.ndarray]
    template: Callable[[str], str]     # receives the input as an operand (a cell, or bracketed)
    uses_input: int = 1                # how often the formula repeats its input
    bare: bool = False                 # the input is only ever a whole function argument: no brackets
    derivative: Derivative | None = None   # None: no backward rule, so --learn refuses the layer

    @property
    def is_identity(self) -> bool:
        return self.name == "linear"

    @property
    def has_derivative(self) -> bool:
        return self.derivative is not None

    @property
    def derivative_needs_input(self) -> bool:
        """True when f' is written from the activation's input (the output does not tell it)."""
        return not self.derivative.of_output

    def formula(self, x: str) -> str:
        """The formula for one value; `x` may be a cell reference or any expression."""
        if self.is_identity:
            return x
        return self.template(x if self.bare else wrap(x))

    def derivative_formula(self, x: str | None, a: str | None) -> str:
        """f' as a formula (an operand: safe to multiply), from the input `x` or the output `a`
        references, whichever derivative_needs_input says (the other may be None)."""
        value = x if self.derivative_needs_input else a
        if value is None:
            raise ValueError(f"the derivative of {self.name} needs the activation's "
                             f"{'input' if self.derivative_needs_input else 'output'}")
        return self._derivative_pattern.replace(_SLOT, wrap(value))

    @cached_property
    def _derivative_pattern(self) -> str:
        """The derivative's formula around a placeholder, bracketed once (tens of thousands of
        cells use it; checking the brackets of each would dominate the build)."""
        return wrap(self.derivative.template(_SLOT))

    def derivative_numpy(self, x: np.ndarray) -> np.ndarray:
        """f'(x) in float64, computed the way the formula does (from the output when it can)."""
        x = np.asarray(x, dtype=np.float64)
        return self.derivative.numpy(x if self.derivative_needs_input else self.numpy(x))


def _num(value: float) -> str:
    """A constant of the function's definition (not a weight), written exactly and in full
    (HyperFormula does not parse 1E-05)."""
    text = np.format_float_positional(float(value), unique=True, trim="-")
    return f"({text})" if value < 0 else text


def _sigmoid_np(x):
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


def _sigmoid(x: str) -> str:
    return f"EXP(MIN({x},0))/(1+EXP(-ABS({x})))"


def _softplus_np(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _softplus(x: str) -> str:
    return f"(MAX({x},0)+LN(1+EXP(-ABS({x}))))"


def _if_all(conditions: list[str], then: str, otherwise: str = "0") -> str:
    """IF(c1,IF(c2,...then...,otherwise),otherwise): classic functions only, no AND array quirks."""
    text = then
    for condition in reversed(conditions):
        text = f"IF({condition},{text},{otherwise})"
    return text


def _positive(v):
    return (v > 0).astype(np.float64)


def _between_np(lo: float, hi: float):
    return lambda v: ((v > lo) & (v < hi)).astype(np.float64)


def _between(lo: float, hi: float, value: str = "1"):
    """value where lo < v < hi (both open), else 0."""
    return lambda v: _if_all([f"{v}>{_num(lo)}", f"{v}<{_num(hi)}"], value)


RELU_DERIVATIVE = Derivative(_positive, lambda a: f"IF({a}>0,1,0)")


def _relu_derivative(max_value, negative_slope, threshold) -> Derivative:
    """Keras' ReLU.static_call, branch for branch, differentiated as TensorFlow does: the
    leaky form is tf.nn.leaky_relu (slope at 0), a threshold multiplies by (x > threshold),
    max_value 6 alone is tf.nn.relu6 (open at both ends), other maxima clip (closed)."""
    if negative_slope and max_value is None and not threshold:
        return _leaky_derivative(negative_slope)
    t = threshold
    relu6 = not t and max_value == 6.0

    def numpy(x):
        if relu6:
            top = (x > 0) & (x < 6)
        else:
            top = x > t
            if max_value is not None:      # clip(v, 0, max_value) lets v = x through, ends included
                top = top & (x >= 0) & (x <= max_value)
        below = negative_slope * (x < t) if negative_slope else 0.0
        return top.astype(np.float64) + below

    def template(x):
        if relu6:
            top = _between(0.0, 6.0)(x)
        else:
            clip = [f"{x}>=0", f"{x}<={_num(max_value)}"] if max_value is not None else []
            top = _if_all([f"{x}>{_num(t)}"] + clip, "1")
        if negative_slope:
            return f"{top}+IF({x}<{_num(t)},{_num(negative_slope)},0)"
        return top

    return Derivative(numpy, template, of_output=False)


def _leaky_derivative(slope: float) -> Derivative:
    """tf.nn.leaky_relu: 1 where x > 0, the slope elsewhere (at 0 too)."""
    return Derivative(lambda x: np.where(x > 0, 1.0, slope), lambda x: f"IF({x}>0,1,{_num(slope)})",
                      of_output=False)


def relu(max_value=None, negative_slope=0.0, threshold=0.0) -> Activation:
    """Keras' relu / ReLU layer in full, as Keras computes it:
    x > threshold: x (clipped to [0, max_value] when there is a max_value);
    otherwise: negative_slope * (x - threshold)."""
    max_value = None if max_value is None else float(max_value)
    negative_slope, threshold = float(negative_slope or 0.0), float(threshold or 0.0)
    if not negative_slope and not threshold:
        if max_value is None:
            return Activation("relu", lambda x: np.maximum(x, 0), lambda x: f"MAX(0,{x})", bare=True,
                              derivative=RELU_DERIVATIVE)
        # From the output: 0 < a < max. (TensorFlow says 1 at x == max exactly unless max is 6;
        # the output cannot tell x == max from x > max.)
        return Activation("relu", lambda x: np.clip(np.maximum(x, 0), None, max_value),
                          lambda x: f"MIN(MAX(0,{x}),{_num(max_value)})", bare=True,
                          derivative=Derivative(_between_np(0.0, max_value), _between(0.0, max_value)))

    def top_np(x):
        return x if max_value is None else np.minimum(np.maximum(x, 0), max_value)

    def numpy(x):
        return np.where(x > threshold, top_np(x), negative_slope * (x - threshold))

    def formula(x: str) -> str:
        top = x if max_value is None else f"MIN(MAX(0,{x}),{_num(max_value)})"
        shifted = f"({x}-{_num(threshold)})" if threshold else x
        below = f"{_num(negative_slope)}*{shifted}" if negative_slope else "0"
        return f"IF({x}>{_num(threshold)},{top},{below})"

    return Activation("relu", numpy, formula, uses_input=3,
                      derivative=_relu_derivative(max_value, negative_slope, threshold))


def leaky_relu(slope: float) -> Activation:
    slope = float(slope)
    return Activation("leaky_relu", lambda x: np.where(x >= 0, x, slope * x),
                      lambda x: f"IF({x}>=0,{x},{_num(slope)}*{x})", uses_input=3,
                      derivative=_leaky_derivative(slope))


def elu(alpha: float = 1.0, scale: float = 1.0, name: str = "elu") -> Activation:
    alpha, scale = float(alpha), float(scale)

    def numpy(x):
        return scale * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))

    def formula(x: str) -> str:
        body = f"IF({x}>0,{x},{_num(alpha)}*(EXP(MIN({x},0))-1))"
        return body if scale == 1.0 else f"{_num(scale)}*{body}"

    return Activation(name, numpy, formula, uses_input=3, derivative=_elu_derivative(alpha, scale))


def _elu_derivative(alpha: float, scale: float) -> Derivative:
    """From the output, as TensorFlow's EluGrad/SeluGrad do: a < 0: a + scale·alpha, else scale.
    Keras' ELU(alpha != 1) is where(x > 0, elu(x), alpha·elu(x)): 1 for a > 0, else a + alpha
    (alpha at 0); for a negative alpha the output's sign says nothing, so the input is used."""
    if alpha == 1.0 or scale != 1.0:
        return Derivative(lambda a: np.where(a < 0, a + scale * alpha, scale),
                          lambda a: f"IF({a}<0,{a}+{_num(scale * alpha)},{_num(scale)})")
    if alpha > 0:
        return Derivative(lambda a: np.where(a > 0, 1.0, a + alpha), lambda a: f"IF({a}>0,1,{a}+{_num(alpha)})")
    return Derivative(lambda x: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),
                      lambda x: f"IF({x}>0,1,{_num(alpha)}*EXP(MIN({x},0)))", of_output=False)


def hard_sigmoid(keras2: bool) -> Activation:
    """Keras 2 uses 0.2*x + 0.5; Keras 3 uses relu6(x + 3) / 6, i.e. x/6 + 0.5, both clipped to [0, 1]."""
    if keras2:
        return Activation("hard_sigmoid", lambda x: np.clip(0.2 * x + 0.5, 0, 1),
                          lambda x: f"MAX(0,MIN(1,0.2*{x}+0.5))",
                          derivative=Derivative(lambda a: 0.2 * _between_np(0, 1)(a), _between(0, 1, "0.2")))
    return Activation("hard_sigmoid", lambda x: np.clip(x / 6 + 0.5, 0, 1),
                      lambda x: f"MAX(0,MIN(1,{x}/6+0.5))",
                      derivative=Derivative(lambda a: _between_np(0, 1)(a) / 6, _between(0, 1, "1/6")))


def _erf_np(x):
    """The error function for arrays, in float64 (math.erf is exact to double precision)."""
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def gelu(approximate: bool = False) -> Activation:
    """Keras' gelu: x·Φ(x) = 0.5·x·(1 + erf(x/√2)), with ERF (Excel 2010+, LibreOffice and Google
    Sheets have it); approximate=True is the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    The derivatives are written from the input: Φ(x) + x·φ(x), and for the tanh form
    0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²) with t the tanh."""
    if approximate:
        c = math.sqrt(2 / math.pi)

        def inner(v: str) -> str:
            return f"TANH({_num(c)}*({v}+0.044715*{v}^3))"

        def slope_np(x):
            t = np.tanh(c * (x + 0.044715 * x ** 3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)

        slope = Derivative(slope_np, lambda v: f"0.5*(1+{inner(v)})+0.5*{v}*(1-{inner(v)}^2)*{_num(c)}"
                                               f"*(1+0.134145*{v}^2)", of_output=False)
        return Activation("gelu (tanh approximation)",
                          lambda x: 0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x ** 3))),
                          lambda x: f"0.5*{x}*(1+{inner(x)})", uses_input=3, derivative=slope)
    root2, root2pi = math.sqrt(2.0), math.sqrt(2 * math.pi)
    slope = Derivative(lambda x: 0.5 * (1 + _erf_np(x / root2)) + x * np.exp(-0.5 * x * x) / root2pi,
                       lambda v: f"0.5*(1+ERF({v}/{_num(root2)}))+{v}*EXP(-0.5*{v}*{v})/{_num(root2pi)}",
                       of_output=False)
    return Activation("gelu", lambda x: 0.5 * x * (1 + _erf_np(x / root2)),
                      lambda x: f"0.5*{x}*(1+ERF({x}/{_num(root2)}))", uses_input=2, derivative=slope)


def hard_sigmoid_with(alpha: float, beta: float) -> Activation:
    """clip(alpha·x + beta, 0, 1) with any constants (ONNX HardSigmoid; PyTorch uses 1/6 and 0.5)."""
    alpha, beta = float(alpha), float(beta)
    return Activation("hard_sigmoid", lambda x: np.clip(alpha * x + beta, 0, 1),
                      lambda x: f"MAX(0,MIN(1,{_num(alpha)}*{x}+{_num(beta)}))",
                      derivative=Derivative(lambda a: alpha * _between_np(0, 1)(a), _between(0, 1, _num(alpha))))


def _hard_silu_np(x):
    return x * np.clip(x / 6 + 0.5, 0, 1)


def _swish_derivative(x: str) -> str:
    s = _sigmoid(x)
    return f"{s}*(1+{x}*(1-{s}))"


def _mish_derivative_np(x):
    t = np.tanh(_softplus_np(x))
    return t + x * _sigmoid_np(x) * (1 - t * t)


def _mish_derivative(x: str) -> str:
    return f"TANH({_softplus(x)})+{x}*{_sigmoid(x)}*(1-TANH({_softplus(x)})^2)"


def _input(numpy, template) -> Derivative:
    return Derivative(numpy, template, of_output=False)


FIXED: dict[str, Activation] = {
    "linear": Activation("linear", lambda x: x, lambda x: x, derivative=ONE),
    "sigmoid": Activation("sigmoid", _sigmoid_np, _sigmoid, uses_input=2,
                          derivative=Derivative(lambda a: a * (1 - a), lambda a: f"{a}*(1-{a})")),
    "tanh": Activation("tanh", np.tanh, lambda x: f"TANH({x})", bare=True,
                       derivative=Derivative(lambda a: 1 - a * a, lambda a: f"(1-{a}^2)")),
    "softplus": Activation("softplus", _softplus_np, _softplus, uses_input=2,
                           derivative=_input(_sigmoid_np, _sigmoid)),
    "softsign": Activation("softsign", lambda x: x / (1 + np.abs(x)),
                           lambda x: f"{x}/(1+ABS({x}))", uses_input=2,
                           derivative=Derivative(lambda a: (1 - np.abs(a)) ** 2, lambda a: f"(1-ABS({a}))^2")),
    "swish": Activation("swish", lambda x: x * _sigmoid_np(x),
                        lambda x: f"{x}*{_sigmoid(x)}", uses_input=3,
                        derivative=_input(lambda x: _sigmoid_np(x) * (1 + x * (1 - _sigmoid_np(x))),
                                          _swish_derivative)),
    "relu6": Activation("relu6", lambda x: np.clip(x, 0, 6), lambda x: f"MIN(MAX(0,{x}),6)", bare=True,
                        derivative=Derivative(_between_np(0, 6), _between(0, 6))),
    "exponential": Activation("exponential", np.exp, lambda x: f"EXP({x})", bare=True,
                              derivative=Derivative(lambda a: a, lambda a: a)),
    # x·hard_sigmoid(x) by the product rule, as TensorFlow differentiates it (0 at -3, 1 at 3)
    "hard_silu": Activation("hard_silu", _hard_silu_np, lambda x: f"{x}*MAX(0,MIN(1,{x}/6+0.5))",
                            uses_input=2,
                            derivative=_input(lambda x: np.clip(x / 6 + 0.5, 0, 1) + np.where(np.abs(x) < 3, x / 6, 0),
                                              lambda x: f"MAX(0,MIN(1,{x}/6+0.5))+IF(ABS({x})<3,{x}/6,0)")),
    "mish": Activation("mish", lambda x: x * np.tanh(_softplus_np(x)),
                       lambda x: f"{x}*TANH({_softplus(x)})", uses_input=3,
                       derivative=_input(_mish_derivative_np, _mish_derivative)),
    "log_sigmoid": Activation("log_sigmoid", lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
                              lambda x: f"MIN({x},0)-LN(1+EXP(-ABS({x})))", uses_input=2,
                              derivative=_input(lambda x: _sigmoid_np(-x), lambda x: _sigmoid(f"(-{x})"))),
    # clip_by_value passes the gradient at ±1 itself; the output cannot tell x = 1 from x > 1
    "hard_tanh": Activation("hard_tanh", lambda x: np.clip(x, -1, 1), lambda x: f"MAX(-1,MIN(1,{x}))",
                            bare=True, derivative=Derivative(_between_np(-1, 1), _between(-1, 1))),
    "tanh_shrink": Activation("tanh_shrink", lambda x: x - np.tanh(x), lambda x: f"{x}-TANH({x})",
                              uses_input=2, derivative=_input(lambda x: np.tanh(x) ** 2, lambda x: f"TANH({x})^2")),
}
FIXED["silu"] = FIXED["swish"]
FIXED["hard_swish"] = FIXED["hard_silu"]

SOFTMAX = "softmax"   # not element-wise: handled by the softmax emitter
NAMES = sorted(set(FIXED) | {"relu", "leaky_relu", "elu", "selu", "hard_sigmoid", "softmax", "gelu"})


# Activations whose constants a model may set: {"class_name": name, "config": {constant: value}}
WITH_CONSTANTS = {
    "hard_sigmoid": lambda c: hard_sigmoid_with(c.get("alpha", 0.2), c.get("beta", 0.5)),
    "elu": lambda c: elu(c.get("alpha", 1.0)),
    "selu": lambda c: elu(c.get("alpha", SELU_ALPHA), c.get("scale", SELU_SCALE), "selu"),
    "leaky_relu": lambda c: leaky_relu(c.get("alpha", 0.2)),
}


def _check_constants(name: str, constants: dict) -> None:
    """A parameterised activation's constants are pasted into formulas: finite numbers only."""
    bad = {k: v for k, v in constants.items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)}
    if bad:
        raise Unsupported(f"activation {name!r} has constants that are not finite numbers ({bad!r})")


def activation(spec, keras2: bool = False) -> Activation | str:
    """Resolve a Keras activation (a name or a serialized dict) to an Activation.

    A dict whose config is itself a dict gives the constants of a parameterised activation
    (WITH_CONSTANTS). Returns the string 'softmax' for softmax, which needs a whole vector."""
    if isinstance(spec, dict) and isinstance(spec.get("config"), dict) and spec.get("class_name") in WITH_CONSTANTS:
        _check_constants(spec["class_name"], spec["config"])
        return WITH_CONSTANTS[spec["class_name"]](spec["config"])
    approximate = False
    if isinstance(spec, dict):   # a serialized function: {"class_name": "function", "config": "relu"}
        config = spec.get("config")
        name = config if isinstance(config, str) else spec.get("class_name")
        approximate = isinstance(config, dict) and config.get("approximate") is True
    else:
        name = spec
    name = name or "linear"
    if not isinstance(name, str):
        raise Unsupported(f"activation {name!r} is not supported")
    if name == "softmax":
        return SOFTMAX
    if name == "relu":
        return relu()
    if name == "leaky_relu":        # keras.activations.leaky_relu: negative_slope=0.2
        return leaky_relu(0.2)
    if name == "elu":
        return elu()
    if name == "selu":
        return elu(SELU_ALPHA, SELU_SCALE, "selu")
    if name == "gelu":
        return gelu(approximate)
    if name == "hard_sigmoid":
        return hard_sigmoid(keras2)
    if name in FIXED:
        return FIXED[name]
    raise Unsupported(f"activation {name!r} is not supported")
