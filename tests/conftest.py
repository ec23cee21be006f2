"""Shared fixtures: random Keras models, building and evaluating workbooks, LibreOffice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RTOL, ATOL = 1e-5, 1e-6
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def random_init(seed: int):
    """Non-zero random weights AND biases: zero biases hide bias bugs."""
    import keras

    return dict(kernel_initializer=keras.initializers.RandomNormal(0, 0.5, seed=seed),
                bias_initializer=keras.initializers.RandomNormal(0, 0.5, seed=seed + 1))


def save_model(model, path: Path) -> Path:
    model.save(path)
    return path


def assert_matches(workbook: np.ndarray, keras_out: np.ndarray, what: str = "") -> None:
    """Workbook (float64) against Keras (float32): allclose and the same arg-max."""
    workbook, keras_out = np.asarray(workbook, dtype=np.float64), np.asarray(keras_out, dtype=np.float64)
    close = np.isclose(workbook, keras_out, rtol=RTOL, atol=ATOL)
    if not close.all():
        bad = np.argwhere(~close)[:5]
        details = ", ".join(f"[{i}] workbook {workbook[tuple(i)]!r} keras {keras_out[tuple(i)]!r}" for i in bad)
        pytest.fail(f"{what} workbook != Keras at {len(np.argwhere(~close))} positions: {details}")
    assert np.argmax(workbook) == np.argmax(keras_out), f"{what} arg-max differs"


def evaluate_with_formulas(model, tmp_path: Path, inputs: np.ndarray, name: str = "m") -> np.ndarray:
    """Save `model`, build its workbook, evaluate each input with the formulas library."""
    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    model_path = save_model(model, tmp_path / f"{name}.keras")
    result = build(model_path, tmp_path / f"{name}.xlsx")
    workbook = FormulasWorkbook(result.path)
    return np.array([workbook.probabilities(x) for x in inputs])


def keras_predict(model, inputs: np.ndarray) -> np.ndarray:
    """Keras' outputs one example at a time: TensorFlow's oneDNN batched Conv2D returns wrong
    numbers when a stride skips input columns (kernel 1x2, stride 2, width 3), single ones are right."""
    return np.concatenate([model.predict(x[None], verbose=0) for x in inputs])


def check_model(model, tmp_path: Path, inputs: np.ndarray, name: str = "m") -> None:
    """The whole promise for one model: workbook == Keras on every input."""
    expected = keras_predict(model, inputs)
    got = evaluate_with_formulas(model, tmp_path, inputs, name)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_matches(g, e.reshape(-1), f"input {i}:")


@pytest.fixture(scope="session")
def libreoffice():
    """A headless LibreOffice for the whole run. Skips with the reason, but fails in CI."""
    from excelnet.engines.libreoffice import LibreOffice, unavailable_reason

    reason = unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"LibreOffice is required in CI: {reason}")
        pytest.skip(reason)
    office = LibreOffice()
    yield office
    office.close()


@pytest.fixture(scope="session")
def default_build(tmp_path_factory):
    """The default workbook (shipped model and digits), built once per run."""
    from excelnet.convert import build

    return build(output=tmp_path_factory.mktemp("default") / "mnist_cnn.xlsx")


@pytest.fixture(scope="session")
def default_keras_model():
    import keras

    from excelnet.assets import DEFAULT_MODEL

    return keras.models.load_model(DEFAULT_MODEL)


BLOCK_TENSORFLOW = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None          # any import of them now raises ImportError
from excelnet.cli import main
main(sys.argv[1:], standalone_mode=False)
loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras") and sys.modules[m] is not None]
assert not loaded, loaded
print("ran without tensorflow")
"""


def run_cli_without_tensorflow(*args: str) -> subprocess.CompletedProcess:
    """`excelnet ARGS` in a fresh Python where TensorFlow, Keras and tf_keras cannot be imported."""
    return subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW, *args], capture_output=True, text=True,
                          timeout=120)
