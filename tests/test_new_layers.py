"""ZeroPadding2D, PReLU, gelu and nested augmentation blocks: workbook (formulas) == Keras,
random non-zero weights, fixed seeds; and in a real LibreOffice (ERF is a spreadsheet
function the `formulas` library implements on its own)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_matches, check_model, random_init


def _inputs(shape, count=3, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, (count,) + tuple(shape)).astype("float32")


def _model(input_shape, *layers):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *layers])


def _alphas(seed: int):
    import keras

    return keras.initializers.RandomNormal(0.2, 0.5, seed=seed)      # some alphas negative, none zero


@pytest.mark.parametrize("padding", [1, (2, 0), ((1, 2), (0, 3))])
def test_zero_padding(tmp_path, padding):
    import keras

    layers = keras.layers
    model = _model((4, 5, 2), layers.ZeroPadding2D(padding), layers.Conv2D(3, 3, **random_init(1)),
                   layers.Flatten(), layers.Dense(3, activation="softmax", **random_init(2)))
    check_model(model, tmp_path, _inputs((4, 5, 2)))


@pytest.mark.parametrize("shared_axes", [None, [1, 2], [1, 2, 3], [3]])
def test_prelu_on_feature_maps(tmp_path, shared_axes):
    import keras

    layers = keras.layers
    model = _model((5, 5, 1), layers.Conv2D(3, 2, **random_init(1)),
                   layers.PReLU(alpha_initializer=_alphas(2), shared_axes=shared_axes),
                   layers.Flatten(), layers.Dense(3, **random_init(3)))
    check_model(model, tmp_path, _inputs((5, 5, 1), low=-2, high=2))


def test_prelu_on_vectors_and_a_2d_input(tmp_path):
    import keras

    layers = keras.layers
    model = _model((3, 4), layers.PReLU(alpha_initializer=_alphas(1), shared_axes=[1]), layers.Flatten(),
                   layers.Dense(6, **random_init(2)), layers.PReLU(alpha_initializer=_alphas(3)),
                   layers.Dense(3, activation="softmax", **random_init(4)))
    check_model(model, tmp_path, _inputs((3, 4), low=-3, high=3))


def test_prelu_alphas_are_weights_with_a_defined_name(tmp_path):
    import keras

    from excelnet.convert import build

    model = _model((2, 3, 2), keras.layers.PReLU(alpha_initializer=_alphas(1), shared_axes=[1]),
                   keras.layers.Flatten(), keras.layers.Dense(2, **random_init(2)))
    model.save(tmp_path / "p.keras")
    result = build(tmp_path / "p.keras", tmp_path / "p.xlsx")
    op = result.network.ops[0]
    np.testing.assert_array_equal(op.weight_arrays()[0][1], model.layers[0].get_weights()[0])
    names = {name for sheet in result.plan.sheets for name in sheet.names}
    assert "Weights_1_1" in names


@pytest.mark.parametrize("where", ["Dense", "Conv2D", "Activation"])
def test_gelu(tmp_path, where):
    import keras

    layers = keras.layers
    if where == "Dense":
        body = [layers.Flatten(), layers.Dense(8, activation="gelu", **random_init(1))]
    elif where == "Conv2D":
        body = [layers.Conv2D(2, 2, activation="gelu", **random_init(1)), layers.Flatten()]
    else:
        body = [layers.Flatten(), layers.Dense(8, **random_init(1)), layers.Activation("gelu")]
    model = _model((3, 3, 1), *body, layers.Dense(3, **random_init(2)))
    check_model(model, tmp_path, _inputs((3, 3, 1), count=4, low=-5, high=5))


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_formula_equals_keras(approximate):
    """Both of Keras' gelu forms, formula by formula, over a wide range (the tanh form cannot
    be saved in a model file today, but a serialized {"approximate": true} config selects it)."""
    import formulas
    import keras

    from excelnet.ops.activations import activation

    spec = {"class_name": "gelu", "config": {"approximate": True}} if approximate else "gelu"
    act = activation(spec)
    assert ("TANH(" in act.formula("A1")) == approximate and ("ERF(" in act.formula("A1")) != approximate
    compiled = formulas.Parser().ast("=" + act.formula("A1"))[1].compile()
    xs = np.linspace(-9, 9, 37)
    expected = keras.ops.convert_to_numpy(keras.activations.gelu(xs.astype("float32"), approximate=approximate))
    got = np.array([float(np.asarray(compiled(x)).ravel()[0]) for x in xs])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(act.numpy(xs), expected, rtol=1e-5, atol=1e-6)


def test_nested_augmentation_block_is_identity(tmp_path):
    import keras

    layers = keras.layers
    augment = keras.Sequential([layers.RandomFlip(), layers.RandomRotation(0.1),
                                keras.Sequential([layers.RandomZoom(0.1), layers.Dropout(0.2)], name="inner")],
                               name="augment")
    model = _model((6, 6, 1), augment, layers.Conv2D(2, 3, **random_init(1)), layers.Flatten(),
                   layers.Dense(3, activation="softmax", **random_init(2)))
    check_model(model, tmp_path, _inputs((6, 6, 1), low=0, high=1))
    from excelnet.convert import load_network

    assert ("augment", "Sequential") in load_network(tmp_path / "m.keras").skipped


def test_a_nested_block_that_computes_is_still_refused(tmp_path):
    import keras
    from click.testing import CliRunner

    from excelnet.cli import main

    layers = keras.layers
    block = keras.Sequential([layers.RandomFlip(), layers.Dense(4)], name="block")
    _model((4,), block, layers.Dense(2)).save(tmp_path / "n.keras")
    result = CliRunner().invoke(main, ["build", "-m", str(tmp_path / "n.keras"), "-o", str(tmp_path / "n.xlsx")])
    assert result.exit_code == 1 and "'block' (Sequential)" in result.output and "augmentation" in result.output


def test_keras2_prelu_and_zero_padding(tmp_path):
    import tf_keras

    from test_layers import check_saved

    layers = tf_keras.layers
    tf_keras.utils.set_random_seed(0)
    init = dict(kernel_initializer="random_normal", bias_initializer="random_normal")
    model = tf_keras.Sequential([layers.ZeroPadding2D(((1, 0), (2, 1)), input_shape=(4, 4, 1)),
                                 layers.Conv2D(2, 3, **init),
                                 layers.PReLU(alpha_initializer=tf_keras.initializers.RandomNormal(0.2, 0.5)),
                                 layers.Flatten(), layers.Dense(3, activation="gelu", **init)])
    check_saved(model, tmp_path / "k2.h5", _inputs((4, 4, 1)), tmp_path)


@pytest.mark.libreoffice
def test_new_layers_in_libreoffice(tmp_path, libreoffice):
    import keras

    from excelnet.convert import build

    layers = keras.layers
    model = _model((5, 5, 2), keras.Sequential([layers.RandomFlip()], name="augment"),
                   layers.ZeroPadding2D(((1, 0), (0, 2))), layers.Conv2D(3, 2, activation="gelu", **random_init(1)),
                   layers.PReLU(alpha_initializer=_alphas(2), shared_axes=[1, 2]), layers.Flatten(),
                   layers.Dense(5, **random_init(3)), layers.PReLU(alpha_initializer=_alphas(4)),
                   layers.Activation("gelu"), layers.Dense(3, activation="softmax", **random_init(5)))
    model.save(tmp_path / "lo.keras")
    build(tmp_path / "lo.keras", tmp_path / "lo.xlsx")
    inputs = _inputs((5, 5, 2), count=2, low=-3, high=3)
    libreoffice.open(tmp_path / "lo.xlsx")
    for i, x in enumerate(inputs):
        assert_matches(libreoffice.probabilities(x), model.predict(x[None], verbose=0)[0], f"input {i}:")
    assert libreoffice.errors() == {}


@pytest.mark.slow
@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_learns_as_tensorflow_says(tmp_path, approximate):
    """--learn: the gradients through gelu (both forms) and the step after them equal TensorFlow's."""
    import keras

    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook
    from learn_check import assert_learning, learning_names, read_learning, tf_learning

    layers = keras.layers
    gelu = "gelu"
    if approximate:         # Keras writes no file with approximate=True: a registered function stands in
        @keras.saving.register_keras_serializable(package="excelnet_tests")
        def gelu_tanh(v):
            return keras.activations.gelu(v, approximate=True)

        gelu = gelu_tanh
    model = keras.Sequential([keras.Input((3,)), layers.Dense(3, activation=gelu, **random_init(21)),
                              layers.Activation(gelu), layers.Dense(2, activation="softmax", **random_init(23))])
    model.save(tmp_path / "g.keras")
    source = tmp_path / "g.keras"
    if approximate:        # ... and the config then says it as a stranger's file might
        from hostile_files import edit_keras, layer_configs

        def tanh_form(config):
            for layer in layer_configs(config)[1:3]:
                layer["config"]["activation"] = {"class_name": "gelu", "config": {"approximate": True}}
            return config

        source = edit_keras(source, tmp_path / "g2.keras", config=tanh_form)
    result = build(source, tmp_path / "g.xlsx", learn=True)
    names = learning_names(result)
    workbook = FormulasWorkbook(result.path)
    x = np.array([0.3, -1.9, 1.5], dtype=np.float32)
    typed = {}
    for name, value in (("Target", 1), ("LearningRate", 0.5)):
        area = names[name][0]
        typed[(area.sheet, area.top, area.left)] = value
    values = read_learning(lambda ranges: workbook.read_ranges(x, ranges, typed), names, result)
    assert_learning(values, tf_learning(model, x, 1, 0.5), result.network, "gelu:")
