"""ONNX models end to end: every op and option the exporters write, built into a workbook and
evaluated in the `formulas` library (and LibreOffice), equal to onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_matches
from onnx_models import CASES

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")


def runtime_outputs(path, inputs: np.ndarray) -> np.ndarray:
    """onnxruntime's (first float) output for each input, one example at a time (NCHW or (N, F))."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    index = next(k for k, o in enumerate(session.get_outputs()) if o.type == "tensor(float)")
    return np.concatenate([session.run(None, {name: x[None].astype(np.float32)})[index] for x in inputs])


def channels_last(x: np.ndarray) -> np.ndarray:
    """One ONNX input (C, H, W) as excelnet's canvas (H, W, C); vectors stay as they are."""
    return x.transpose(1, 2, 0) if x.ndim == 3 else x


def expected(path, inputs: np.ndarray) -> np.ndarray:
    """What the workbook must show: onnxruntime's outputs, exp of them after a LogSoftmax."""
    import onnx

    out = runtime_outputs(path, inputs)
    ends_in_log_softmax = any(n.op_type == "LogSoftmax" for n in onnx.load(str(path)).graph.node)
    return np.exp(out) if ends_in_log_softmax else out


def case_inputs(shape, count: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count,) + tuple(shape[1:])).astype(np.float32)


@pytest.fixture(params=sorted(CASES))
def case(request, tmp_path):
    graph, extra_outputs = CASES[request.param]()
    path = graph.save(tmp_path / "model.onnx", extra_outputs)
    return request.param, path, graph.input_shape


def test_numpy_reference_equals_onnxruntime(case):
    """Network.predict (what verify compares with) is onnxruntime's answer, for every op."""
    from excelnet.convert import load_network

    name, path, shape = case
    network = load_network(path)
    inputs = case_inputs(shape, 8)
    want = expected(path, inputs)
    for i, x in enumerate(inputs):
        assert_matches(network.predict(channels_last(x)), want[i], f"{name}, input {i}:")


def test_workbook_equals_onnxruntime(case, tmp_path):
    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    name, path, shape = case
    result = build(path, tmp_path / "model.xlsx")
    workbook = FormulasWorkbook(result.path)
    inputs = case_inputs(shape, 2, seed=11)
    want = expected(path, inputs)
    for i, x in enumerate(inputs):
        assert_matches(workbook.probabilities(channels_last(x)), want[i], f"{name}, input {i}:")


@pytest.mark.libreoffice
def test_workbooks_in_libreoffice(tmp_path, libreoffice):
    """Every case in a real spreadsheet program, which may disagree with `formulas` on functions."""
    from excelnet.convert import build

    for name in sorted(CASES):
        graph, extra_outputs = CASES[name]()
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        path = graph.save(folder / "model.onnx", extra_outputs)
        build(path, folder / "model.xlsx")
        libreoffice.open(folder / "model.xlsx")
        inputs = case_inputs(graph.input_shape, 2, seed=13)
        want = expected(path, inputs)
        for i, x in enumerate(inputs):
            assert_matches(libreoffice.probabilities(channels_last(x)), want[i], f"{name}, input {i}:")
        assert libreoffice.errors() == {}, name


def test_reader_normalises_to_keras_layers(tmp_path):
    """The reader's output is Keras-style: channels-last kernels, Keras padding, folded constants."""
    from excelnet.reader import read_model
    from onnx_models import torchscript_cnn

    graph = torchscript_cnn(11)
    spec = read_model(graph.save(tmp_path / "m.onnx"))
    assert [layer.class_name for layer in spec.layers] == ["Conv2D", "Activation", "MaxPooling2D", "Flatten",
                                                           "Dense", "Softmax"]
    assert spec.input_shape == (7, 6, 2)
    conv = spec.layers[0]
    assert conv.weights[0].shape == (3, 2, 2, 3)                       # HWIO from OIHW (3, 2, 3, 2)
    assert conv.config["padding"] == ((1, 2), (0, 1)) and conv.config["strides"] == (2, 1)
    assert spec.layers[2].config["ceil_mode"] is True
    assert spec.layers[4].weights[0].shape == (18, 5)
    assert "LogSoftmax" in spec.extra["output_note"]


def test_flattened_feature_map_rows_are_permuted_to_keras_order(tmp_path):
    """PyTorch flattens (c, y, x); the workbook keeps Keras' (y, x, c): Dense row k reads ONNX row order[k]."""
    from excelnet.reader import read_model
    from onnx import numpy_helper
    from onnx_models import torchscript_cnn

    graph = torchscript_cnn(13)
    path = graph.save(tmp_path / "m.onnx")
    onnx_weight = numpy_helper.to_array(next(t for t in graph.initializers if t.dims[:] == [5, 18]))
    kernel = read_model(path).layers[4].weights[0]
    c, h, w = 3, 2, 3
    for y, x, ch in [(0, 0, 1), (1, 1, 2), (1, 2, 0)]:
        keras_row, onnx_row = (y * w + x) * c + ch, ch * h * w + y * w + x
        np.testing.assert_allclose(kernel[keras_row], 0.5 * onnx_weight[:, onnx_row])


def test_output_sheet_says_what_the_outputs_are(tmp_path):
    from excelnet.convert import load_network
    from onnx_models import global_max_squeeze, torchscript_cnn

    log_softmax = load_network(torchscript_cnn(13).save(tmp_path / "a.onnx"))
    assert log_softmax.output_activation == "softmax"
    assert "exp of the model's LogSoftmax" in log_softmax.output_description
    raw = load_network(global_max_squeeze().save(tmp_path / "b.onnx"))
    assert raw.output_activation == "linear" and "not probabilities" in raw.output_description
