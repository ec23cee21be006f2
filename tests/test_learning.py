"""excelnet build --learn: gradients, saliency and one gradient-descent step, in formulas,
equal to TensorFlow (GradientTape on −ln p(Target); one SGD step, then predict)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_init, run_cli_without_tensorflow
from learn_check import assert_learning, learning_names, read_learning, tf_learning

RATES = (0.01, 3.0)       # a small step and one large enough to change the prediction


def _dense_models():
    import keras

    layers = keras.layers
    return {
        "flatten-relu-softmax": keras.Sequential([
            keras.Input((4, 3)), layers.Flatten(), layers.Dense(6, activation="relu", **random_init(1)),
            layers.Dense(3, activation="softmax", **random_init(3))]),
        # swish's slope needs the weighted sum itself; a Dense without bias; tanh from its output
        "swish-nobias-tanh": keras.Sequential([
            keras.Input((5,)), layers.Dense(4, activation="swish", **random_init(5)),
            layers.Dense(4, activation="tanh", use_bias=False, **random_init(7)),
            layers.Dense(3, activation="softmax", **random_init(9))]),
        # 120 units: the input gradient is summed in parts (formula length)
        "wide-reshape": keras.Sequential([
            keras.Input((2, 3)), layers.Reshape((6,)), layers.Dense(120, activation="sigmoid", **random_init(11)),
            layers.Dense(2, activation="softmax", **random_init(13))]),
    }


def _conv_models():
    import keras

    layers = keras.layers
    return {
        "conv-same-stride-maxpool": keras.Sequential([
            keras.Input((6, 5, 2)), layers.Conv2D(3, (3, 2), strides=2, padding="same", activation="relu",
                                                  **random_init(31)),
            layers.MaxPooling2D(2, padding="same"), layers.Flatten(),
            layers.Dense(3, activation="softmax", **random_init(33))]),
        "conv-nobias-avgpool-globalmax": keras.Sequential([
            keras.Input((7, 7, 1)), layers.Conv2D(2, 3, use_bias=False, activation="tanh", **random_init(35)),
            layers.AveragePooling2D(2, strides=1), layers.Conv2D(3, 2, activation="swish", **random_init(37)),
            layers.GlobalMaxPooling2D(), layers.Dense(2, activation="softmax", **random_init(39))]),
        "conv-globalaverage": keras.Sequential([
            keras.Input((5, 5, 3)), layers.Conv2D(4, 1, **random_init(41)), layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax", **random_init(43))]),
        # a blank top half: relu sees exactly 0 (no bias) and max pooling windows tie
        "ties-and-relu-at-zero": keras.Sequential([
            keras.Input((6, 6, 1)), layers.Conv2D(2, 2, use_bias=False, activation="relu", **random_init(45)),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, activation="softmax", **random_init(47))]),
    }


def _elementwise_models():
    import keras

    layers = keras.layers
    norm = dict(gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=51),
                beta_initializer=keras.initializers.RandomNormal(0, 0.3, seed=52),
                moving_mean_initializer=keras.initializers.RandomNormal(0, 0.3, seed=53),
                moving_variance_initializer=keras.initializers.RandomUniform(0.5, 2, seed=54))
    return {
        "rescale-batchnorm-relu6-leaky-elu-softmax-layer": keras.Sequential([
            keras.Input((6, 6, 2)), layers.Rescaling(0.5, offset=0.1), layers.Conv2D(3, 3, **random_init(55)),
            layers.BatchNormalization(**norm), layers.ReLU(max_value=2.0), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(5, **random_init(57)), layers.LeakyReLU(0.1),
            layers.Dense(4, **random_init(59)), layers.ELU(), layers.BatchNormalization(center=False, **{
                k: v for k, v in norm.items() if k != "beta_initializer"}),
            layers.Dense(3, **random_init(61)), layers.Activation("softmax")]),
        # zeros around the maps; PReLU's alphas are weights with gradients (one per channel)
        "zeropadding-prelu": keras.Sequential([
            keras.Input((4, 4, 2)), layers.ZeroPadding2D(((1, 0), (0, 2))), layers.Conv2D(2, 2, **random_init(69)),
            layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.8, seed=70), shared_axes=[1, 2]),
            layers.Flatten(), layers.Dense(3, activation="softmax", **random_init(71))]),
        "activation-layers-softmax-layer": keras.Sequential([
            keras.Input((5,)), layers.Dense(4, **random_init(63)), layers.Activation("sigmoid"),
            layers.Dense(4, **random_init(65)), layers.Activation("mish"), layers.Dense(3, **random_init(67)),
            layers.Softmax()]),
    }


def _input(model, name, rng):
    x = rng.uniform(0, 1, model.input_shape[1:]).astype(np.float32)
    if name == "ties-and-relu-at-zero":
        x[:3] = 0.0
    return x


def _build(model, tmp_path, name):
    from excelnet.convert import build

    model.save(tmp_path / f"{name}.keras")
    return build(tmp_path / f"{name}.keras", tmp_path / f"{name}.xlsx", learn=True)


def _check_in_libreoffice(office, result, model, x, cases, what) -> int:
    """Type x into the Canvas, and each (target, rate) into Target and LearningRate."""
    from excelnet.engines.libreoffice import canvas_grids

    names = learning_names(result)
    office.open(result.path)
    office.run(canvas_grids(x))
    checked = 0
    for target, rate in cases:
        office.set_value(names["Target"][0], target)
        office.set_value(names["LearningRate"][0], rate)
        office.recalc()
        values = read_learning(office.read_ranges, names, result)
        checked += assert_learning(values, tf_learning(model, x, target, rate), result.network,
                                   f"{what}, target {target}, rate {rate}:")
    assert office.errors() == {}
    return checked


@pytest.mark.libreoffice
@pytest.mark.parametrize("family", ["dense", "conv", "elementwise"])
def test_small_models_learn_as_tensorflow_says(libreoffice, tmp_path, family):
    rng = np.random.default_rng(0)
    models = {"dense": _dense_models, "conv": _conv_models, "elementwise": _elementwise_models}[family]()
    for name, model in models.items():
        result = _build(model, tmp_path, name)
        x = _input(model, name, rng)
        classes = model.output_shape[-1]
        cases = [(0, RATES[0]), (classes - 1, RATES[1])]
        checked = _check_in_libreoffice(libreoffice, result, model, x, cases, name)
        assert checked == 2 * sum(len(layer.get_weights()) for layer in model.layers)


@pytest.mark.libreoffice
def test_big_dense_kernels_step_inside_the_sums(libreoffice, tmp_path, monkeypatch):
    """A Dense kernel of more than SHOWN_AT_MOST weights gets no new-weight cells on the Step sheet
    (only unit 1, as an example): the pass after the step takes SUMPRODUCT(x, w) − rate × δ ×
    SUMPRODUCT(x, x before) and reads no gradient cell (so a pixel edit does not recalculate them
    on its way to ProbabilitiesAfter); where the inputs are not known it takes SUMPRODUCT(x, w) −
    rate × SUMPRODUCT(x, g). A kernel laid out unevenly sums its input gradient term by term. All as TF."""
    from excelnet.ops import dense_backward
    from excelnet.ops.base import Book
    from excelnet.sheet import Formula
    from excelnet.workbook import learning

    monkeypatch.setattr(learning, "SHOWN_AT_MOST", 10)
    rng = np.random.default_rng(5)
    model = _dense_models()["flatten-relu-softmax"]          # kernels 12 × 6 and 6 × 3, biases 6 and 3
    result = _build(model, tmp_path, "stepped")
    step = next(sheet for sheet in result.plan.sheets if sheet.title == "Step")
    assert step.formula_count() == (6 + 3) + (12 + 6), "new biases, and unit 1 of each kernel"
    after = next(sheet for sheet in result.plan.sheets if sheet.title == "After the step")
    formulas = [v.expression for v in after.cells.values() if isinstance(v, Formula)]
    gradient_sheets = [s.title for s in result.plan.sheets if s.title.endswith(" gradients")]
    assert len(gradient_sheets) == 2
    assert not [f for f in formulas if any(title in f for title in gradient_sheets)]
    overlaps = [f for f in formulas if f.count("SUMPRODUCT") == 1 and "-" not in f and "," in f]
    assert sum(f.count("SUMPRODUCT") == 1 and "*" in f and "-" in f for f in formulas) == 6 + 3
    assert len(overlaps) >= 2
    checked = _check_in_libreoffice(libreoffice, result, model, _input(model, "stepped", rng),
                                    [(0, RATES[0]), (2, RATES[1])], "stepped inside the sums")
    assert checked == 2 * 4

    monkeypatch.setattr(Book, "outer_product", lambda book, grads: None)
    result = _build(model, tmp_path, "stepped-by-gradients")
    after = next(sheet for sheet in result.plan.sheets if sheet.title == "After the step")
    formulas = [v.expression for v in after.cells.values() if isinstance(v, Formula)]
    assert sum(f.count("SUMPRODUCT") == 2 for f in formulas) == 6 + 3
    checked = _check_in_libreoffice(libreoffice, result, model, _input(model, "stepped", rng),
                                    [(2, RATES[1])], "stepped by the gradient cells")
    assert checked == 4
    monkeypatch.undo()
    monkeypatch.setattr(learning, "SHOWN_AT_MOST", 10)

    import keras                                               # a one-unit layer: nothing to space out
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="tanh", **random_init(15)),
                              keras.layers.Dense(3, activation="softmax", **random_init(17))])
    result = _build(model, tmp_path, "one-unit")
    checked = _check_in_libreoffice(libreoffice, result, model, _input(model, "one-unit", rng),
                                    [(1, RATES[1])], "one unit")
    assert checked == 4

    monkeypatch.setattr(dense_backward, "_even_spacing", lambda kernel, book: None)
    model = _dense_models()["wide-reshape"]                   # 120 units: the sum in two parts
    result = _build(model, tmp_path, "written-out")
    back = next(sheet for sheet in result.plan.sheets if sheet.title.startswith("Back 2"))
    assert not any("SUMPRODUCT" in v.expression for v in back.cells.values() if isinstance(v, Formula))
    checked = _check_in_libreoffice(libreoffice, result, model, _input(model, "written-out", rng),
                                    [(1, RATES[1])], "written out")
    assert checked == 4


@pytest.mark.slow
def test_formulas_engine_agrees_on_a_tiny_model(tmp_path):
    """The formulas library (slow: a tiny model) computes the same learning cells."""
    import keras

    from excelnet.engines.formulas_engine import FormulasWorkbook

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="relu", **random_init(21)),
                              keras.layers.Dense(2, activation="softmax", **random_init(23))])
    result = _build(model, tmp_path, "tiny")
    names = learning_names(result)
    workbook = FormulasWorkbook(result.path)
    x = np.array([0.3, 0.9, 0.5], dtype=np.float32)
    for target, rate in ((1, 0.5), (0, 4.0)):
        typed = {}
        for name, value in (("Target", target), ("LearningRate", rate)):
            area = names[name][0]
            typed[(area.sheet, area.top, area.left)] = value
        values = read_learning(lambda ranges: workbook.read_ranges(x, ranges, typed), names, result)
        assert_learning(values, tf_learning(model, x, target, rate), result.network, f"formulas, target {target}:")


# --- refusals and the plain build ----------------------------------------------------------------

def _save(model, tmp_path, name="m"):
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


def test_learn_refuses_a_model_without_softmax_naming_the_layer(tmp_path):
    import keras

    from excelnet.convert import build
    from excelnet.workbook.learning import LearnError

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid", name="scores",
                                                                    **random_init(1))])
    path = _save(model, tmp_path)
    with pytest.raises(LearnError) as error:
        build(path, tmp_path / "m.xlsx", learn=True)
    assert "'scores' (Dense) ends in sigmoid, not a softmax" in str(error.value)
    assert not (tmp_path / "m.xlsx").exists()
    assert build(path, tmp_path / "plain.xlsx").path.exists()        # the plain build still works


def test_learn_refuses_layers_without_a_backward_rule_all_at_once(tmp_path, monkeypatch):
    import keras

    from excelnet.convert import build
    from excelnet.ops.core import Gather
    from excelnet.workbook.learning import LearnError

    monkeypatch.setattr(Gather, "has_backward", property(lambda self: False))
    model = keras.Sequential([keras.Input((2, 3)), keras.layers.Flatten(name="flat"),
                              keras.layers.Reshape((6,), name="again"),
                              keras.layers.Dense(2, activation="softmax", **random_init(1))])
    with pytest.raises(LearnError) as error:
        build(_save(model, tmp_path), tmp_path / "m.xlsx", learn=True)
    message = str(error.value)
    assert "layer 1 'flat' (Flatten) has no backward rule" in message
    assert "layer 2 'again' (Reshape) has no backward rule" in message


def test_learn_refuses_an_activation_without_a_derivative(tmp_path, monkeypatch):
    """An activation that has no derivative is refused, never differentiated as if its slope were 1."""
    import dataclasses

    import keras

    from excelnet.convert import build
    from excelnet.ops import activations
    from excelnet.workbook.learning import LearnError

    monkeypatch.setitem(activations.FIXED, "tanh", dataclasses.replace(activations.FIXED["tanh"], derivative=None))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="squash",
                                                                    **random_init(1)),
                              keras.layers.Dense(2, activation="softmax", **random_init(3))])
    with pytest.raises(LearnError) as error:
        build(_save(model, tmp_path), tmp_path / "m.xlsx", learn=True)
    assert "layer 1 'squash' (Dense) its activation tanh has no derivative yet" in str(error.value)


def test_every_supported_activation_has_a_derivative():
    from excelnet.ops.activations import NAMES, SOFTMAX, activation

    missing = [name for name in NAMES if name != SOFTMAX and not activation(name).has_derivative]
    assert not missing, missing


def test_cli_learn_refusal_is_one_message_and_writes_nothing(tmp_path):
    import keras
    from click.testing import CliRunner

    from excelnet.cli import main

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="raw", **random_init(1))])
    path = _save(model, tmp_path)
    run = CliRunner().invoke(main, ["build", "--model", str(path), "--learn", "-o", str(tmp_path / "x.xlsx")])
    assert run.exit_code == 1 and isinstance(run.exception, SystemExit), run.output
    assert "'raw' (Dense) ends in linear, not a softmax" in run.output
    assert "Traceback" not in run.output
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_learn_writes_the_learning_sheets(tmp_path):
    from excelnet.engines.names import read_named_areas

    model = _dense_models()["flatten-relu-softmax"]
    path = _save(model, tmp_path, "mlp")
    run = run_cli_without_tensorflow("build", "--model", str(path), "--learn", "-o", str(tmp_path / "mlp.xlsx"))
    assert run.returncode == 0, run.stderr
    names = set(read_named_areas(tmp_path / "mlp.xlsx"))
    wanted = {"Target", "LearningRate", "Loss", "LossAfter", "ProbabilitiesAfter", "InputGradient",
              "Grad_2_1", "Grad_2_2", "Grad_3_1", "Grad_3_2"}
    assert wanted <= names, wanted - names
    plain = run_cli_without_tensorflow("build", "--model", str(path), "-o", str(tmp_path / "plain.xlsx"))
    assert plain.returncode == 0, plain.stderr
    assert not set(read_named_areas(tmp_path / "plain.xlsx")) & {"Target", "LearningRate", "Loss", "Grad_2_1"}


def test_gradients_line_up_with_the_weights(tmp_path):
    """Grad_<i>_<k>: the same areas (shapes, order) as Weights_<i>_<k>."""
    model = _dense_models()["swish-nobias-tanh"]
    result = _build(model, tmp_path, "m")
    names = learning_names(result)
    weights = sorted(n for n in names if n.startswith("Weights_"))
    assert weights and len(weights) == sum(len(layer.get_weights()) for layer in model.layers)
    for name in weights:
        grad = names[name.replace("Weights_", "Grad_")]
        assert [a.shape for a in grad] == [a.shape for a in names[name]], name


def test_the_pass_after_the_step_keeps_its_formula_groups():
    """A pixel edit changes every cell of 'After the step' (its weights changed): there each column of a
    convolution or pooling picture is one formula, which LibreOffice groups (typing the pixel is
    cheaper: benchmarks/RESULTS.md, issue 20 §4). A layer sheet, where an edit changes a few cells,
    still turns every other row's formula round (cells.turned)."""
    from excelnet.convert import plan_for
    from excelnet.evaluate import Evaluator

    plan, _ = plan_for(None, None, None, None, True, None, True)
    book = Evaluator(plan.sheets)

    def first_ranges(sheet: str) -> set[bool]:
        """Per convolution formula of the sheet: whether SUMPRODUCT's first range is the filter ($A$1)."""
        return {"$" in g.expression.split("SUMPRODUCT(")[1].split(",")[0] for g in book.order
                if g.sheet == sheet and g.expression.startswith("MAX(0,(SUMPRODUCT(")}

    def pool_pieces(sheet: str) -> set[int]:
        """Per max-pooling formula of the sheet: how many ranges its window is written in."""
        return {g.expression.count(",") + 1 for g in book.order if g.sheet == sheet
                and g.expression.startswith("MAX(") and "SUMPRODUCT" not in g.expression}

    assert first_ranges("1 conv1") == {True, False}        # every other row turned round
    assert pool_pieces("2 pool1") == {1, 2}
    assert first_ranges("After the step") == {False}       # one form: LibreOffice groups each column
    assert pool_pieces("After the step") == {1}
