"""pytorch/examples' MNIST `Net`, as a user exports it with both of PyTorch's exporters: the
committed fixtures tests/fixtures/net_small*.onnx (the same layers, 4 and 8 channels and 16
units instead of 32, 64 and 128; made by `examples/tutorial_models.py --fixtures`, which needs
torch: these tests do not). The dynamo export keeps its weights in net_small_dynamo.onnx.data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_matches

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")

FIXTURES = Path(__file__).parent / "fixtures"
EXPORTS = {"torchscript": ["net_small.onnx"], "dynamo": ["net_small_dynamo.onnx", "net_small_dynamo.onnx.data"]}
MODULES = ["conv1", "conv2", "fc1", "fc2"]          # the names in the Net's own source


def copy_export(exporter: str, folder: Path) -> Path:
    """The export's files in a folder of their own (a model may only read data from its own folder)."""
    for name in EXPORTS[exporter]:
        shutil.copyfile(FIXTURES / name, folder / name)
    return folder / EXPORTS[exporter][0]


def log_probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    """onnxruntime's output for each (1, 28, 28) image: the Net's log_softmax."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[None].astype(np.float32)})[0] for x in images])


def images(count: int, seed: int) -> np.ndarray:
    """Random non-zero pictures in the model's range, NCHW without the batch axis."""
    return np.random.default_rng(seed).uniform(0, 1, (count, 1, 28, 28)).astype(np.float32)


@pytest.fixture(params=sorted(EXPORTS))
def export(request, tmp_path):
    return request.param, copy_export(request.param, tmp_path)


def test_sheets_carry_the_module_names_the_user_wrote(export):
    """The TorchScript exporter names nodes '/conv1/Conv'; the dynamo exporter 'node_conv2d', with
    the module path in its metadata: both become conv1, conv2, fc1, fc2."""
    from excelnet.reader import read_model

    exporter, path = export
    names = [layer.name for layer in read_model(path).layers]
    weighted = [layer.name for layer in read_model(path).layers if layer.weights]
    assert weighted == MODULES, (exporter, names)
    assert not any(name.startswith("node_") for name in names), names


def test_reference_is_the_exp_of_onnxruntimes_log_softmax(export):
    """verify compares the workbook with Network.predict: it must be onnxruntime's own answer,
    read as probabilities (the exp of the model's log-probabilities)."""
    from excelnet.convert import load_network

    exporter, path = export
    network = load_network(path)
    assert network.output_activation == "softmax"
    assert "log" in network.output_description.lower()
    x = images(6, seed=3)
    logs = log_probabilities(path, x)
    for i in range(len(x)):
        got = network.predict(x[i].transpose(1, 2, 0))
        assert_matches(got, np.exp(logs[i]), f"{exporter}, image {i}:")
        assert_matches(np.log(got), logs[i], f"{exporter}, image {i} (log):")
        assert int(np.argmax(got)) == int(np.argmax(logs[i]))


def test_dynamo_export_without_its_data_file_is_refused_by_name(tmp_path):
    from excelnet.cli import main
    from click.testing import CliRunner

    shutil.copyfile(FIXTURES / "net_small_dynamo.onnx", tmp_path / "net.onnx")
    result = CliRunner().invoke(main, ["build", "-m", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "o.xlsx")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "net_small_dynamo.onnx.data" in result.output and "missing" in result.output, result.output
    assert not (tmp_path / "o.xlsx").exists()


@pytest.mark.libreoffice
def test_both_exports_build_and_equal_onnxruntime_in_libreoffice(tmp_path, libreoffice):
    """Built with the CLI, recalculated in LibreOffice on random pictures: the Probabilities are
    the exp of onnxruntime's log_softmax (same class), no error cell; `verify` passes; the sheets
    are named after the modules."""
    import openpyxl

    from excelnet.verify import verify

    for exporter in sorted(EXPORTS):
        folder = tmp_path / exporter
        folder.mkdir()
        path = copy_export(exporter, folder)
        workbook = folder / "net.xlsx"
        run = subprocess.run([sys.executable, "-m", "excelnet", "build", "-m", str(path), "-o", str(workbook)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        titles = openpyxl.load_workbook(workbook, read_only=True).sheetnames
        for module in MODULES:
            assert any(title.endswith(f" {module}") for title in titles), (module, titles)
        libreoffice.open(workbook)
        x = images(2, seed=5)
        logs = log_probabilities(path, x)
        for i in range(len(x)):
            got = libreoffice.probabilities(x[i].transpose(1, 2, 0))
            assert_matches(got, np.exp(logs[i]), f"{exporter}, image {i}:")
            assert int(np.argmax(got)) == int(np.argmax(logs[i]))
        assert libreoffice.errors() == {}, exporter
        report = verify(workbook, engine="libreoffice", samples=2, progress=False, office=libreoffice)
        assert report.ok, "\n".join(report.lines())


# --- the cell budget and Excel's limits ---------------------------------------------------------

def full_size_net(path: Path) -> Path:
    """The Net at full size (conv 32, conv 64, fc1 9216 → 128, fc2 128 → 10), random weights,
    written with onnx.helper as the TorchScript exporter lays it out."""
    from onnx_models import Graph

    g = Graph([1, 1, 28, 28], seed=4, opset=13)
    g.node("Conv", g.random(32, 1, 3, 3), g.random(32), kernel_shape=[3, 3], name="/conv1/Conv")
    g.node("Relu")
    g.node("Conv", g.random(64, 32, 3, 3), g.random(64), kernel_shape=[3, 3], name="/conv2/Conv")
    g.node("Relu")
    g.node("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    g.node("Flatten", axis=1)
    g.node("Gemm", g.random(128, 9216), g.random(128), transB=1, name="/fc1/Gemm")
    g.node("Relu")
    g.node("Gemm", g.random(10, 128), g.random(10), transB=1, name="/fc2/Gemm")
    g.node("LogSoftmax", axis=1)
    return g.save(path)


def test_the_default_budget_admits_the_full_size_net(tmp_path):
    from excelnet.convert import load_network
    from excelnet.workbook.limits import DEFAULT_CELL_BUDGET, estimated_cells

    network = load_network(full_size_net(tmp_path / "net.onnx"))        # refuses when over the budget
    assert [op.name for op in network.ops if op.parameter_count()] == MODULES
    assert 1_400_000 <= estimated_cells(network) <= DEFAULT_CELL_BUDGET


def _cli_build(model: Path, out: Path, *more: str) -> subprocess.CompletedProcess:
    out.write_bytes(b"an earlier workbook")
    run = subprocess.run([sys.executable, "-m", "excelnet", "build", "-m", str(model), "-o", str(out), *more],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "Traceback" not in run.stderr + run.stdout, run.stderr
    assert out.read_bytes() == b"an earlier workbook"
    return run


def test_over_the_budget_is_one_message_with_layer_budget_count_and_the_way_out(tmp_path):
    run = _cli_build(full_size_net(tmp_path / "net.onnx"), tmp_path / "net.xlsx", "--max-cells", "500000")
    message = run.stderr.strip()
    assert message.count("Error") == 1, message
    for words in ["'fc1' (Dense)", "budget of 500,000 cells", "e.g. --max-cells ", "smaller", "nothing was written"]:
        assert words in message, (words, message)
    count = int(message.split("about ")[1].split(" cells")[0].replace(",", ""))
    suggested = int(message.split("e.g. --max-cells ")[1].split(";")[0])
    assert count > 500_000 and suggested >= count


def test_a_layer_wider_than_a_sheet_is_refused_naming_it_excels_limit_and_the_way_out(tmp_path):
    """A Gemm of 17,000 units: one row of 17,000 cells, more than Excel's 16,384 columns. No
    budget helps; the message says to make the layer smaller."""
    from onnx_models import Graph

    g = Graph([1, 3], seed=6, opset=13)
    g.node("Gemm", g.random(17_000, 3), g.random(17_000), transB=1, name="/wide/Gemm")
    g.node("Softmax", axis=1)
    run = _cli_build(g.save(tmp_path / "wide.onnx"), tmp_path / "wide.xlsx", "--max-cells", "10000000")
    message = run.stderr.strip()
    for words in ["layer 'wide' (Dense)", "columns", "Excel's 16,384", "smaller", "nothing was written"]:
        assert words in message, (words, message)
    assert str(17_000 + 1) in message.replace(",", "") or "17,0" in message, message


def test_module_path_is_read_as_data(tmp_path):
    """The dynamo exporter's name scopes are a Python literal in the file: read, never run, and
    anything else falls back to the node's name."""
    from onnx import helper

    from excelnet.reader.onnx import layer_name

    def node(scopes: str | None, name: str = "node_conv2d"):
        made = helper.make_node("Conv", ["x", "w"], ["y"], name=name)
        if scopes is not None:
            entry = made.metadata_props.add()
            entry.key, entry.value = "pkg.torch.onnx.name_scopes", scopes
        return made

    assert layer_name(node("['', 'features', '0', 'conv2d']")) == "features.0"
    assert layer_name(node("['', 'relu_1']")) == "relu_1"
    assert layer_name(node("['', 'fc1', 'linear']")) == "fc1"
    for hostile in ["__import__('os').system('true')", "['', 1, 'x']", "[" * 5000, "{'a': 1}", "", "['']"]:
        assert layer_name(node(hostile)) == "node_conv2d", hostile
    assert layer_name(node("['', 'bad\\x1b[2J', 'conv2d']")) == "bad\\x1b[2J"      # escaped, as every name


def test_tutorial_copies_have_the_published_sizes():
    """examples/tutorial_models.py's Keras copies have the parameter counts their tutorials print
    (keras.io 'Simple MNIST convnet': 34,826; TensorFlow's CIFAR-10 CNN: 122,570; LeNet-5: 61,706)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tutorial_models", Path(__file__).parent.parent / "examples"
                                                  / "tutorial_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sizes = {name: make().count_params() for name, make in module.keras_models().items()}
    assert sizes == {"keras_mnist_convnet": 34_826, "tf_cifar10_cnn": 122_570, "lenet5": 61_706}
