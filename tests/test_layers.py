"""Every supported layer and option, one small random model each: workbook (formulas) == Keras.

Keras 3 models are saved as .keras (and .h5 where the format matters); Keras 2 models come
from tf_keras and are saved as .h5. Weights and biases are random and non-zero."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import assert_matches, check_model, random_init


def _inputs(shape, count=3, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, (count,) + tuple(shape)).astype("float32")


def _model(input_shape, *layers, name=None):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *layers], name=name)


def _workbook_outputs(model_path: Path, inputs: np.ndarray, tmp_path: Path) -> np.ndarray:
    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    result = build(model_path, tmp_path / (model_path.stem + ".xlsx"))
    workbook = FormulasWorkbook(result.path)
    return np.array([workbook.probabilities(x) for x in inputs])


def check_saved(model, path: Path, inputs: np.ndarray, tmp_path: Path) -> None:
    """Like check_model, for any file format (.h5 of Keras 2 or 3)."""
    model.save(path)
    expected = np.concatenate([model.predict(x[None], verbose=0) for x in inputs])  # see test_property
    got = _workbook_outputs(path, inputs, tmp_path)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_matches(g, e.reshape(-1), f"input {i}:")


def _set_bn_statistics(layer, seed):
    """Random, non-trivial gamma, beta, moving mean and (positive) moving variance."""
    rng = np.random.default_rng(seed)
    weights = layer.get_weights()
    new = []
    for w, kind in zip(weights, _bn_kinds(layer)):
        if kind == "moving_variance":
            new.append(rng.uniform(0.2, 2.0, w.shape).astype("float32"))
        else:
            new.append(rng.normal(0, 0.7, w.shape).astype("float32"))
    layer.set_weights(new)


def _bn_kinds(layer):
    return [w.path.split("/")[-1] if hasattr(w, "path") else w.name.split("/")[-1].split(":")[0]
            for w in layer.weights]


# --- Conv2D ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,strides,size", [
    ((2, 2), 1, (5, 6)),          # even kernel, same: the extra row/column goes bottom/right
    ((4, 3), (2, 2), (7, 6)),     # odd total padding on both axes
    ((1, 3), (1, 3), (5, 7)),     # non-square kernel, stride only across
    ((3, 1), (3, 1), (7, 4)),     # and only down
    ((2, 2), (2, 2), (6, 6)),     # stride = kernel, no padding needed
])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_padding_geometry(tmp_path, kernel, strides, size, padding):
    import keras

    model = _model(size + (2,), keras.layers.Conv2D(2, kernel, strides=strides, padding=padding, **random_init(1)),
                   keras.layers.Flatten(), keras.layers.Dense(3, **random_init(4)))
    check_model(model, tmp_path, _inputs(size + (2,)))


def test_conv2d_rgb_same_no_bias_stack(tmp_path):
    import keras

    init = random_init(2)
    model = _model((6, 6, 3),
                   keras.layers.Conv2D(3, 3, padding="same", use_bias=False,
                                       kernel_initializer=init["kernel_initializer"]),
                   keras.layers.Conv2D(2, (2, 3), strides=(1, 2), padding="same", activation="tanh",
                                       **random_init(3)),
                   keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax", **random_init(4)))
    check_model(model, tmp_path, _inputs((6, 6, 3), low=0, high=1))


# --- Pooling ---------------------------------------------------------------------------------

POOL_CASES = [
    # pool, strides, padding, input
    (2, None, "valid", (6, 7)),
    (2, None, "same", (5, 7)),          # windows at the bottom/right edge hang over
    (3, 1, "valid", (5, 5)),            # overlapping windows
    (3, 2, "same", (6, 5)),             # overlapping, padded on both sides
    ((2, 3), (1, 2), "same", (5, 6)),   # non-square pool and strides
    ((3, 2), (2, 1), "valid", (7, 5)),
]


@pytest.mark.parametrize("pool,strides,padding,size", POOL_CASES)
@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling_options(tmp_path, kind, pool, strides, padding, size):
    import keras

    layer = getattr(keras.layers, kind)(pool, strides=strides, padding=padding)
    model = _model(size + (2,), layer, keras.layers.Flatten(), keras.layers.Dense(3, **random_init(4)))
    check_model(model, tmp_path, _inputs(size + (2,)))


@pytest.mark.parametrize("kind", ["GlobalAveragePooling2D", "GlobalMaxPooling2D"])
def test_global_pooling(tmp_path, kind):
    import keras

    model = _model((5, 4, 2), keras.layers.Conv2D(3, 2, activation="relu", **random_init(1)),
                   getattr(keras.layers, kind)(), keras.layers.Dense(4, activation="softmax", **random_init(3)))
    check_model(model, tmp_path, _inputs((5, 4, 2)))


# --- BatchNormalization, Rescaling, Reshape, identity layers -----------------------------------

@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_normalization(tmp_path, center, scale):
    import keras

    conv_bn = keras.layers.BatchNormalization(center=center, scale=scale, epsilon=0.01)
    dense_bn = keras.layers.BatchNormalization(center=center, scale=scale)
    model = _model((5, 5, 2), keras.layers.Conv2D(3, 2, **random_init(1)), conv_bn,
                   keras.layers.Activation("relu"), keras.layers.Flatten(),
                   keras.layers.Dense(4, **random_init(3)), dense_bn,
                   keras.layers.Dense(3, activation="softmax", **random_init(5)))
    _set_bn_statistics(conv_bn, 7)
    _set_bn_statistics(dense_bn, 8)
    check_model(model, tmp_path, _inputs((5, 5, 2)))


def test_batch_normalization_shows_its_parameters_as_cells(tmp_path):
    import keras
    from openpyxl import load_workbook

    from excelnet.convert import build

    bn = keras.layers.BatchNormalization(epsilon=0.0123, name="bn")
    model = _model((4, 4, 2), bn, keras.layers.Flatten(), keras.layers.Dense(2, **random_init(3)))
    _set_bn_statistics(bn, 9)
    model.save(tmp_path / "bn.keras")
    build(tmp_path / "bn.keras", tmp_path / "bn.xlsx")
    sheet = load_workbook(tmp_path / "bn.xlsx")["1 bn"]
    labels = {str(c.value): c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
    for name, expected in zip(["gamma", "beta", "moving mean", "moving variance"], bn.get_weights()):
        row = labels[name].row
        values = [sheet.cell(row, 2 + k).value for k in range(2)]
        np.testing.assert_array_equal(np.float32(values), expected)
    assert sheet.cell(labels["epsilon"].row, 2).value == pytest.approx(0.0123)
    formulas = [c.value for row in sheet.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("=")]
    assert formulas and all("SQRT(" in f for f in formulas)


def test_rescaling_then_conv(tmp_path):
    import keras

    model = _model((5, 5, 3), keras.layers.Rescaling(1 / 255.0, offset=-0.5),
                   keras.layers.Conv2D(2, 3, activation="relu", **random_init(1)),
                   keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax", **random_init(3)))
    check_model(model, tmp_path, _inputs((5, 5, 3), low=0, high=255))


def test_rescaling_model_takes_0_to_255_pixels():
    import keras

    from excelnet.convert import input_divisor
    from excelnet.ops import build_network
    from excelnet.reader import read_model

    assert keras  # the model below is saved by Keras 3
    # input_divisor is what load_samples uses: raw pixels go in unchanged when the model rescales
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        model = _model((4, 4, 1), keras.layers.Rescaling(1 / 255.0), keras.layers.Flatten(),
                       keras.layers.Dense(2, **random_init(1)))
        model.save(Path(folder) / "r.keras")
        network = build_network(read_model(Path(folder) / "r.keras"))
    assert input_divisor(network) == 1.0


def test_reshape_flatten_and_identity_layers(tmp_path):
    import keras

    layers = keras.layers
    model = _model((24,), layers.Reshape((4, 3, 2)), layers.GaussianNoise(0.5),
                   layers.Conv2D(3, 2, activation="relu", **random_init(1)),
                   layers.SpatialDropout2D(0.5), layers.Reshape((-1,)),
                   layers.GaussianDropout(0.3), layers.Dropout(0.5),
                   layers.Dense(6, activation="relu", **random_init(3)),
                   layers.Reshape((2, 3)), layers.Flatten(),
                   layers.Dense(4, activation="softmax", **random_init(5)))
    check_model(model, tmp_path, _inputs((24,)))


def test_two_dimensional_input(tmp_path):
    import keras

    model = _model((5, 6), keras.layers.Flatten(), keras.layers.Dense(4, activation="relu", **random_init(1)),
                   keras.layers.Dense(3, activation="softmax", **random_init(3)))
    check_model(model, tmp_path, _inputs((5, 6)))


def test_two_dimensional_input_reshaped_for_conv(tmp_path):
    import keras

    model = _model((6, 5), keras.layers.Rescaling(0.5, offset=0.25), keras.layers.Reshape((6, 5, 1)),
                   keras.layers.Conv2D(2, 3, activation="relu", **random_init(1)),
                   keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                   keras.layers.Dense(3, activation="softmax", **random_init(3)))
    check_model(model, tmp_path, _inputs((6, 5)))


# --- Outputs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("last", ["sigmoid", "linear"])
def test_outputs_that_are_not_softmax(tmp_path, last):
    import keras

    model = _model((4, 4, 1), keras.layers.Conv2D(2, 2, activation="relu", **random_init(1)),
                   keras.layers.Flatten(), keras.layers.Dense(3, activation=last, **random_init(3)))
    check_model(model, tmp_path, _inputs((4, 4, 1)))


def test_many_classes(tmp_path):
    import keras

    many = _model((6,), keras.layers.Dense(13, activation="softmax", **random_init(2)))
    check_model(many, tmp_path, _inputs((6,)), name="many")


def test_single_sigmoid_output(tmp_path):
    """A binary classifier: one sigmoid output."""
    import keras

    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    model = _model((6,), keras.layers.Dense(3, activation="relu", **random_init(1)),
                   keras.layers.Dense(1, activation="sigmoid", **random_init(2)))
    model.save(tmp_path / "one.keras")
    workbook = FormulasWorkbook(build(tmp_path / "one.keras", tmp_path / "one.xlsx").path)
    inputs = _inputs((6,))
    for x, expected in zip(inputs, model.predict(inputs, verbose=0)):
        got = workbook.probabilities(x)
        assert got.shape == (1,)
        assert_matches(got, expected)


# --- Activations -------------------------------------------------------------------------------

FUSED = ["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "softplus", "softsign",
         "hard_sigmoid", "swish", "silu", "relu6", "leaky_relu", "hard_silu", "mish", "exponential"]


@pytest.mark.parametrize("name", FUSED)
def test_fused_activation_on_dense(tmp_path, name):
    import keras

    # Wide inputs and weights so every branch (large negative, around zero, large positive) is taken.
    model = _model((6,), keras.layers.Dense(8, activation=name, **random_init(1)),
                   keras.layers.Dense(3, **random_init(3)))
    check_model(model, tmp_path, _inputs((6,), count=4, low=-6, high=6))


@pytest.mark.parametrize("name", ["sigmoid", "elu", "selu", "softplus", "swish", "hard_sigmoid", "softsign"])
def test_fused_activation_on_conv_and_as_layer(tmp_path, name):
    import keras

    model = _model((4, 4, 1), keras.layers.Conv2D(2, 2, activation=name, **random_init(1)),
                   keras.layers.Flatten(), keras.layers.Dense(4, **random_init(3)),
                   keras.layers.Activation(name), keras.layers.Dense(3, **random_init(5)))
    check_model(model, tmp_path, _inputs((4, 4, 1), low=-4, high=4))


def test_activations_never_overflow(tmp_path):
    """Huge pre-activations: EXP must not overflow in either branch of an IF."""
    import keras

    layers = keras.layers
    big = keras.initializers.Constant(300.0)
    model = _model((2,), layers.Dense(2, kernel_initializer=big, bias_initializer="zeros"),
                   layers.Activation("elu"), layers.Dense(2, kernel_initializer=big),
                   layers.Activation("sigmoid"), layers.Dense(2, kernel_initializer=big),
                   layers.Activation("softplus"), layers.Dense(2, kernel_initializer=big),
                   layers.Activation("swish"), layers.Dense(2, kernel_initializer=big),
                   layers.Activation("selu"), layers.Dense(2, kernel_initializer=big),
                   layers.Activation("mish"), layers.Dense(2, kernel_initializer=big),
                   layers.Activation("log_sigmoid"), layers.Dense(2, kernel_initializer=keras.initializers.Constant(-1.0)),
                   layers.Activation("softmax"))
    check_model(model, tmp_path, np.array([[3.0, 4.0], [-3.0, -4.0], [3.0, -4.1]], dtype="float32"))


@pytest.mark.parametrize("options", [
    {},
    {"max_value": 1.5},
    {"negative_slope": 0.1},
    {"threshold": 0.3},
    {"threshold": 1.0},
    {"max_value": 6.0},
    {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.5},
    {"negative_slope": 0.3, "threshold": 0.5},
])
def test_relu_layer_options(tmp_path, options):
    import keras

    model = _model((6,), keras.layers.Dense(8, **random_init(1)), keras.layers.ReLU(**options),
                   keras.layers.Dense(3, **random_init(3)))
    check_model(model, tmp_path, _inputs((6,), count=4, low=-3, high=3))


@pytest.mark.parametrize("layer", ["LeakyReLU", "LeakyReLU(0.05)", "ELU", "ELU(0.5)", "Softmax"])
def test_activation_layers(tmp_path, layer):
    import keras

    layers = keras.layers
    make = {"LeakyReLU": lambda: layers.LeakyReLU(), "LeakyReLU(0.05)": lambda: layers.LeakyReLU(negative_slope=0.05),
            "ELU": lambda: layers.ELU(), "ELU(0.5)": lambda: layers.ELU(alpha=0.5),
            "Softmax": lambda: layers.Softmax()}[layer]
    model = _model((4, 4, 1), layers.Conv2D(2, 2, **random_init(1)),
                   *( [make()] if layer != "Softmax" else []), layers.Flatten(),
                   layers.Dense(4, **random_init(3)), make(), layers.Dense(3, **random_init(5)))
    check_model(model, tmp_path, _inputs((4, 4, 1), low=-2, high=2))


# --- Functional and file formats ----------------------------------------------------------------

def test_functional_chain_with_many_layer_kinds_saved_as_keras3_h5(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((6, 6, 1))
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(3, 3, padding="same", **random_init(1))(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.1)(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(4, activation="sigmoid", **random_init(3))(x)
    model = keras.Model(inputs, x)
    _set_bn_statistics(model.layers[3], 4)
    check_saved(model, tmp_path / "k3.h5", _inputs((6, 6, 1), low=0, high=255), tmp_path)


def _keras2():
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    return tf_keras


def test_keras2_h5_many_layers(tmp_path):
    tfk = _keras2()
    L = tfk.layers
    init = dict(kernel_initializer="random_normal", bias_initializer="random_normal")
    model = tfk.Sequential([
        L.Rescaling(1 / 255.0, input_shape=(7, 7, 2)),
        L.Conv2D(3, (3, 2), padding="same", strides=(2, 1), activation="elu", **init),
        L.BatchNormalization(),
        L.LeakyReLU(),                          # Keras 2 default: alpha = 0.3
        L.AveragePooling2D(2, strides=1, padding="same"),
        L.Conv2D(3, 2, activation="selu", **init),
        L.MaxPooling2D((2, 2), padding="same"),
        L.SpatialDropout2D(0.2),
        L.GlobalAveragePooling2D(),
        L.Dense(5, activation="hard_sigmoid", **init),   # Keras 2: 0.2 x + 0.5
        L.Dropout(0.5),
        L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2),
        L.Dense(4, activation="softmax", **init),
    ])
    _set_bn_statistics(model.layers[2], 5)
    check_saved(model, tmp_path / "k2.h5", _inputs((7, 7, 2), low=0, high=255), tmp_path)


def test_keras2_h5_functional_and_activation_layers(tmp_path):
    tfk = _keras2()
    L = tfk.layers
    init = dict(kernel_initializer=tfk.initializers.RandomNormal(0, 1.5), bias_initializer="random_normal")
    inputs = tfk.Input((12,))
    x = L.Reshape((2, 3, 2))(inputs)
    x = L.Conv2D(2, 2, padding="same", **init)(x)
    x = L.Activation("hard_sigmoid")(x)
    x = L.GlobalMaxPooling2D()(x)
    x = L.Dense(6, activation="softplus", **init)(x)
    x = L.LeakyReLU(alpha=0.05)(x)
    x = L.Dense(5, activation="swish", **init)(x)
    x = L.ELU(alpha=0.7)(x)
    x = L.Dense(3, activation="linear", **init)(x)
    model = tfk.Model(inputs, x)
    check_saved(model, tmp_path / "k2f.h5", _inputs((12,), low=-3, high=3), tmp_path)


def test_keras2_hard_sigmoid_differs_from_keras3(tmp_path):
    """The same config means 0.2x+0.5 in a Keras 2 file and relu6(x+3)/6 in a Keras 3 file."""
    import keras

    tfk = _keras2()
    x = np.array([[-2.0, 1.0]], dtype="float32")
    k3 = _model((2,), keras.layers.Dense(2, kernel_initializer="identity", bias_initializer="zeros",
                                         activation="hard_sigmoid"))
    k2 = tfk.Sequential([tfk.layers.Dense(2, kernel_initializer="identity", bias_initializer="zeros",
                                          activation="hard_sigmoid", input_shape=(2,))])
    k3.save(tmp_path / "k3.keras")
    k2.save(tmp_path / "k2.h5")
    got3 = _workbook_outputs(tmp_path / "k3.keras", x, tmp_path)[0]
    got2 = _workbook_outputs(tmp_path / "k2.h5", x, tmp_path)[0]
    np.testing.assert_allclose(got3, [-2 / 6 + 0.5, 1 / 6 + 0.5], rtol=1e-6)
    np.testing.assert_allclose(got2, [0.1, 0.7], rtol=1e-6)


# --- LibreOffice -------------------------------------------------------------------------------

@pytest.mark.libreoffice
def test_new_layers_in_libreoffice(tmp_path, libreoffice):
    """LibreOffice and `formulas` can disagree on functions: the new layers in a real spreadsheet."""
    import keras

    layers = keras.layers
    model = _model((6, 6, 2),
                   layers.Rescaling(1 / 255.0, offset=-0.2),
                   layers.Conv2D(3, (3, 2), padding="same", activation="elu", **random_init(1)),
                   layers.BatchNormalization(),
                   layers.LeakyReLU(0.1),
                   layers.AveragePooling2D(3, strides=2, padding="same"),
                   layers.Conv2D(3, 2, activation="selu", **random_init(2)),
                   layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.1),
                   layers.GlobalMaxPooling2D(),
                   layers.Dense(6, activation="softplus", **random_init(3)),
                   layers.Activation("sigmoid"),
                   layers.Dense(6, activation="swish", **random_init(4)),
                   layers.Activation("tanh"),
                   layers.Dense(6, activation="hard_sigmoid", **random_init(5)),
                   layers.Activation("softsign"),
                   layers.Dense(5, activation="mish", **random_init(6)),
                   layers.Dense(4, activation="softmax", **random_init(7)))
    _set_bn_statistics(model.layers[2], 8)
    model.save(tmp_path / "lo.keras")
    from excelnet.convert import build

    build(tmp_path / "lo.keras", tmp_path / "lo.xlsx")
    inputs = _inputs((6, 6, 2), count=2, low=0, high=255)
    expected = model.predict(inputs, verbose=0)
    libreoffice.open(tmp_path / "lo.xlsx")
    for i, x in enumerate(inputs):
        assert_matches(libreoffice.probabilities(x), expected[i], f"input {i}:")
    assert libreoffice.errors() == {}


def test_augmentation_layers_are_identity_at_inference(tmp_path):
    import keras

    layers = keras.layers
    model = _model((6, 6, 1), layers.RandomFlip(), layers.RandomRotation(0.1), layers.RandomZoom(0.1),
                   layers.RandomTranslation(0.1, 0.1), layers.RandomContrast(0.2),
                   layers.Conv2D(2, 3, activation="relu", **random_init(1)), layers.Flatten(),
                   layers.Dense(3, activation="softmax", **random_init(2)))
    check_model(model, tmp_path, _inputs((6, 6, 1), low=0, high=1))


def test_per_channel_rescaling_and_batch_norm_on_a_2d_input(tmp_path):
    """Keras' channel axis is the last one: the columns of an (H, W) input, the channels of an image."""
    import keras

    layers = keras.layers
    bn = layers.BatchNormalization()
    model = _model((4, 5), layers.Rescaling([0.5, 1.0, 2.0, -1.0, 0.25], offset=np.array([0.1, 0.2, 0.3, 0.4, 0.5])),
                   bn, layers.Reshape((4, 5, 1)), layers.Conv2D(3, 2, **random_init(1)),
                   layers.Rescaling([0.5, 2.0, 3.0], offset=-0.1),
                   layers.Flatten(), layers.Dense(3, activation="softmax", **random_init(2)))
    _set_bn_statistics(bn, 3)
    check_model(model, tmp_path, _inputs((4, 5)))


CLASSIC_FUNCTIONS = {"SUMPRODUCT", "SUM", "MAX", "MIN", "AVERAGE", "EXP", "LN", "SQRT", "ABS", "TANH", "IF",
                     "INDEX", "MATCH", "VALUE", "MID",
                     # the Explain sheet and the strokes: as old as the rest (Excel 2007+, LibreOffice, Sheets)
                     "AND", "CHOOSE", "IFERROR", "INT", "MOD", "ISNUMBER", "LARGE", "SMALL", "COUNT",
                     "OR"}       # the Magnifier: whether any row of its list is picked


def test_formulas_use_only_classic_functions():
    """Functions Excel 2010+, LibreOffice and Google Sheets all have; no LAMBDA, LET, OFFSET, INDIRECT."""
    import re

    from excelnet.ops import build_network
    from excelnet.reader.spec import LayerSpec, ModelSpec
    from excelnet.sheet import Formula
    from excelnet.workbook.build import plan_workbook

    rng = np.random.default_rng(0)

    def w(*shape):
        return rng.normal(size=shape).astype("float32")

    layers = [LayerSpec("Rescaling", "r", {"scale": 0.5, "offset": 0.1}),
              LayerSpec("Conv2D", "c", {"padding": "same", "activation": "selu"}, (w(2, 2, 2, 3), w(3))),
              LayerSpec("BatchNormalization", "bn", {}, (w(3), w(3), w(3), np.ones(3, "float32"))),
              LayerSpec("AveragePooling2D", "ap", {"pool_size": 2, "padding": "same"}),
              LayerSpec("MaxPooling2D", "mp", {"pool_size": 2, "strides": 1})]
    layers += [LayerSpec("Activation", f"a_{name}", {"activation": name}) for name in FUSED if name != "softmax"]
    layers += [LayerSpec("ReLU", "rl", {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5}),
               LayerSpec("LeakyReLU", "lr", {"negative_slope": 0.1}), LayerSpec("ELU", "el", {"alpha": 0.5}),
               LayerSpec("GlobalAveragePooling2D", "gap", {}),
               LayerSpec("Dense", "d", {"activation": "swish"}, (w(3, 4), w(4))),
               LayerSpec("Dense", "out", {"activation": "softmax"}, (w(4, 3), w(3)))]
    network = build_network(ModelSpec("m", (5, 5, 2), tuple(layers)))
    used = set()
    for sheet in plan_workbook(network).sheets:
        for value in sheet.cells.values():
            if isinstance(value, Formula):
                used |= set(re.findall(r"([A-Z][A-Z0-9.]*)\(", re.sub(r"'(?:[^']|'')*'!", "", value.expression)))
    assert used <= CLASSIC_FUNCTIONS, used - CLASSIC_FUNCTIONS


def test_conv2d_stride_that_skips_columns(tmp_path):
    """Kernel 1x2, stride 2 on a width of 3: the last column is never read. (TensorFlow's batched
    oneDNN kernel gets this wrong, so Keras is asked one example at a time.)"""
    import keras

    model = _model((3, 3, 1), keras.layers.Conv2D(1, (1, 2), strides=(1, 2), use_bias=False, **{
        "kernel_initializer": random_init(4)["kernel_initializer"]}),
                   keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax", **random_init(5)))
    check_saved(model, tmp_path / "skip.keras", _inputs((3, 3, 1)), tmp_path)


@pytest.mark.parametrize("last,words", [("softmax", "add up to 1"), ("sigmoid", "between 0 and 1"),
                                        ("linear", "Raw scores"), ("tanh", "tanh outputs")])
def test_network_says_what_its_outputs_are(last, words):
    from excelnet.ops import build_network
    from excelnet.reader.spec import LayerSpec, ModelSpec

    dense = LayerSpec("Dense", "d", {"activation": last}, (np.ones((3, 2), "float32"), np.zeros(2, "float32")))
    network = build_network(ModelSpec("m", (3,), (dense,)))
    assert network.output_activation == last
    assert words in network.output_description


def test_keras2_native_keras_archive(tmp_path):
    """tf_keras can also write the .keras zip; its weights are found by class order (conv2d, dense_1...)."""
    tfk = _keras2()
    L = tfk.layers
    init = dict(kernel_initializer="random_normal", bias_initializer="random_normal")
    model = tfk.Sequential([L.Conv2D(2, 3, activation="relu", input_shape=(5, 5, 1), **init),
                            L.BatchNormalization(), L.Flatten(),
                            L.Dense(3, activation="hard_sigmoid", **init), L.Dense(3, activation="softmax", **init)])
    _set_bn_statistics(model.layers[1], 2)
    check_saved(model, tmp_path / "k2.keras", _inputs((5, 5, 1), low=0, high=1), tmp_path)


@pytest.mark.parametrize("h, w", [(1, 1), (1, 3), (2, 1), (2, 2), (3, 2)])
def test_pooling_window_in_two_pieces_names_every_cell_once(h, w):
    """Every other row of a pooling picture writes its window as two ranges (ops/cells.turned);
    SUM(window)/n (average pooling that counts the padding) needs each cell exactly once."""
    from collections import Counter

    from excelnet.layout import Rect
    from excelnet.ops.pooling import _in_two_pieces

    window = Rect("p", 3 + 1, 2 + 2, h, w)
    pieces = _in_two_pieces(window)
    cells = Counter((p.row + r, p.col + c) for p in pieces for r in range(p.rows) for c in range(p.cols))
    want = Counter((3 + 1 + r, 2 + 2 + c) for r in range(h) for c in range(w))
    assert cells == want
    assert len(pieces) == (1 if h * w == 1 else 2) and all(p.sheet == "p" for p in pieces)
