"""excelnet build --from-scratch: a CNN trained by SGD in plain formulas equals a float64
reference of the same SGD (itself checked against TensorFlow) in LibreOffice, IronCalc and the
formulas library; the defaults learn (held-out accuracy over seeds); rate 0 changes nothing;
the shipped workbook is fresh; the command needs no TensorFlow and refuses bad input cleanly."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from excelnet.scratch import build
from excelnet.scratch.recipe import FILTERS, FLAT, OUT, Recipe, Weights, load_digits, plan, train
from conftest import run_cli_without_tensorflow
from scratch_engines import RATE_CELL, IronCalcBook, as_numbers, public, weights_at

REPO = Path(__file__).resolve().parents[1]
PREBUILT = REPO / "workbooks" / "digits_from_scratch.xlsx"
COMMAND = "excelnet build --from-scratch -o workbooks/digits_from_scratch.xlsx"
RTOL = 1e-9


def assert_same(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    close = np.isclose(got, expected, rtol=RTOL, atol=1e-12)
    if not close.all():
        bad = np.argwhere(~close)[:3]
        raise AssertionError(f"{what}: {int((~close).sum())} values differ, e.g. " +
                             ", ".join(f"{tuple(i)} workbook {got[tuple(i)]!r} reference {expected[tuple(i)]!r}"
                                       for i in bad))


def assert_weights(got: Weights, expected: Weights, what: str) -> None:
    for name in ("filters", "filter_bias", "dense", "dense_bias"):
        assert_same(getattr(got, name), getattr(expected, name), f"{what} {name}")


@pytest.fixture(scope="module")
def default_workbook(tmp_path_factory):
    return build(tmp_path_factory.mktemp("scratch") / "digits_from_scratch.xlsx").path


# --- the reference ------------------------------------------------------------------------------------

def test_reference_equals_tensorflow_gradient_tape():
    """The NumPy float64 SGD against TensorFlow's: every step's loss and the final weights."""
    import tensorflow as tf

    recipe = Recipe(seed=5, rate=0.7, steps=12)
    run = train(recipe)
    chosen = plan(recipe)
    start = chosen.initial
    filters = tf.Variable(start.filters.transpose(1, 2, 0)[:, :, None, :], dtype=tf.float64)   # (3, 3, 1, 4)
    filter_bias = tf.Variable(start.filter_bias, dtype=tf.float64)
    dense = tf.Variable(start.dense, dtype=tf.float64)
    dense_bias = tf.Variable(start.dense_bias, dtype=tf.float64)
    variables = [filters, filter_bias, dense, dense_bias]
    for step, batch in enumerate(chosen.batches):
        x = tf.constant(chosen.pixels[batch][..., None])
        with tf.GradientTape() as tape:
            conv = tf.nn.relu(tf.nn.conv2d(x, filters, strides=1, padding="VALID") + filter_bias)
            flat = tf.reshape(tf.transpose(conv, (0, 3, 1, 2)), (-1, FLAT))      # filter by filter, as the workbook
            logits = flat @ dense + dense_bias
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(chosen.labels[batch], logits))
        grads = tape.gradient(loss, variables)
        for variable, grad in zip(variables, grads):
            variable.assign_sub(recipe.rate * grad)
        assert_same(run.losses[step], loss.numpy(), f"step {step + 1} loss")
    tf_final = Weights(filters.numpy()[:, :, 0, :].transpose(2, 0, 1), filter_bias.numpy(), dense.numpy(),
                       dense_bias.numpy())
    assert_weights(run.final, tf_final, "final")


def test_defaults_learn_over_ten_seeds():
    """Held-out accuracy of exactly this design: at least 90% on average over 10 seeds, none below 87%."""
    accuracies = np.array([train(Recipe(seed=seed)).held_out_accuracy for seed in range(10)])
    assert accuracies.mean() >= 0.90, accuracies
    assert accuracies.min() >= 0.87, accuracies


def test_data_are_the_uci_digits_in_the_package():
    pixels, labels = load_digits()
    assert pixels.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert pixels.min() == 0 and pixels.max() == 1 and set(labels.tolist()) == set(range(10))
    chosen = plan(Recipe(seed=4))
    trained = set(chosen.batches.reshape(-1).tolist())
    assert len(trained) == chosen.batches.size and not trained & set(chosen.held_out.tolist())
    assert len(chosen.held_out) == 300


# --- the workbook in the engines ----------------------------------------------------------------------

def _check_against_reference(read, rate: float, what: str) -> None:
    run = train(Recipe(rate=rate))
    cells = public(read, len(run.steps))
    assert_same(cells["TrainLoss"], run.losses, f"{what}: TrainLoss")
    assert_same(cells["TrainAccuracy"], run.accuracies, f"{what}: TrainAccuracy")
    assert_same(cells["HeldOutAccuracy"], [run.held_out_accuracy], f"{what}: HeldOutAccuracy")
    middle = len(run.steps) // 2
    assert_weights(weights_at(read, middle), run.steps[middle - 1].after, f"{what}: after step {middle}")
    assert_weights(weights_at(read, len(run.steps)), run.final, f"{what}: final")


@pytest.mark.libreoffice
@pytest.mark.slow
def test_libreoffice_trains_as_the_reference(libreoffice, default_workbook):
    libreoffice.open(default_workbook)
    assert libreoffice.errors() == {}

    def read(sheet, top, left, bottom, right):
        return as_numbers(libreoffice.read_ranges([(sheet, top, left, bottom, right)])[0], f"{sheet} R{top}C{left}")

    _check_against_reference(read, 0.3, "LibreOffice")
    initial = weights_at(read, 0)
    libreoffice.write_cells([(*RATE_CELL, 0.0)])          # rate 0: every step keeps the Start weights
    assert_weights(weights_at(read, 75), initial, "LibreOffice, rate 0: final")
    _check_against_reference(read, 0.0, "LibreOffice, rate 0")
    libreoffice.write_cells([(*RATE_CELL, 5.0)])          # rate 5: still numbers, and the reference's
    assert libreoffice.errors() == {}
    _check_against_reference(read, 5.0, "LibreOffice, rate 5")


@pytest.mark.slow
def test_ironcalc_trains_as_the_reference(default_workbook):
    book = IronCalcBook(default_workbook)
    book.evaluate()
    _check_against_reference(book.numbers, 0.3, "IronCalc")
    book.set_number(*RATE_CELL, 0.0)
    book.evaluate()
    _check_against_reference(book.numbers, 0.0, "IronCalc, rate 0")
    assert_weights(weights_at(book.numbers, 75), weights_at(book.numbers, 0), "IronCalc, rate 0: final")


@pytest.mark.slow
def test_formulas_library_trains_as_the_reference(tmp_path):
    """A small configuration (2 steps of 4 pictures, 6 held-out pictures, only the pictures used on
    Data): the library is slow."""
    import formulas

    recipe = Recipe(seed=2, rate=0.5, steps=2, batch=4, held_out=6, whole_data=False)
    result = build(tmp_path / "small.xlsx", seed=2, rate=0.5, steps=2, batch=4, held_out=6, whole_data=False)
    model = formulas.ExcelModel().loads(str(result.path)).finish()
    solution = model.calculate()
    name = result.path.name

    def read(sheet, top, left, bottom, right):
        from excelnet.layout import column_letter

        values = [[solution[f"'[{name}]{sheet.upper()}'!{column_letter(c)}{r}"].value.item(0)
                   for c in range(left, right + 1)] for r in range(top, bottom + 1)]
        return as_numbers(np.array(values, dtype=object), f"{sheet} R{top}C{left}")

    run = train(recipe)
    cells = public(read, 2)
    assert_same(cells["TrainLoss"], run.losses, "formulas: TrainLoss")
    assert_same(cells["HeldOutAccuracy"], [run.held_out_accuracy], "formulas: HeldOutAccuracy")
    assert_same(cells["TrainAccuracy"], run.accuracies, "formulas: TrainAccuracy")
    assert_weights(weights_at(read, 1, batch=4), run.steps[0].after, "formulas: after step 1")
    assert_weights(weights_at(read, 2, batch=4), run.final, "formulas: final")


# --- the command and the shipped workbook -------------------------------------------------------------

def test_command_builds_without_tensorflow(tmp_path):
    target = tmp_path / "run3.xlsx"
    done = run_cli_without_tensorflow("build", "--from-scratch", "--seed", "3", "--rate", "0.1", "--steps", "4",
                                      "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert "ran without tensorflow" in done.stdout and "4 steps of 16 pictures, rate 0.1, seed 3" in done.stdout
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        book = archive.read("xl/workbook.xml").decode()
    assert any(n.startswith("xl/charts/chart") for n in names), "the loss chart is missing"
    for name in ("TrainRate", "TrainLoss", "TrainAccuracy", "HeldOutAccuracy"):
        assert f'name="{name}"' in book, name


def _excelnet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "excelnet.cli", *args], capture_output=True, text=True, timeout=120)


def test_command_names_every_problem_and_writes_nothing(tmp_path):
    target = tmp_path / "bad.xlsx"
    target.write_bytes(b"keep me")
    done = _excelnet("build", "--from-scratch", "--rate", "nan", "--steps", "0", "--seed", "-2", "-o", str(target))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    for words in ("learning rate", "seed", "steps"):
        assert words in done.stderr, (words, done.stderr)
    assert target.read_bytes() == b"keep me"
    mixed = _excelnet("build", "--from-scratch", "--learn", "--labels", "a,b", "-o", str(target))
    assert mixed.returncode != 0 and "--learn" in mixed.stderr and "--labels" in mixed.stderr
    assert "Traceback" not in mixed.stderr and target.read_bytes() == b"keep me"


def test_layout_is_lean():
    """Each weight's gradient is summed inside its cell: no per-picture weight gradients."""
    from excelnet.scratch.workbook import plan_workbook

    planned = plan_workbook(Recipe(steps=2, held_out=10))
    per_step = len(planned.values["Step 1"][0])
    pictures, weights = 16, FILTERS * 9 + FILTERS + FLAT * 10 + 10
    # per picture: 144 activations, 10 logits, guess, right?, max, 10 exps, Σ, loss, 10 δ, 10 δ again,
    # 144 ∂loss/∂conv; then every weight once, and the step's loss and accuracy
    per_picture = FLAT + 10 + 4 + 10 + 1 + 10 + 10 + FILTERS * OUT * OUT
    assert per_step == pictures * per_picture + weights + 2 == 6820
    assert per_step < pictures * weights / 3      # storing each picture's weight gradients would need 16×


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != "docProps/core.xml"}


def test_prebuilt_workbook_is_up_to_date(default_workbook):
    assert PREBUILT.exists(), f"{PREBUILT} is missing: run `{COMMAND}`"
    fresh, shipped = _parts(default_workbook), _parts(PREBUILT)
    stale = sorted(n for n in set(fresh) | set(shipped) if fresh.get(n) != shipped.get(n))
    assert not stale, f"workbooks/digits_from_scratch.xlsx is stale ({', '.join(stale[:5])} differ): run `{COMMAND}`"
