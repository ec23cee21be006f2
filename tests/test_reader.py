"""The reader: the same description from .keras, Keras 3 .h5 and Keras 2 .h5, without TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from excelnet.reader import read_model

from conftest import random_init


def _keras3_model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6, 5, 2)),
        keras.layers.Conv2D(3, 3, activation="relu", name="conv", **random_init(1)),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(4, activation="softmax", name="out", **random_init(3)),
    ], name="tiny")


def _keras2_model():
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    init = dict(kernel_initializer="random_normal", bias_initializer="random_normal")
    return tf_keras.Sequential([
        tf_keras.layers.Conv2D(3, 3, activation="relu", name="conv", input_shape=(6, 5, 2), **init),
        tf_keras.layers.Flatten(name="flat"),
        tf_keras.layers.Dropout(0.5, name="drop"),
        tf_keras.layers.Dense(4, activation="softmax", name="out", **init),
    ], name="tiny")


@pytest.mark.parametrize("fmt", ["keras3.keras", "keras3.h5", "keras2.h5"])
def test_every_format_gives_layers_shapes_and_weights(tmp_path, fmt):
    model = _keras2_model() if fmt.startswith("keras2") else _keras3_model()
    path = tmp_path / f"model.{fmt.split('.')[1]}"
    model.save(path)
    spec = read_model(path)
    assert spec.input_shape == (6, 5, 2)
    assert [(l.class_name, l.name) for l in spec.layers] == [
        ("Conv2D", "conv"), ("Flatten", "flat"), ("Dropout", "drop"), ("Dense", "out")]
    conv_kernel, conv_bias = (v.numpy() for v in model.get_layer("conv").weights)
    np.testing.assert_array_equal(spec.layers[0].weights[0], conv_kernel)
    np.testing.assert_array_equal(spec.layers[0].weights[1], conv_bias)
    assert spec.layers[3].weights[0].shape == (36, 4)
    assert spec.keras_version.startswith("2." if fmt.startswith("keras2") else "3.")
    assert len(spec.sha256) == 64


def test_functional_chain_is_read_in_data_flow_order(tmp_path):
    import keras

    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 2, name="c")(inputs)
    x = keras.layers.Flatten(name="f")(x)
    outputs = keras.layers.Dense(3, name="d")(x)
    keras.Model(inputs, outputs).save(tmp_path / "f.keras")
    spec = read_model(tmp_path / "f.keras")
    assert [l.name for l in spec.layers] == ["c", "f", "d"]
    assert spec.input_shape == (4, 4, 1)
