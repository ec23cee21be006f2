"""Shape and padding arithmetic for sliding windows: Keras' rules, and the explicit and
ceil-mode windows of ONNX/PyTorch, in one place.

A padding is 'valid', 'same' (Keras: an odd extra row/column goes after, at the bottom/right),
or explicit per axis: ((top, bottom), (left, right)), as Keras' ZeroPadding2D writes it.
On one axis it is 'valid', 'same' or (before, after)."""

from __future__ import annotations

import math

def output_size(size: int, window: int, stride: int, padding, ceil_mode: bool = False) -> int:
    """Length of one output axis of a convolution or pooling.

    ceil_mode (PyTorch, ONNX) keeps a last, partial window, but only if it starts inside the
    input or its leading padding (onnxruntime and PyTorch drop one that starts in the trailing padding)."""
    if padding == "same":
        return math.ceil(size / stride)
    before, after = axis_amounts(padding)
    span = size + before + after - window
    count = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (count - 1) * stride >= size + before:
        count -= 1
    return count


def axis_amounts(padding) -> tuple[int, int]:
    """(before, after) of an explicit or 'valid' padding on one axis."""
    if padding == "valid":
        return 0, 0
    before, after = padding
    return int(before), int(after)


def padding_amounts(size: int, window: int, stride: int, padding) -> tuple[int, int]:
    """(before, after) zero rows/columns; Keras' 'same' puts an odd extra one after (bottom/right)."""
    if padding != "same":
        return axis_amounts(padding)
    total = max((output_size(size, window, stride, padding) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def on_axis(padding, axis: int):
    """The padding of one axis (0: rows, 1: columns) of a 2-D padding."""
    if isinstance(padding, str):
        return padding
    return tuple(int(v) for v in padding[axis])


def parse_padding(value):
    """'valid', 'same', or ((top, bottom), (left, right)) from a layer config; ValueError otherwise."""
    if value in ("valid", "same"):
        return value
    try:
        (top, bottom), (left, right) = value
        amounts = (top, bottom, left, right)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in amounts):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"padding={value!r} is not supported (only 'valid', 'same' or "
                         "((top, bottom), (left, right)))") from None
    if min(amounts) < 0:
        raise ValueError(f"padding={value!r} is negative")
    return (amounts[0], amounts[1]), (amounts[2], amounts[3])


def padding_text(padding) -> str:
    if isinstance(padding, str):
        return padding
    (top, bottom), (left, right) = padding
    return f"top {top}, bottom {bottom}, left {left}, right {right}"


def same_amounts(size: int, window: int, stride: int, extra_after: bool = True) -> tuple[int, int]:
    """(before, after) of 'same' padding; ONNX SAME_LOWER puts the odd one before instead."""
    before, after = padding_amounts(size, window, stride, "same")
    return (before, after) if extra_after else (after, before)


def window_span(start: int, window: int, size: int, before: int, after: int) -> tuple[int, int, int]:
    """(first, length) of the real cells in a window starting at `start` (may be negative), and how
    many cells the window covers inside the input padded by before/after (count_include_pad's divisor)."""
    lo, hi = max(start, 0), min(start + window, size)
    padded = min(start + window, size + after) - max(start, -before)
    return lo, hi - lo, padded


def pair(value) -> tuple[int, int]:
    """Keras accepts 3 or (3, 3) for kernel sizes and strides."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)
