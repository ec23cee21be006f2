"""IronCalc, a second real spreadsheet engine: every shipped workbook and a set of built ones
(Keras models of many layer kinds, ONNX, --learn) evaluate without an error cell to the values
the file stores, and typing into the Canvas or the Sample box gives the probabilities of the
model's own runtime and of LibreOffice."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import IN_CI, assert_matches, keras_predict, random_init

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "workbooks").glob("*.xlsx"))
STORED_RTOL = 1e-9        # the tolerance: IronCalc's value against the one the file stores


@pytest.fixture(scope="session")
def ironcalc_engine():
    """The IronCalcWorkbook class. Skips with the reason, but fails in CI."""
    from excelnet.engines.ironcalc import IronCalcWorkbook, unavailable_reason

    reason = unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"IronCalc is required in CI: {reason}")
        pytest.skip(reason)
    return IronCalcWorkbook


def assert_evaluates_to_stored_values(workbook) -> None:
    """Zero error cells, and every formula cell equal to the value the file stores."""
    workbook.evaluate()
    errors = workbook.errors()
    assert not errors, f"{workbook.path.name}: {len(errors)} error cells in IronCalc, e.g. " + \
        "; ".join(f"{c.sheet}!R{c.row}C{c.col} {c.value} = {c.formula[:120]}" for c in errors[:3])
    different = workbook.differences(rtol=STORED_RTOL)
    assert not different, f"{workbook.path.name}: {len(different)} formula cells differ from the stored values, " \
        "e.g. " + "; ".join(f"{c.sheet}!R{c.row}C{c.col} stored {c.value!r}, IronCalc {v!r}" for c, v in different[:3])
    assert len(workbook.cached) > 100, "no formula cells read"


NUMBER_WITH_EXPONENT = re.compile(r"(?<![A-Za-z0-9_$.])\d+(?:\.\d*)?[eE][+-]?\d+")


def assert_numbers_written_in_full(path: Path) -> None:
    """No number in a formula of the file written as 1E-05: HyperFormula does not parse it. (The
    file's own text: IronCalc prints a formula back in its own way, 0.000000001 as 1e-9.)"""
    with zipfile.ZipFile(path) as archive:
        formulas = [html.unescape(f) for name in archive.namelist() if name.startswith("xl/worksheets/")
                    for f in re.findall(r"<f>(.*?)</f>", archive.read(name).decode())]
    found = [f[:100] for f in formulas if NUMBER_WITH_EXPONENT.search(re.sub(r'"[^"]*"', '""', f))]
    assert len(formulas) > 100
    assert not found, f"{len(found)} formulas with a number in E notation, e.g. {found[:3]}"


def test_the_shipped_workbooks_are_there():
    assert [p.name for p in SHIPPED] == ["digits_from_scratch.xlsx", "mnist_cnn.xlsx", "mnist_cnn_learn.xlsx"]


@pytest.mark.parametrize("name", [p.name for p in SHIPPED])
def test_shipped_workbook_evaluates_to_its_stored_values(ironcalc_engine, name):
    workbook = ironcalc_engine(ROOT / "workbooks" / name)
    assert_evaluates_to_stored_values(workbook)
    assert_numbers_written_in_full(workbook.path)


def test_sample_and_canvas_edits_equal_keras(ironcalc_engine, default_build, default_keras_model):
    """The empty Canvas lets the Sample show through (IronCalc read openpyxl's typed empty cells as
    0: a blank picture whatever the Sample), and a typed pixel overrides it."""
    workbook = ironcalc_engine(default_build.path)
    digits = default_build.samples.model_inputs(default_build.network.input_shape)
    for sample in (93, 7):
        workbook.set_sample(sample)
        assert_matches(workbook.probabilities(), keras_predict(default_keras_model, digits[sample - 1:sample])[0],
                       f"IronCalc, Sample {sample}:")
    x = digits[6].copy()
    x[14, 9:13, 0] = 1.0                     # a short stroke typed over sample 7
    canvas = workbook.public.canvases[0]
    for col in range(9, 13):
        workbook.set_value(canvas.sheet, canvas.top + 14, canvas.left + col, 1.0)
    assert_matches(workbook.probabilities(), keras_predict(default_keras_model, x[None])[0], "IronCalc, a stroke:")
    workbook.type_canvas(None)               # cleared again: the sample shows through
    workbook.set_sample(0)                   # 0 = blank
    assert_matches(workbook.probabilities(), keras_predict(default_keras_model, np.zeros_like(x)[None])[0],
                   "IronCalc, Sample 0:")
    assert not workbook.errors()


@pytest.mark.libreoffice
def test_ironcalc_and_libreoffice_show_the_same_probabilities(ironcalc_engine, libreoffice, default_build):
    """A Sample change and a Canvas edit: the same probabilities in both engines."""
    from excelnet.engines.libreoffice import canvas_grids

    workbook = ironcalc_engine(default_build.path)
    libreoffice.open(default_build.path)
    workbook.set_sample(42)
    office = libreoffice.run(sample=42)
    assert_matches(workbook.probabilities(), np.array(office["Probabilities"], np.float64).reshape(-1), "Sample 42:")
    x = default_build.samples.model_inputs(default_build.network.input_shape)[41].copy()
    x[5:20, 20, 0] = 0.8
    workbook.type_canvas(x)
    office = libreoffice.run(canvas_grids(x))
    assert_matches(workbook.probabilities(), np.array(office["Probabilities"], np.float64).reshape(-1), "a drawing:")
    assert libreoffice.errors() == {}
    assert not workbook.errors()


def _keras_zoo():
    """Small Keras models over the layer kinds and activations the workbook formulas use."""
    import keras

    layers = keras.layers
    return {
        "conv-bn-pool-dense": keras.Sequential([
            keras.Input((10, 12, 2)),
            layers.Conv2D(3, (3, 2), strides=(1, 2), padding="same", activation="elu", **random_init(1)),
            layers.BatchNormalization(gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=3),
                                      beta_initializer=keras.initializers.RandomNormal(0, 0.3, seed=4),
                                      moving_mean_initializer=keras.initializers.RandomNormal(0, 0.3, seed=5),
                                      moving_variance_initializer=keras.initializers.RandomUniform(0.5, 2, seed=6)),
            layers.MaxPooling2D(2, padding="same"), layers.Conv2D(4, 2, activation="gelu", **random_init(7)),
            layers.AveragePooling2D(2, strides=1), layers.Flatten(), layers.Dropout(0.5),
            layers.Dense(6, activation="swish", **random_init(9)),
            layers.Dense(4, activation="softmax", **random_init(11))]),
        "rescale-conv-globalpool-sigmoid": keras.Sequential([
            keras.Input((6, 6, 3)), layers.Rescaling(1 / 255),
            layers.Conv2D(2, 3, activation="softplus", **random_init(13)), layers.LeakyReLU(0.00002),
            layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid", **random_init(15))]),
        "mlp-activations": keras.Sequential([
            keras.Input((3, 4)), layers.Flatten(), layers.Dense(7, activation="tanh", **random_init(17)),
            layers.Dense(5, activation="selu", **random_init(19)), layers.Dense(5, activation="hard_sigmoid",
                                                                                  **random_init(21)),
            layers.Dense(4, activation="softsign", **random_init(23)),
            layers.Dense(3, activation="softmax", **random_init(25))]),
        # max pooling's backward finds the winner of a window of more than 9 cells with MATCH
        "tall-maxpool": keras.Sequential([
            keras.Input((12, 2, 1)), layers.Conv2D(2, (1, 1), activation="tanh", **random_init(27)),
            layers.MaxPooling2D((10, 1), strides=(2, 1)), layers.Flatten(),
            layers.Dense(3, activation="softmax", **random_init(29))]),
    }


def _random_inputs(shape, count: int, high: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, high, (count,) + tuple(shape)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(["conv-bn-pool-dense", "rescale-conv-globalpool-sigmoid", "mlp-activations"]))
def test_keras_models_evaluate_to_stored_values_and_to_keras(ironcalc_engine, tmp_path, name):
    from excelnet.convert import build

    model = _keras_zoo()[name]
    model.save(tmp_path / "m.keras")
    result = build(tmp_path / "m.keras", tmp_path / "m.xlsx")
    workbook = ironcalc_engine(result.path)
    assert_evaluates_to_stored_values(workbook)
    assert_numbers_written_in_full(result.path)
    high = 255.0 if name.startswith("rescale") else 1.0
    inputs = _random_inputs(model.input_shape[1:], 3, high, seed=len(name))
    expected = keras_predict(model, inputs)
    for i, x in enumerate(inputs):
        workbook.type_canvas(x)
        assert_matches(workbook.probabilities(), expected[i].reshape(-1), f"{name}, input {i}:")
    assert not workbook.errors()


@pytest.mark.parametrize("fixture", ["lenet_small.onnx", "lenet_small_dynamo.onnx"])
def test_onnx_models_evaluate_to_stored_values_and_to_onnxruntime(ironcalc_engine, tmp_path, fixture):
    pytest.importorskip("onnxruntime", reason="the ONNX tests need onnxruntime (pip install -e '.[test]')")
    from test_onnx import channels_last, expected

    from excelnet.convert import build

    path = ROOT / "tests" / "fixtures" / fixture
    result = build(path, tmp_path / "m.xlsx")
    workbook = ironcalc_engine(result.path)
    assert_evaluates_to_stored_values(workbook)
    height, width, channels = result.network.input_shape
    inputs = _random_inputs((channels, height, width), 2, 1.0, seed=3)
    want = expected(path, inputs)
    for i, x in enumerate(inputs):
        workbook.type_canvas(channels_last(x))
        assert_matches(workbook.probabilities(), want[i].reshape(-1), f"{fixture}, input {i}:")


@pytest.mark.parametrize("name", ["mlp-activations", "tall-maxpool"])
def test_learn_workbook_evaluates_to_stored_values_and_to_tensorflow(ironcalc_engine, tmp_path, name):
    """--learn: every gradient and the step after it, in IronCalc, against TensorFlow."""
    from learn_check import assert_learning, learning_names, read_learning, tf_learning

    from excelnet.convert import build

    model = _keras_zoo()[name]
    model.save(tmp_path / "m.keras")
    result = build(tmp_path / "m.keras", tmp_path / "m.xlsx", learn=True)
    workbook = ironcalc_engine(result.path)
    assert_evaluates_to_stored_values(workbook)
    names = learning_names(result)
    x = _random_inputs(model.input_shape[1:], 1, 1.0, seed=5)[0]
    workbook.type_canvas(x)
    target, rate = names["Target"][0], names["LearningRate"][0]
    workbook.set_value(target.sheet, target.top, target.left, 2)
    workbook.set_value(rate.sheet, rate.top, rate.left, 0.5)
    workbook.evaluate()

    def read(ranges):
        return [workbook.read(r).astype(np.float64) for r in ranges]

    checked = assert_learning(read_learning(read, names, result), tf_learning(model, x, 2, 0.5), result.network,
                              "IronCalc --learn:")
    assert checked == sum(len(layer.get_weights()) for layer in model.layers)
    assert not workbook.errors()
