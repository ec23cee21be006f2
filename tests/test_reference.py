"""The NumPy reference (`Network.predict`) that `excelnet verify` trusts equals Keras."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import RTOL, ATOL, random_init, save_model


def _model(input_shape, *layers):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *layers])


def _conv(padding, strides):
    import keras

    return lambda: _model((9, 8, 2), keras.layers.Conv2D(3, 3, strides=strides, padding=padding,
                                                         activation="relu", **random_init(1)),
                          keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax", **random_init(3)))


def _pooling():
    import keras

    layers = keras.layers
    return _model((12, 11, 1), layers.Conv2D(4, (3, 2), activation="relu", **random_init(1)),
                  layers.MaxPooling2D(2, padding="same"),
                  layers.Conv2D(3, 2, padding="same", **random_init(3)),
                  layers.AveragePooling2D(2),
                  layers.Flatten(), layers.Dropout(0.5),
                  layers.Dense(6, activation="relu", **random_init(5)),
                  layers.Dense(4, activation="softmax", **random_init(7)))


def _global_pool_softmax_layer():
    import keras

    layers = keras.layers
    return _model((8, 8, 3), layers.Conv2D(5, 3, padding="same", activation="relu", **random_init(1)),
                  layers.GlobalAveragePooling2D(), layers.Dense(4, **random_init(3)), layers.Softmax())


def _dense_only():
    import keras

    layers = keras.layers
    return _model((7,), layers.Dense(6, activation="relu", **random_init(1)),
                  layers.Dense(3, activation="softmax", **random_init(3)))


MODELS = {
    "conv-valid-stride1": _conv("valid", 1),
    "conv-same-stride1": _conv("same", 1),
    "conv-same-stride2": _conv("same", 2),
    "conv-valid-stride2x1": _conv("valid", (2, 1)),
    "pooling-chain": _pooling,
    "global-pool-softmax": _global_pool_softmax_layer,
    "dense-only": _dense_only,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_numpy_reference_equals_keras(tmp_path, name):
    from excelnet.convert import load_network

    model = MODELS[name]()
    network = load_network(save_model(model, tmp_path / f"{name}.keras"))
    shape = tuple(model.input_shape[1:])
    x = np.random.default_rng(1).uniform(0, 1, (4,) + shape).astype("float32")
    expected = model.predict(x, verbose=0)
    for i in range(len(x)):
        got = network.predict(x[i])
        assert got.dtype == np.float64 and got.shape == expected[i].shape
        np.testing.assert_allclose(got, expected[i], rtol=RTOL, atol=ATOL, err_msg=f"{name} input {i}")
        assert np.argmax(got) == np.argmax(expected[i])


def test_trace_ends_with_predict(tmp_path):
    from excelnet.convert import load_network

    network = load_network(save_model(_pooling(), tmp_path / "p.keras"))
    x = np.random.default_rng(2).uniform(0, 1, network.input_shape)
    outputs = network.trace(x)
    assert len(outputs) == len(network.ops)
    np.testing.assert_array_equal(outputs[-1], network.predict(x))
    assert [o.shape for o in outputs] == [op.output_shape for op in network.ops]
