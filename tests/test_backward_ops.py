"""The backward rule of every layer family in ops/activations, convolution, pooling and
elementwise: backward_reference equals tf.GradientTape on the equivalent Keras layer (float32),
and emit_backward's formulas equal backward_reference — in the `formulas` library for every
case, in LibreOffice for a few. Relu at exactly 0 and max-pooling ties are exercised on purpose."""

from __future__ import annotations

import re

import numpy as np
import pytest

from backward_harness import (FormulasValues, LibreOfficeValues, assert_gradients_close, op_from_keras,
                              plan_backward, tf_gradients)
from excelnet.sheet import Formula

KINKS = np.array([-6, -4.5, -3, -2, -1.3, -0.5, 0, 0.4, 1.2, 2.5, 3, 4.4, 6, 7, 0], dtype=np.float32)


def _initializers(seed: int) -> dict:
    import keras

    return dict(kernel_initializer=keras.initializers.RandomNormal(0, 0.5, seed=seed),
                bias_initializer=keras.initializers.RandomNormal(0, 0.5, seed=seed + 1))


def _batch_norm(**options):
    import keras

    init = keras.initializers
    return keras.layers.BatchNormalization(
        gamma_initializer=init.RandomUniform(0.5, 1.5, seed=3), beta_initializer=init.RandomNormal(0, 0.5, seed=9),
        moving_mean_initializer=init.RandomNormal(0, 0.3, seed=4),
        moving_variance_initializer=init.RandomUniform(0.5, 2, seed=5), **options)


def conv(filters, kernel, shape, strides=1, padding="valid", activation="linear", use_bias=True, x="normal"):
    def make():
        import keras

        return keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation,
                                   use_bias=use_bias, **_initializers(1))
    return make, shape, x


def keras_layer(class_name, shape, x="normal", *args, **options):
    def make():
        import keras

        return getattr(keras.layers, class_name)(*args, **options)
    return make, shape, x


def norm(shape, **options):
    return (lambda: _batch_norm(**options)), shape, "normal"


CASES = {
    "conv-1ch-3x2-valid-linear": conv(3, (3, 2), (5, 6, 1)),
    "conv-3ch-3x3-stride2-same-relu": conv(3, 3, (5, 6, 3), strides=2, padding="same", activation="relu"),
    "conv-2ch-2x3-stride2-valid-swish-nobias": conv(2, (2, 3), (7, 5, 2), strides=2, activation="swish",
                                                    use_bias=False),
    "conv-2ch-2x2-stride1x2-same-tanh": conv(3, 2, (4, 5, 2), strides=(1, 2), padding="same", activation="tanh"),
    "conv-1x2-stride2-skips-columns-sigmoid": conv(2, (1, 2), (3, 3, 1), strides=2, activation="sigmoid"),
    "conv-4x4-stride3-same-elu": conv(2, 4, (5, 5, 2), strides=3, padding="same", activation="elu"),
    # no bias and a zero corner: some sums are exactly 0, where relu'(0) must be 0
    "conv-relu-at-exactly-zero": conv(2, 2, (5, 5, 2), activation="relu", use_bias=False, x="zero-corner"),
    "maxpool-2-ties": keras_layer("MaxPooling2D", (4, 5, 2), "ties", 2),
    "maxpool-3-stride1-overlapping-ties": keras_layer("MaxPooling2D", (5, 5, 1), "ties", 3, strides=1),
    "maxpool-3-stride2-same-ties": keras_layer("MaxPooling2D", (5, 6, 2), "ties", 3, strides=2, padding="same"),
    "maxpool-2x3-stride1x2-same-ties": keras_layer("MaxPooling2D", (4, 5, 1), "ties", (2, 3), strides=(1, 2),
                                                   padding="same"),
    "maxpool-2-stride3-gaps": keras_layer("MaxPooling2D", (7, 7, 1), "ties", 2, strides=3),
    # windows of more than 9 cells find their winner with MAX/MATCH, not by comparing every cell
    "maxpool-4x3-stride2-same-ties-match": keras_layer("MaxPooling2D", (6, 7, 2), "ties", (4, 3), strides=2,
                                                       padding="same"),
    "avgpool-2": keras_layer("AveragePooling2D", (4, 4, 2), "normal", 2),
    "avgpool-3-stride2-same": keras_layer("AveragePooling2D", (5, 6, 2), "normal", 3, strides=2, padding="same"),
    "avgpool-2-stride3-gaps": keras_layer("AveragePooling2D", (7, 7, 1), "normal", 2, strides=3),
    "globalmax-ties": keras_layer("GlobalMaxPooling2D", (3, 4, 2), "ties"),
    "globalmax": keras_layer("GlobalMaxPooling2D", (3, 4, 2), "normal"),
    "globalavg": keras_layer("GlobalAveragePooling2D", (3, 4, 2), "normal"),
    "batchnorm-image": norm((3, 4, 2)),
    "batchnorm-vector-no-center": norm((5,), center=False),
    "batchnorm-picture-no-scale": norm((3, 4), scale=False),
    "rescaling": keras_layer("Rescaling", (3, 3, 2), "normal", 1 / 255, 0.5),
    "rescaling-per-channel": keras_layer("Rescaling", (2, 2, 3), "normal", [0.5, 2.0, -1.0]),
}


def prelu(shape, shared_axes=None):
    def make():
        import keras
        return keras.layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.8, seed=7),
                                  shared_axes=shared_axes)
    return make, shape, "zero-corner"


CASES.update({
    "zeropadding-asymmetric": keras_layer("ZeroPadding2D", (3, 4, 2), "normal", ((1, 0), (2, 1))),
    "zeropadding-1": keras_layer("ZeroPadding2D", (2, 2, 1), "normal", 1),
    # a zero corner: PReLU's slope at exactly 0 is 0 in TensorFlow (relu(x) − alpha·relu(−x))
    "prelu-per-cell": prelu((4, 4, 2)),
    "prelu-per-channel": prelu((4, 4, 3), shared_axes=[1, 2]),
    "prelu-one-alpha": prelu((4, 4, 2), shared_axes=[1, 2, 3]),
    "prelu-per-pixel-shared-channels": prelu((4, 3, 3), shared_axes=[3]),
    "prelu-vector": keras_layer("PReLU", (6,), "normal"),
})


def _activation_case(name, *args, **options):
    return keras_layer(name, (KINKS.size,), "kinks", *args, **options)


ACTIVATIONS = {f"activation-{name}": _activation_case("Activation", name) for name in (
    "linear", "relu", "sigmoid", "tanh", "softplus", "softsign", "swish", "silu", "relu6", "exponential",
    "hard_silu", "mish", "log_sigmoid", "hard_tanh", "tanh_shrink", "leaky_relu", "elu", "selu", "hard_sigmoid")}
ACTIVATIONS.update({
    "ReLU": _activation_case("ReLU"),
    "ReLU-max6": _activation_case("ReLU", max_value=6.0),
    "ReLU-max4": _activation_case("ReLU", max_value=4.0),
    "ReLU-slope-threshold-max": _activation_case("ReLU", max_value=4.0, negative_slope=0.1, threshold=0.5),
    "ReLU-slope-max": _activation_case("ReLU", max_value=2.0, negative_slope=0.3),
    "ReLU-slope": _activation_case("ReLU", negative_slope=0.1),
    "ReLU-threshold": _activation_case("ReLU", threshold=1.0),
    "LeakyReLU": _activation_case("LeakyReLU", 0.3),
    "ELU-half": _activation_case("ELU", 0.5),
    "ELU-negative-alpha": _activation_case("ELU", -0.5),
    "activation-relu-on-an-image": keras_layer("Activation", (3, 3, 2), "zero-corner", "relu"),
})
ALL = {**CASES, **ACTIVATIONS}


def _input(kind: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "ties":                     # few distinct values: windows with several maxima
        return rng.integers(0, 3, size=shape).astype(np.float32)
    if kind == "kinks":                    # relu at exactly 0, relu6 at 6, hard_sigmoid at ±3, ...
        return KINKS.reshape(shape)
    x = rng.normal(size=shape).astype(np.float32)
    if kind == "zero-corner":
        x[:3, :3] = 0
    return x


def _setup(case_id: str):
    make, shape, kind = ALL[case_id]
    layer = make()
    layer.build((None,) + tuple(shape))
    op = op_from_keras(layer, shape)
    seed = sum(map(ord, case_id))
    x = _input(kind, shape, seed)
    grad = np.random.default_rng(seed + 1).normal(size=op.output_shape).astype(np.float32)
    return layer, op, x, grad


@pytest.mark.parametrize("case_id", list(ALL))
def test_reference_matches_tensorflow(case_id):
    layer, op, x, grad = _setup(case_id)
    want_x, want_w = tf_gradients(layer, x, grad)
    got_x, got_w = op.backward_reference(x, grad)
    assert_gradients_close(got_x, want_x, f"{case_id} ∂loss/∂x")
    assert len(got_w) == len(want_w) == len(op.weight_arrays())
    for k, (got, want) in enumerate(zip(got_w, want_w), start=1):
        assert_gradients_close(got, want, f"{case_id} ∂loss/∂weights {k}")


def test_the_tensorflow_cases_include_ties_and_relu_at_zero():
    """The inputs really hold what the cases claim: windows with tied maxima, sums exactly 0."""
    _, pool, x, _ = _setup("maxpool-2-ties")
    windows = x[:4, :4].reshape(2, 2, 2, 2, 2).transpose(0, 2, 4, 1, 3).reshape(2, 2, 2, 4)
    assert ((windows == windows.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).any()
    _, conv_op, x, _ = _setup("conv-relu-at-exactly-zero")
    assert (conv_op._pre_activation(x) == 0).any()


def _check_formulas(plan, values, op, x, grad):
    want_x, want_w = op.backward_reference(x, grad)
    assert_gradients_close(values.tensor(plan.d_x), want_x, "∂loss/∂x")
    assert len(plan.d_weights) == len(want_w)
    for k, (cells, want) in enumerate(zip(plan.d_weights, want_w), start=1):
        assert [(a.rows, a.cols) for a in cells.areas] == [(a.rows, a.cols) for a in plan.params.arrays[k - 1].areas]
        assert_gradients_close(values.weights(cells), want, f"∂loss/∂weights {k}")


# test_layers' classic functions, and COUNTIF (every spreadsheet has it: the global max's ties)
CLASSIC = {"SUMPRODUCT", "SUM", "MAX", "MIN", "AVERAGE", "EXP", "LN", "SQRT", "ABS", "TANH", "IF", "INDEX",
           "MATCH", "VALUE", "MID", "COUNTIF"}


def _check_plain_formulas(plan):
    """Short formulas with classic functions only (no OFFSET, INDIRECT, IFERROR, array formulas)."""
    used = set()
    for cell in plan.sheets[-1].cells.values():
        if isinstance(cell, Formula):
            assert len(cell.expression) < 8192
            used |= set(re.findall(r"([A-Z][A-Z0-9.]*)\(", re.sub(r"'(?:[^']|'')*'!", "", cell.expression)))
    assert used <= CLASSIC, used - CLASSIC


@pytest.mark.parametrize("case_id", list(ALL))
def test_formulas_match_reference(case_id, tmp_path):
    _, op, x, grad = _setup(case_id)
    plan = plan_backward(op, x, grad, tmp_path / "b.xlsx")
    _check_plain_formulas(plan)
    _check_formulas(plan, FormulasValues(plan.path), op, x, grad)


def test_conv_recomputes_the_sums_when_the_forward_kept_none(tmp_path):
    _, op, x, grad = _setup("conv-2ch-2x3-stride2-valid-swish-nobias")
    plan = plan_backward(op, x, grad, tmp_path / "b.xlsx", forget_pre_activation=True)
    _check_formulas(plan, FormulasValues(plan.path), op, x, grad)


def test_a_switched_off_filter_gets_no_gradient_and_sends_none(tmp_path):
    """Switch cell 0: the filter's kernel and bias gradients are 0 and its share of ∂loss/∂x vanishes,
    i.e. exactly the gradients of the same layer with that filter's upstream gradient zeroed."""
    _, op, x, grad = _setup("conv-3ch-3x3-stride2-same-relu")
    plan = plan_backward(op, x, grad, tmp_path / "b.xlsx")
    switch = plan.params.switches[1]
    values = FormulasValues(plan.path, {(switch.sheet, switch.row, switch.col): 0.0})
    silenced = grad.copy()
    silenced[..., 1] = 0
    _check_formulas(plan, values, op, x, silenced)
    assert np.all(values.weights(plan.d_weights[0])[..., 1] == 0)
    assert np.any(values.weights(plan.d_weights[0])[..., 0] != 0)


def test_softmax_passes_the_loss_gradient_through():
    from excelnet.ops.elementwise import SoftmaxOp

    softmax = SoftmaxOp("s", (4,), (4,))
    g = np.array([0.1, -0.9, 0.3, 0.5])
    d_x, d_w = softmax.backward_reference(np.zeros(4), g)
    assert np.array_equal(d_x, g) and d_w == ()
    assert softmax.has_backward


LIBREOFFICE_CASES = ["conv-3ch-3x3-stride2-same-relu", "conv-2ch-2x3-stride2-valid-swish-nobias",
                     "maxpool-3-stride1-overlapping-ties", "maxpool-4x3-stride2-same-ties-match", "globalmax-ties",
                     "avgpool-3-stride2-same", "batchnorm-image", "ReLU-slope-threshold-max", "activation-relu",
                     "prelu-per-channel", "zeropadding-asymmetric"]


@pytest.mark.parametrize("case_id", LIBREOFFICE_CASES)
def test_libreoffice_matches_reference(case_id, tmp_path, libreoffice):
    _, op, x, grad = _setup(case_id)
    plan = plan_backward(op, x, grad, tmp_path / "b.xlsx")
    _check_formulas(plan, LibreOfficeValues(libreoffice, plan), op, x, grad)
    assert libreoffice.errors() == {}


def test_libreoffice_switch_off(tmp_path, libreoffice):
    _, op, x, grad = _setup("conv-3ch-3x3-stride2-same-relu")
    plan = plan_backward(op, x, grad, tmp_path / "b.xlsx")
    switch = plan.params.switches[2]
    values = LibreOfficeValues(libreoffice, plan, {(switch.sheet, switch.row, switch.col): 0.0})
    silenced = grad.copy()
    silenced[..., 2] = 0
    _check_formulas(plan, values, op, x, silenced)


def test_mirror_places_areas_shaped_like_the_weights():
    """ops.backward.mirror: empty areas of the same shapes, in the same order, on another sheet,
    so a gradient or an updated copy lines up with the weights element for element."""
    from backward_harness import _place
    from excelnet.ops.backward import mirror
    from excelnet.ops.base import Book
    from excelnet.workbook.naming import SheetNamer

    _, op, x, grad = _setup("conv-3ch-3x3-stride2-same-relu")
    book = Book(SheetNamer())
    source = book.add_sheet("In", "layer")
    op.emit(book.add_sheet("Forward", "layer"), _place(source, op.input_shape, x), book)
    kernel = book.params[0].arrays[0]
    sheet = book.add_sheet("Copy", "layer")
    copy = mirror(sheet, kernel, "∂loss/∂filters")
    assert copy.sheet == "Copy" and len(copy.areas) == len(kernel.areas)
    assert [(a.rows, a.cols) for a in copy.areas] == [(a.rows, a.cols) for a in kernel.areas]
    positions = {copy.position(idx) for idx in np.ndindex(*kernel.shape)}
    assert len(positions) == kernel.area_index.size          # every element its own cell
    for idx in [(0, 0, 0, 0), (2, 1, 2, 2)]:
        (r, c), (r0, c0) = copy.position(idx), kernel.position(idx)
        area = int(kernel.area_index[idx])
        assert (r - copy.areas[area].row, c - copy.areas[area].col) == (r0 - kernel.areas[area].row,
                                                                        c0 - kernel.areas[area].col)


# --- ONNX's constant arithmetic and `build --normalize`: the "Affine" op ----------------------------

AFFINE_CASES = {
    "normalize-per-channel": ({"mean": [0.1, -0.2, 0.3], "std": [0.5, 2.0, 0.25]}, (3, 4, 3)),
    "normalize-one-value": ({"mean": [0.1307], "std": [0.3081]}, (4, 4, 1)),
    "scale-and-shift-vector": ({"scale": [2.0, -0.5, 1.5, 3.0], "offset": [0.1, 0.2, 0.3, 0.4]}, (4,)),
}


def _affine(case_id):
    from excelnet.ops import CONVERTERS
    from excelnet.ops.base import Context
    from excelnet.reader.spec import LayerSpec

    config, shape = AFFINE_CASES[case_id]
    op = CONVERTERS["Affine"](LayerSpec("Affine", case_id, config), shape, Context("3"))
    rng = np.random.default_rng(sum(map(ord, case_id)))
    return op, config, rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("case_id", list(AFFINE_CASES))
def test_affine_backward_matches_tensorflow_and_its_formulas(case_id, tmp_path):
    import tensorflow as tf

    op, config, x, grad = _affine(case_id)
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        if "std" in config:
            out = (inputs - tf.constant(config["mean"], tf.float32)) / tf.constant(config["std"], tf.float32)
        else:
            out = inputs * tf.constant(config["scale"], tf.float32) + tf.constant(config["offset"], tf.float32)
        loss = tf.reduce_sum(out * tf.constant(grad))
    want, _ = op.backward_reference(x, grad)
    assert_gradients_close(want, tape.gradient(loss, inputs).numpy(), f"{case_id}: reference vs TensorFlow")
    plan = plan_backward(op, x, grad, tmp_path / f"{case_id}.xlsx")
    assert_gradients_close(FormulasValues(plan.path).tensor(plan.d_x), want, f"{case_id}: formulas")
