"""Issue 18's promise for the networks people bring first, in every engine: the keras.io "Simple
MNIST convnet", TensorFlow's CIFAR-10 tutorial CNN, LeNet-5 and pytorch/examples' MNIST `Net`
(full size; the Net written with onnx.helper as PyTorch's TorchScript exporter lays it out, so
no torch is needed), and the small ONNX fixtures, each with random non-zero weights (fixed seeds):
built once per run, then in LibreOffice, IronCalc and Gnumeric

  - no error cell,
  - (IronCalc) every formula evaluates to the value the file stores (rtol 1e-9),
  - a random picture typed into the Canvas gives the probabilities of the model's own runtime
    (Keras, onnxruntime) within rtol 1e-5, atol 1e-6, and the same class.

The builds are shared by the three engines (module fixture, built on first use), so running
one engine's test builds only its model."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import IN_CI, assert_matches, keras_predict

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
STORED_RTOL = 1e-9

KERAS = {"keras.io MNIST convnet": "keras_mnist_convnet", "TensorFlow CIFAR-10 CNN": "tf_cifar10_cnn",
         "LeNet-5": "lenet5"}
FULL_NET = "pytorch/examples MNIST Net"
ONNX_FIXTURES = {"lenet_small.onnx": ["lenet_small.onnx"],
                 "lenet_small_dynamo.onnx": ["lenet_small_dynamo.onnx"],
                 "net_small.onnx": ["net_small.onnx"],
                 "net_small_dynamo.onnx": ["net_small_dynamo.onnx", "net_small_dynamo.onnx.data"]}
MODELS = list(KERAS) + [FULL_NET] + list(ONNX_FIXTURES)


@dataclass
class Built:
    model: Path
    result: object              # excelnet.convert.BuildResult
    x: np.ndarray               # one random picture, as the canvas holds it (height, width, channels)
    expected: np.ndarray        # the model's runtime on it: Keras, or onnxruntime (exp of a log_softmax)


def full_size_net(path: Path) -> Path:
    """pytorch/examples' MNIST Net at full size (conv1 1→32, conv2 32→64, max pool, fc1 9216→128,
    fc2 128→10, log_softmax), named as the TorchScript exporter names it, with PyTorch's own
    default initialisation (uniform ±1/√fan_in, weights and biases): its probabilities are
    spread, not all on one class as with larger weights."""
    from onnx_models import Graph

    g = Graph([1, 1, 28, 28], seed=18, opset=13)

    def uniform(fan_in: int, *shape: int) -> str:
        bound = 1 / np.sqrt(fan_in)
        return g.const(g.rng.uniform(-bound, bound, shape))

    g.node("Conv", uniform(9, 32, 1, 3, 3), uniform(9, 32), kernel_shape=[3, 3], name="/conv1/Conv")
    g.node("Relu")
    g.node("Conv", uniform(288, 64, 32, 3, 3), uniform(288, 64), kernel_shape=[3, 3], name="/conv2/Conv")
    g.node("Relu")
    g.node("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    g.node("Flatten", axis=1)
    g.node("Gemm", uniform(9216, 128, 9216), uniform(9216, 128), transB=1, name="/fc1/Gemm")
    g.node("Relu")
    g.node("Gemm", uniform(128, 10, 128), uniform(128, 10), transB=1, name="/fc2/Gemm")
    g.node("LogSoftmax", axis=1)
    return g.save(path)


class Tutorials:
    """Each model built on first use, kept for the rest of the module."""

    def __init__(self, folder: Path):
        self.folder, self.built, self.keras_paths = folder, {}, None

    def __getitem__(self, name: str) -> Built:
        if name not in self.built:
            self.built[name] = self._build(name)
        return self.built[name]

    def _build(self, name: str) -> Built:
        from excelnet.convert import build

        folder = self.folder / f"model{MODELS.index(name)}"
        folder.mkdir()
        if name in KERAS:
            model = self._keras_models()[KERAS[name]]
        elif name == FULL_NET:
            model = full_size_net(folder / "net.onnx")
        else:           # a model may only read its data file from its own folder
            for file in ONNX_FIXTURES[name]:
                shutil.copyfile(FIXTURES / file, folder / file)
            model = folder / name
        result = build(model, folder / "tutorial.xlsx")
        height, width, channels = result.network.input_shape
        x = np.random.default_rng(MODELS.index(name)).uniform(0, 1, (height, width, channels)).astype(np.float32)
        return Built(model, result, x, self._runtime(model, x))

    def _keras_models(self) -> dict[str, Path]:
        """examples/tutorial_models.py's copies (Keras' initialisation plus non-zero biases), seed 0."""
        if self.keras_paths is None:
            spec = importlib.util.spec_from_file_location("tutorial_models", ROOT / "examples" / "tutorial_models.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            out = self.folder / "keras"
            out.mkdir()
            self.keras_paths = {path.stem: path for path in module.write_keras(out, seed=0)}
        return self.keras_paths

    @staticmethod
    def _runtime(model: Path, x: np.ndarray) -> np.ndarray:
        if model.suffix == ".keras":
            import keras

            return keras_predict(keras.models.load_model(model), x[None])[0].reshape(-1)
        from test_onnx import expected

        return expected(model, x.transpose(2, 0, 1)[None])[0].reshape(-1)


@pytest.fixture(scope="module")
def tutorials(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="the ONNX models need onnxruntime (pip install -e '.[test]')")
    return Tutorials(tmp_path_factory.mktemp("tutorials"))


def _engine(module: str):
    """An engine module of excelnet.engines; skips with the reason, but fails in CI."""
    engine = importlib.import_module(f"excelnet.engines.{module}")
    reason = engine.unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"{module} is required in CI: {reason}")
        pytest.skip(reason)
    return engine


def test_the_models_are_the_tutorials(tutorials):
    """The copies have the published sizes (keras.io: 34,826 parameters; CIFAR-10: 122,570;
    LeNet-5: 61,706; the Net: 1,199,882) and the Net's sheets carry its module names."""
    sizes = {name: sum(op.parameter_count() for op in tutorials[name].result.network.ops)
             for name in list(KERAS) + [FULL_NET]}
    assert sizes == {"keras.io MNIST convnet": 34_826, "TensorFlow CIFAR-10 CNN": 122_570, "LeNet-5": 61_706,
                     FULL_NET: 1_199_882}
    net = tutorials[FULL_NET].result.network
    assert [op.name for op in net.ops if op.parameter_count()] == ["conv1", "conv2", "fc1", "fc2"]
    for name in MODELS:       # random pictures the models are unsure of: every probability is compared
        out = tutorials[name].expected
        if name == "TensorFlow CIFAR-10 CNN":           # its tutorial ends in logits (Dense(10), no softmax)
            out = np.exp(out - out.max()) / np.exp(out - out.max()).sum()
        assert out.max() < 0.999, (name, out)


@pytest.mark.parametrize("name", MODELS)
def test_ironcalc_evaluates_to_the_stored_values_and_to_the_runtime(tutorials, name):
    built = tutorials[name]
    workbook = _engine("ironcalc").IronCalcWorkbook(built.result.path)
    workbook.evaluate()
    cells = workbook.formula_cells()
    errors = [cell for cell in cells if cell.error]
    assert not errors, f"{name}: {len(errors)} error cells in IronCalc, e.g. " + \
        "; ".join(f"{c.sheet}!R{c.row}C{c.col} {c.value} = {c.formula[:120]}" for c in errors[:3])
    different = workbook.differences(rtol=STORED_RTOL, cells=cells)
    assert not different, f"{name}: {len(different)} formula cells differ from the stored values, e.g. " + \
        "; ".join(f"{c.sheet}!R{c.row}C{c.col} stored {c.value!r}, IronCalc {v!r}" for c, v in different[:3])
    assert len(workbook.cached) > 1000
    workbook.type_canvas(built.x)
    assert_matches(workbook.probabilities(), built.expected, f"{name} in IronCalc, a random picture:")
    assert not workbook.errors(), name


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", MODELS)
def test_libreoffice_shows_the_runtimes_probabilities(tutorials, libreoffice, name):
    built = tutorials[name]
    libreoffice.open(built.result.path)
    assert libreoffice.errors() == {}, name
    assert_matches(libreoffice.probabilities(built.x), built.expected, f"{name} in LibreOffice, a random picture:")
    assert libreoffice.errors() == {}, name


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")     # openpyxl on Gnumeric's file
@pytest.mark.parametrize("name", MODELS)
def test_gnumeric_shows_the_runtimes_probabilities(tutorials, tmp_path, name):
    """The picture typed into a copy of the file (ssconvert types only into its first sheet),
    recalculated by Gnumeric: nothing it complains of, no error cell, the runtime's probabilities."""
    from excelnet.engines.ironcalc import _canvas_value
    from excelnet.engines.names import read_public_cells

    gnumeric = _engine("gnumeric")
    built = tutorials[name]
    public = read_public_cells(built.result.path)
    typed = {(canvas.sheet, row, col): _canvas_value(built.x, k, row - canvas.top, col - canvas.left, canvas)
             for k, canvas in enumerate(public.canvases) for row, col in canvas.cells()}
    copy = gnumeric.typed_copy(built.result.path, tmp_path / "typed.xlsx", typed)
    result = gnumeric.recalculate(copy, tmp_path)
    assert not result.complaints, f"{name}: Gnumeric says: " + " | ".join(c[:200] for c in result.complaints[:5])
    errors = gnumeric.error_cells(result.path)
    assert not errors, f"{name}: {len(errors)} error cells in Gnumeric, e.g. {errors[:5]}"
    where = public.probabilities
    values = gnumeric.values(result.path, [where.sheet])
    got = np.array([values.get((where.sheet, row, col), np.nan) for row, col in where.cells()], np.float64)
    assert_matches(got, built.expected, f"{name} in Gnumeric, a random picture:")
