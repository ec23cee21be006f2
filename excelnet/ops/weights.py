"""Each layer's weight arrays checked against the layer, before any op is built.

A model file says what a layer is (its config) and separately holds its numbers; a
stranger's file may disagree with itself: 20 biases for 8 filters, a missing bias, a
5-D kernel, complex or integer numbers, NaN. Keras itself refuses such a file when it
loads it, so excelnet refuses it too, saying which array and what was expected."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .base import option, whole, whole_pair

Expected = list[tuple[str, tuple]]     # (what the array is, its shape; None: any size fits)


def _channels(shape, rank: int) -> int | None:
    return shape[-1] if shape is not None and len(shape) == rank else None


def _conv2d(config: dict, shape) -> Expected:
    ignored: list[str] = []              # wrong settings are the converter's to report
    kh, kw = whole_pair(config, "kernel_size", None, ignored) or (None, None)
    filters = whole(config, "filters", None, ignored)
    expected = [("kernel", (kh, kw, _channels(shape, 3), filters))]
    if option(config, "use_bias", True):
        expected.append(("bias", (filters,)))
    return expected


def _dense(config: dict, shape) -> Expected:
    units = whole(config, "units", None, [])
    expected = [("kernel", (_channels(shape, 1), units))]
    if option(config, "use_bias", True):
        expected.append(("bias", (units,)))
    return expected


def _batch_norm(config: dict, shape) -> Expected:
    channels = (shape[-1] if shape else None,)
    names = (["gamma"] if option(config, "scale", True) else []) + \
            (["beta"] if option(config, "center", True) else []) + ["moving mean", "moving variance"]
    return [(name, channels) for name in names]


def _prelu(config: dict, shape) -> Expected:
    from .prelu import alpha_shape, shared_axes_problem

    if shape is None or shared_axes_problem(config, shape):
        return [("alpha", None)]                       # any shape: the converter says what is wrong
    return [("alpha", alpha_shape(config, shape))]


EXPECTED: dict[str, Callable[[dict, object], Expected]] = {
    "Conv2D": _conv2d, "Convolution2D": _conv2d, "Dense": _dense, "BatchNormalization": _batch_norm,
    "PReLU": _prelu,
}


def expected_weights(class_name: str, config: dict, shape) -> Expected:
    """What arrays a layer of this class has, in Keras' order (none for most layers)."""
    rule = EXPECTED.get(class_name)
    return rule(config, shape) if rule else []


def _shape_text(shape) -> str:
    dims = ["any" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _fits(actual: tuple, expected: tuple | None) -> bool:
    if expected is None:             # any shape (the input is not known)
        return True
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))


def _number_problem(what: str, array: np.ndarray) -> str | None:
    kind = array.dtype.kind
    if kind == "c":
        return f"its {what} holds complex numbers; expected real floating-point numbers"
    if kind != "f":
        return f"its {what} holds {array.dtype} values; expected floating-point numbers"
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        return f"its {what} holds {bad:,} NaN or infinite value{'s' if bad != 1 else ''}; every weight must be a finite number"
    return None


def weight_problems(class_name: str, config: dict, weights, shape) -> list[str]:
    """Why these arrays are not the weights of this layer (empty when they are)."""
    expected = expected_weights(class_name, config, shape)
    if len(weights) != len(expected):
        names = ", ".join(what for what, _ in expected) or "none"
        return [f"it has {len(weights)} weight array{'s' if len(weights) != 1 else ''} but a {class_name} "
                f"with this config has {len(expected)} ({names})"]
    problems = []
    for array, (what, shape_wanted) in zip(weights, expected):
        array = np.asarray(array)
        if not _fits(array.shape, shape_wanted):
            problems.append(f"its {what} has shape {_shape_text(array.shape)}; expected {_shape_text(shape_wanted)}")
            continue
        problem = _number_problem(what, array)
        if problem:
            problems.append(problem)
    return problems
