"""Activation functions, each as NumPy (the reference) and as a classic formula.

Every formula is written so no branch can overflow: EXP only ever sees a
number <= 0, because the `formulas` engine evaluates both branches of an IF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .base import Unsupported

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Activation:
    name: str
    numpy: Callable[[np.ndarray], np.ndarray]
    formula: Callable[[str], str]      # receives the input as an expression
    uses_input: int = 1                # how often the formula repeats its input

    @property
    def is_identity(self) -> bool:
        return self.name == "linear"


def _num(value: float) -> str:
    """A constant of the function's definition (not a weight), written exactly."""
    return repr(float(value)).replace("e", "E")


def _sigmoid_np(x):
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


def _sigmoid(x: str) -> str:
    return f"EXP(MIN({x},0))/(1+EXP(-ABS({x})))"


def relu(max_value=None, negative_slope=0.0, threshold=0.0) -> Activation:
    """Keras' ReLU layer in full: slope below the threshold, capped at max_value."""
    if max_value is None and not negative_slope and not threshold:
        return Activation("relu", lambda x: np.maximum(x, 0), lambda x: f"MAX(0,{x})")
    cap = (lambda v: np.minimum(v, max_value)) if max_value is not None else (lambda v: v)

    def numpy(x):
        return np.where(x >= threshold, cap(x), negative_slope * (x - threshold))

    def formula(x: str) -> str:
        top = f"MIN({x},{_num(max_value)})" if max_value is not None else x
        below = f"{_num(negative_slope)}*({x}-{_num(threshold)})" if negative_slope else "0"
        return f"IF({x}>={_num(threshold)},{top},{below})"

    return Activation("relu", numpy, formula, uses_input=3)


def leaky_relu(slope: float) -> Activation:
    return Activation("leaky_relu", lambda x: np.where(x >= 0, x, slope * x),
                      lambda x: f"IF({x}>=0,{x},{_num(slope)}*{x})", uses_input=3)


def elu(alpha: float = 1.0, scale: float = 1.0, name: str = "elu") -> Activation:
    def numpy(x):
        return scale * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))

    def formula(x: str) -> str:
        body = f"IF({x}>0,{x},{_num(alpha)}*(EXP(MIN({x},0))-1))"
        return body if scale == 1.0 else f"{_num(scale)}*{body}"

    return Activation(name, numpy, formula, uses_input=3)


def hard_sigmoid(keras2: bool) -> Activation:
    """Keras 2 uses 0.2*x + 0.5; Keras 3 uses relu6(x + 3) / 6."""
    slope = 0.2 if keras2 else 1 / 6
    return Activation("hard_sigmoid", lambda x: np.clip(slope * x + 0.5, 0, 1),
                      lambda x: f"MAX(0,MIN(1,{x}*{_num(slope)}+0.5))")


def _softplus_np(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


FIXED: dict[str, Activation] = {
    "linear": Activation("linear", lambda x: x, lambda x: x),
    "sigmoid": Activation("sigmoid", _sigmoid_np, _sigmoid, uses_input=2),
    "tanh": Activation("tanh", np.tanh, lambda x: f"TANH({x})"),
    "softplus": Activation("softplus", _softplus_np,
                           lambda x: f"MAX({x},0)+LN(1+EXP(-ABS({x})))", uses_input=2),
    "softsign": Activation("softsign", lambda x: x / (1 + np.abs(x)),
                           lambda x: f"{x}/(1+ABS({x}))", uses_input=2),
    "swish": Activation("swish", lambda x: x * _sigmoid_np(x),
                        lambda x: f"{x}*{_sigmoid(x)}", uses_input=3),
    "relu6": Activation("relu6", lambda x: np.clip(x, 0, 6), lambda x: f"MIN(MAX(0,{x}),6)"),
    "exponential": Activation("exponential", np.exp, lambda x: f"EXP({x})"),
}
FIXED["silu"] = FIXED["swish"]

SOFTMAX = "softmax"   # not element-wise: handled by the softmax emitter
NAMES = sorted(set(FIXED) | {"relu", "elu", "selu", "hard_sigmoid", "softmax"})


def activation(spec, keras2: bool = False) -> Activation | str:
    """Resolve a Keras activation (a name or a serialized dict) to an Activation.

    Returns the string 'softmax' for softmax, which needs a whole vector."""
    if isinstance(spec, dict):   # a serialized function: {"class_name": "function", "config": "relu"}
        config = spec.get("config")
        name = config if isinstance(config, str) else spec.get("class_name")
    else:
        name = spec
    name = name or "linear"
    if name == "softmax":
        return SOFTMAX
    if name == "relu":
        return relu()
    if name == "elu":
        return elu()
    if name == "selu":
        return elu(SELU_ALPHA, SELU_SCALE, "selu")
    if name == "hard_sigmoid":
        return hard_sigmoid(keras2)
    if name in FIXED:
        return FIXED[name]
    raise Unsupported(f"activation {name!r} (supported: {', '.join(NAMES)})")
