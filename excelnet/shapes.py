"""Shape and padding arithmetic for sliding windows, exactly as Keras does it."""

from __future__ import annotations

import math


def output_size(size: int, window: int, stride: int, padding: str) -> int:
    """Length of one output axis of a convolution or pooling."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1


def padding_amounts(size: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """(before, after) zero rows/columns; Keras puts an odd extra one after (bottom/right)."""
    if padding != "same":
        return 0, 0
    total = max((output_size(size, window, stride, padding) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def pair(value) -> tuple[int, int]:
    """Keras accepts 3 or (3, 3) for kernel sizes and strides."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)
