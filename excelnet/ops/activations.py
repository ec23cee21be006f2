"""Activation functions, each as NumPy (the reference) and as a classic formula.

Every formula is written so no branch can overflow: EXP only ever sees a
number <= 0, because the `formulas` engine evaluates both branches of an IF.
Only functions every spreadsheet has are used: MAX, MIN, IF, EXP, LN, ABS, TANH, ERF."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .base import Unsupported

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# A cell reference (optionally on another sheet) or a plain number: safe to use unbracketed.
_ATOM = re.compile(r"^(('[^']*(''[^']*)*'|[A-Za-z0-9_.]+)!)?\$?[A-Z]{1,3}\$?\d+$|^\d+(\.\d+)?(E[+-]?\d+)?$|^[A-Za-z_]\w*$")


def wrap(x: str) -> str:
    """`x` as an operand: bracketed unless it is a single cell or number.

    An emitter may hand in a whole expression (SUMPRODUCT(...)+bias); without the
    brackets x*0.2 would multiply only the bias."""
    if _ATOM.match(x) or _is_call(x):
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


@dataclass(frozen=True)
class Activation:
    name: str
    numpy: Callable[[np.ndarray], np.ndarray]
    template: Callable[[str], str]     # receives the input as an operand (a cell, or bracketed)
    uses_input: int = 1                # how often the formula repeats its input
    bare: bool = False                 # the input is only ever a whole function argument: no brackets

    @property
    def is_identity(self) -> bool:
        return self.name == "linear"

    def formula(self, x: str) -> str:
        """The formula for one value; `x` may be a cell reference or any expression."""
        if self.is_identity:
            return x
        return self.template(x if self.bare else wrap(x))


def _num(value: float) -> str:
    """A constant of the function's definition (not a weight), written exactly."""
    text = repr(float(value)).replace("e", "E")
    return f"({text})" if value < 0 else text


def _sigmoid_np(x):
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


def _sigmoid(x: str) -> str:
    return f"EXP(MIN({x},0))/(1+EXP(-ABS({x})))"


def _softplus_np(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _softplus(x: str) -> str:
    return f"(MAX({x},0)+LN(1+EXP(-ABS({x}))))"


def relu(max_value=None, negative_slope=0.0, threshold=0.0) -> Activation:
    """Keras' relu / ReLU layer in full, as Keras computes it:
    x > threshold: x (clipped to [0, max_value] when there is a max_value);
    otherwise: negative_slope * (x - threshold)."""
    max_value = None if max_value is None else float(max_value)
    negative_slope, threshold = float(negative_slope or 0.0), float(threshold or 0.0)
    if not negative_slope and not threshold:
        if max_value is None:
            return Activation("relu", lambda x: np.maximum(x, 0), lambda x: f"MAX(0,{x})", bare=True)
        return Activation("relu", lambda x: np.clip(np.maximum(x, 0), None, max_value),
                          lambda x: f"MIN(MAX(0,{x}),{_num(max_value)})", bare=True)

    def top_np(x):
        return x if max_value is None else np.minimum(np.maximum(x, 0), max_value)

    def numpy(x):
        return np.where(x > threshold, top_np(x), negative_slope * (x - threshold))

    def formula(x: str) -> str:
        top = x if max_value is None else f"MIN(MAX(0,{x}),{_num(max_value)})"
        shifted = f"({x}-{_num(threshold)})" if threshold else x
        below = f"{_num(negative_slope)}*{shifted}" if negative_slope else "0"
        return f"IF({x}>{_num(threshold)},{top},{below})"

    return Activation("relu", numpy, formula, uses_input=3)


def leaky_relu(slope: float) -> Activation:
    slope = float(slope)
    return Activation("leaky_relu", lambda x: np.where(x >= 0, x, slope * x),
                      lambda x: f"IF({x}>=0,{x},{_num(slope)}*{x})", uses_input=3)


def elu(alpha: float = 1.0, scale: float = 1.0, name: str = "elu") -> Activation:
    alpha, scale = float(alpha), float(scale)

    def numpy(x):
        return scale * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))

    def formula(x: str) -> str:
        body = f"IF({x}>0,{x},{_num(alpha)}*(EXP(MIN({x},0))-1))"
        return body if scale == 1.0 else f"{_num(scale)}*{body}"

    return Activation(name, numpy, formula, uses_input=3)


def hard_sigmoid(keras2: bool) -> Activation:
    """Keras 2 uses 0.2*x + 0.5; Keras 3 uses relu6(x + 3) / 6, i.e. x/6 + 0.5, both clipped to [0, 1]."""
    if keras2:
        return Activation("hard_sigmoid", lambda x: np.clip(0.2 * x + 0.5, 0, 1),
                          lambda x: f"MAX(0,MIN(1,0.2*{x}+0.5))")
    return Activation("hard_sigmoid", lambda x: np.clip(x / 6 + 0.5, 0, 1),
                      lambda x: f"MAX(0,MIN(1,{x}/6+0.5))")


def _erf_np(x):
    """The error function for arrays, in float64 (math.erf is exact to double precision)."""
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def gelu(approximate: bool = False) -> Activation:
    """Keras' gelu: x·Φ(x) = 0.5·x·(1 + erf(x/√2)), with ERF (Excel 2010+, LibreOffice and Google
    Sheets have it); approximate=True is the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    if approximate:
        c = math.sqrt(2 / math.pi)
        return Activation("gelu (tanh approximation)",
                          lambda x: 0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x ** 3))),
                          lambda x: f"0.5*{x}*(1+TANH({_num(c)}*({x}+0.044715*{x}^3)))", uses_input=3)
    root2 = math.sqrt(2.0)
    return Activation("gelu", lambda x: 0.5 * x * (1 + _erf_np(x / root2)),
                      lambda x: f"0.5*{x}*(1+ERF({x}/{_num(root2)}))", uses_input=2)


def _hard_silu_np(x):
    return x * np.clip(x / 6 + 0.5, 0, 1)


FIXED: dict[str, Activation] = {
    "linear": Activation("linear", lambda x: x, lambda x: x),
    "sigmoid": Activation("sigmoid", _sigmoid_np, _sigmoid, uses_input=2),
    "tanh": Activation("tanh", np.tanh, lambda x: f"TANH({x})", bare=True),
    "softplus": Activation("softplus", _softplus_np, _softplus, uses_input=2),
    "softsign": Activation("softsign", lambda x: x / (1 + np.abs(x)),
                           lambda x: f"{x}/(1+ABS({x}))", uses_input=2),
    "swish": Activation("swish", lambda x: x * _sigmoid_np(x),
                        lambda x: f"{x}*{_sigmoid(x)}", uses_input=3),
    "relu6": Activation("relu6", lambda x: np.clip(x, 0, 6), lambda x: f"MIN(MAX(0,{x}),6)", bare=True),
    "exponential": Activation("exponential", np.exp, lambda x: f"EXP({x})", bare=True),
    "hard_silu": Activation("hard_silu", _hard_silu_np, lambda x: f"{x}*MAX(0,MIN(1,{x}/6+0.5))",
                            uses_input=2),
    "mish": Activation("mish", lambda x: x * np.tanh(_softplus_np(x)),
                       lambda x: f"{x}*TANH({_softplus(x)})", uses_input=3),
    "log_sigmoid": Activation("log_sigmoid", lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
                              lambda x: f"MIN({x},0)-LN(1+EXP(-ABS({x})))", uses_input=2),
    "hard_tanh": Activation("hard_tanh", lambda x: np.clip(x, -1, 1), lambda x: f"MAX(-1,MIN(1,{x}))",
                            bare=True),
    "tanh_shrink": Activation("tanh_shrink", lambda x: x - np.tanh(x), lambda x: f"{x}-TANH({x})",
                              uses_input=2),
}
FIXED["silu"] = FIXED["swish"]
FIXED["hard_swish"] = FIXED["hard_silu"]

SOFTMAX = "softmax"   # not element-wise: handled by the softmax emitter
NAMES = sorted(set(FIXED) | {"relu", "leaky_relu", "elu", "selu", "hard_sigmoid", "softmax", "gelu"})


def activation(spec, keras2: bool = False) -> Activation | str:
    """Resolve a Keras activation (a name or a serialized dict) to an Activation.

    Returns the string 'softmax' for softmax, which needs a whole vector."""
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
