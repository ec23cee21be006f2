"""Sliding-window arithmetic, checked against Keras' own shapes and TensorFlow's padding rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from excelnet.shapes import output_size, padding_amounts, pair


def test_pair():
    assert pair(3) == (3, 3)
    assert pair([2, 5]) == (2, 5)
    assert pair((1, 4)) == (1, 4)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_size_matches_keras(padding):
    import keras

    for size, window, stride in itertools.product(range(1, 9), range(1, 5), range(1, 4)):
        if padding == "valid" and window > size:
            continue
        layer = keras.layers.MaxPooling2D((window, 1), strides=(stride, 1), padding=padding)
        expected = layer.compute_output_shape((None, size, 1, 1))[1]
        assert output_size(size, window, stride, padding) == expected, (size, window, stride)


def test_padding_amounts_follow_tensorflow():
    """TensorFlow: total = max((out - 1) * stride + window - size, 0); the odd one goes after."""
    for size, window, stride in itertools.product(range(1, 9), range(1, 5), range(1, 4)):
        before, after = padding_amounts(size, window, stride, "same")
        out = -(-size // stride)
        total = max((out - 1) * stride + window - size, 0)
        assert (before, after) == (total // 2, total - total // 2)
        assert after - before in (0, 1)
        assert padding_amounts(size, window, stride, "valid") == (0, 0)


def test_same_padding_puts_the_extra_row_at_the_bottom():
    """A 2x2 all-ones kernel on a 3x3 image with 'same': the last row/column see the zero padding."""
    import keras

    image = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    conv = keras.layers.Conv2D(1, 2, padding="same", use_bias=False, kernel_initializer="ones")
    got = conv(image).numpy()[0, :, :, 0]
    assert padding_amounts(3, 2, 1, "same") == (0, 1)
    padded = np.pad(image[0, :, :, 0], ((0, 1), (0, 1)))
    expected = np.array([[padded[i:i + 2, j:j + 2].sum() for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(got, expected)
