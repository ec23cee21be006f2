"""Small random models for every layer and option of the core: workbook (formulas) == Keras."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import check_model, random_init


def _inputs(shape, count=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (count,) + tuple(shape)).astype("float32")


def _model(input_shape, *layers):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *layers])


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, (2, 1)])
@pytest.mark.parametrize("kernel", [3, (2, 3)])
def test_conv2d_padding_strides_kernels(tmp_path, padding, strides, kernel):
    import keras

    model = _model((7, 6, 2), keras.layers.Conv2D(3, kernel, strides=strides, padding=padding,
                                                  activation="relu", **random_init(1)),
                   keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax", **random_init(5)))
    check_model(model, tmp_path, _inputs((7, 6, 2)))


def test_conv2d_without_bias_and_linear(tmp_path):
    import keras

    init = random_init(2)
    model = _model((5, 5, 1), keras.layers.Conv2D(2, 3, use_bias=False, kernel_initializer=init["kernel_initializer"]),
                   keras.layers.Flatten(), keras.layers.Dense(3, **random_init(7)))
    check_model(model, tmp_path, _inputs((5, 5, 1)))


def test_maxpool_dense_relu_chain(tmp_path):
    import keras

    model = _model((9, 9, 1), keras.layers.Conv2D(4, 3, activation="relu", **random_init(1)),
                   keras.layers.MaxPooling2D(2),
                   keras.layers.Conv2D(3, 2, activation="relu", **random_init(3)),
                   keras.layers.MaxPooling2D(2),
                   keras.layers.Flatten(),
                   keras.layers.Dropout(0.3),
                   keras.layers.Dense(6, activation="relu", **random_init(5)),
                   keras.layers.Dense(4, activation="softmax", **random_init(7)))
    check_model(model, tmp_path, _inputs((9, 9, 1), 4))


@pytest.mark.parametrize("style", ["Activation", "ReLU", "Softmax"])
def test_activations_as_separate_layers(tmp_path, style):
    import keras

    layers = keras.layers
    act = {"Activation": [layers.Activation("relu")], "ReLU": [layers.ReLU()], "Softmax": []}[style]
    model = _model((6, 6, 1), layers.Conv2D(2, 3, **random_init(1)), *act, layers.Flatten(),
                   layers.Dense(3, **random_init(3)),
                   layers.Activation("softmax") if style != "Softmax" else layers.Softmax())
    check_model(model, tmp_path, _inputs((6, 6, 1)))


def test_functional_single_chain(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu", **random_init(1))(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax", **random_init(3))(x)
    check_model(keras.Model(inputs, outputs), tmp_path, _inputs((6, 6, 1)))


def test_keras2_h5_model(tmp_path):
    import tf_keras

    from conftest import assert_matches
    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    tf_keras.utils.set_random_seed(0)
    init = dict(kernel_initializer="random_normal", bias_initializer="random_normal")
    model = tf_keras.Sequential([
        tf_keras.layers.Conv2D(3, 3, activation="relu", padding="same", input_shape=(6, 6, 1), **init),
        tf_keras.layers.MaxPooling2D(2), tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(4, activation="softmax", **init)])
    model.save(tmp_path / "k2.h5")
    x = _inputs((6, 6, 1))
    workbook = FormulasWorkbook(build(tmp_path / "k2.h5", tmp_path / "k2.xlsx").path)
    for got, expected in zip((workbook.probabilities(v) for v in x), model.predict(x, verbose=0)):
        assert_matches(got, expected)
