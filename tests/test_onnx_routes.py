"""The real routes: scikit-learn models exported with skl2onnx, the committed PyTorch LeNet
fixtures (both exporters), and the commands a user types (build, summary, verify)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import assert_matches
from test_onnx import expected

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")

FIXTURES = Path(__file__).parent / "fixtures"
LENETS = ["lenet_small.onnx", "lenet_small_dynamo.onnx"]
MNIST = (0.1307, 0.3081)


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


def _sklearn_onnx(estimator, path: Path, zipmap: bool = False) -> Path:
    from skl2onnx import to_onnx

    x, y = _digits()
    estimator.fit(x[:1200], y[:1200])
    options = None if zipmap else {"zipmap": False}
    path.write_bytes(to_onnx(estimator, x[:1], options=options, target_opset=17).SerializeToString())
    return path


def _mlp():
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier((16,), max_iter=300, random_state=0)


def _logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)


@pytest.mark.parametrize("make", [_mlp, _logistic], ids=["MLPClassifier", "LogisticRegression"])
def test_sklearn_digits_end_to_end(make, tmp_path):
    """Trained on load_digits (8×8, 0-16), exported with skl2onnx, built, recalculated by `formulas`."""
    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    path = _sklearn_onnx(make(), tmp_path / "digits.onnx")
    result = build(path, tmp_path / "digits.xlsx")
    assert result.network.input_shape == (64,)
    assert result.network.output_activation == "softmax"
    x, y = _digits()
    tests = x[1200:1204]
    want = expected(path, tests)
    reference = np.array([result.network.predict(v) for v in x[1200:1300]])
    np.testing.assert_allclose(reference, expected(path, x[1200:1300]), rtol=1e-5, atol=1e-6)
    workbook = FormulasWorkbook(result.path)
    for i, v in enumerate(tests):
        assert_matches(workbook.probabilities(v), want[i], f"digit {i}:")


def test_sklearn_zipmap_is_refused_with_the_fix(tmp_path):
    from excelnet.convert import build
    from excelnet.errors import UnsupportedModelError

    path = _sklearn_onnx(_logistic(), tmp_path / "zip.onnx", zipmap=True)
    with pytest.raises(UnsupportedModelError) as error:
        build(path, tmp_path / "zip.xlsx")
    assert "ZipMap" in str(error.value) and "'zipmap': False" in str(error.value)
    assert not (tmp_path / "zip.xlsx").exists()


@pytest.mark.parametrize("name", LENETS)
def test_pytorch_lenet_fixture_equals_onnxruntime(name, tmp_path):
    """examples/pytorch_to_workbook.py's LeNet (trained one epoch on MNIST), as both exporters wrote it,
    with --normalize: the NumPy reference on the shipped digits equals onnxruntime."""
    from excelnet.convert import load_network
    from excelnet.assets import DEFAULT_SAMPLES
    from excelnet.workbook.inputs import load_samples

    network = load_network(FIXTURES / name, "0.1307,0.3081")
    samples = load_samples(DEFAULT_SAMPLES, (28, 28, 1), 255.0)
    pixels = samples.model_inputs((28, 28, 1))[:20]
    onnx_inputs = ((pixels - np.float32(MNIST[0])) / np.float32(MNIST[1])).transpose(0, 3, 1, 2)
    want = expected(FIXTURES / name, onnx_inputs)
    got = np.array([network.predict(p) for p in pixels])
    for i in range(len(got)):
        assert_matches(got[i], want[i], f"digit {i}:")
    assert (got.argmax(1) == samples.labels[:20]).mean() >= 0.8     # it was trained: it reads digits


@pytest.mark.libreoffice
def test_pytorch_lenet_workbook_in_libreoffice(tmp_path, libreoffice):
    from excelnet.convert import build

    for name in LENETS:
        result = build(FIXTURES / name, tmp_path / f"{name}.xlsx", normalize="0.1307,0.3081")
        libreoffice.open(result.path)
        pixels = np.random.default_rng(3).uniform(0, 1, (2, 28, 28, 1)).astype(np.float32)
        want = expected(FIXTURES / name, ((pixels - np.float32(MNIST[0])) / np.float32(MNIST[1])).transpose(0, 3, 1, 2))
        for i, p in enumerate(pixels):
            assert_matches(libreoffice.probabilities(p), want[i], f"{name}, input {i}:")
        assert libreoffice.errors() == {}


BLOCKED = """
import sys
for name in ("tensorflow", "keras", "tf_keras", "torch", "onnxruntime"):
    sys.modules[name] = None          # any import of them now raises ImportError
from excelnet.cli import main
main(sys.argv[1:], standalone_mode=False)
heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "torch", "onnxruntime")
         and sys.modules[m] is not None]
assert not heavy, heavy
print("ran without tensorflow, torch and onnxruntime")
"""


def test_build_needs_no_torch_onnxruntime_or_tensorflow(tmp_path):
    model = shutil.copy(FIXTURES / LENETS[0], tmp_path / "lenet.onnx")
    run = subprocess.run([sys.executable, "-c", BLOCKED, "build", "-m", str(model), "--normalize", "0.1307,0.3081",
                          "-o", str(tmp_path / "lenet.xlsx")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "ran without tensorflow, torch and onnxruntime" in run.stdout
    assert (tmp_path / "lenet.xlsx").stat().st_size > 10_000


def test_missing_onnx_package_says_the_pip_command(tmp_path):
    model = shutil.copy(FIXTURES / LENETS[0], tmp_path / "lenet.onnx")
    code = "import sys; sys.modules['onnx'] = None\nfrom excelnet.cli import main\nmain(sys.argv[1:])"
    run = subprocess.run([sys.executable, "-c", code, "build", "-m", str(model), "-o", str(tmp_path / "l.xlsx")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert "pip install 'excelnet[onnx]'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "l.xlsx").exists()


def test_summary_and_verify_find_the_onnx_model(tmp_path, monkeypatch):
    """verify finds the .onnx next to the workbook (as for Keras files) and puts --normalize back."""
    from excelnet.cli import main
    from onnx_models import torchscript_cnn

    torchscript_cnn(13).save(tmp_path / "tiny.onnx")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    summary = runner.invoke(main, ["summary", "--model", "tiny.onnx"])
    assert summary.exit_code == 0, summary.output
    assert "Conv2D" in summary.output and "Dense" in summary.output
    built = runner.invoke(main, ["build", "-m", "tiny.onnx", "--normalize", "0.5,0.25", "-o", "tiny.xlsx"])
    assert built.exit_code == 0, built.output
    checked = runner.invoke(main, ["verify", "tiny.xlsx", "--engine", "formulas", "-n", "2", "-q"])
    assert checked.exit_code == 0, checked.output
    assert "tiny.onnx" in checked.output and "OK" in checked.output


def test_normalize_works_for_keras_files_too(tmp_path):
    """The shipped Keras model with a normalisation in front: a first 'Normalize' layer, (x − m) / s."""
    from excelnet.convert import load_network

    plain, normalised = load_network(), load_network(None, "0.5,2")
    assert normalised.ops[0].title == "Normalize" and len(normalised.ops) == len(plain.ops) + 1
    x = np.random.default_rng(0).uniform(0, 1, (28, 28, 1))
    np.testing.assert_allclose(normalised.predict(x), plain.predict((x - 0.5) / 2), rtol=1e-12)


@pytest.mark.parametrize("text", ["0.1", "a,b", "0.1,0", "1,2,3/4,5"])
def test_normalize_refuses_nonsense(text, tmp_path):
    from excelnet.cli import main

    result = CliRunner().invoke(main, ["build", "--normalize", text, "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0 and "--normalize" in result.output
    assert not (tmp_path / "x.xlsx").exists()
