"""Bad ONNX input: one readable message listing every problem, a non-zero exit, no traceback,
and no output file written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from onnx_models import Graph, torchscript_cnn

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")

FIXTURE = Path(__file__).parent / "fixtures" / "lenet_small.onnx"


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _empty_graph(path: Path) -> Path:
    g = Graph([1, 4])
    g.current = "input"
    return g.save(path, check=False)


def _unsupported_ops(path: Path) -> Path:
    """Two unsupported nodes and a bad option: all three are listed."""
    g = Graph([1, 2, 5, 5])
    g.node("Conv", g.random(3, 2, 3, 3), group=1, dilations=[2, 2])
    g.node("LpNormalization", name="norm_me")
    g.node("Transpose", perm=[0, 1, 3, 2], name="flip")
    g.node("Flatten")
    return g.save(path)


def _unknown_domain(path: Path) -> Path:
    g = Graph([1, 4])
    g.node("Relu")
    g.node("FancyActivation", domain="com.example.custom", name="fancy")
    model = g.model()
    from onnx import helper

    model.opset_import.append(helper.make_opsetid("com.example.custom", 1))
    import onnx

    onnx.save(model, path)
    return path


def _two_inputs(path: Path) -> Path:
    from onnx import TensorProto, helper
    import onnx

    node = helper.make_node("Add", ["a", "b"], ["y"], name="sum")
    graph = helper.make_graph([node], "two", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3]) for n in "ab"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _external_outside(path: Path) -> Path:
    """A weight whose external data points at ../secret.bin: excelnet must not read it."""
    import onnx

    model = torchscript_cnn(13).model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    (path.parent.parent / "secret.bin").write_bytes(b"\0" * 1024)
    onnx.save(model, path)
    return path


BROKEN = {
    # name: (how to make it in a folder, words the message must contain)
    "truncated": (lambda d: _bytes(d / "cut.onnx", FIXTURE.read_bytes()[:20_000]), "truncated"),
    "random bytes": (lambda d: _bytes(d / "noise.onnx", np.random.default_rng(0).bytes(5000)), "not a readable ONNX"),
    "text": (lambda d: _bytes(d / "notes.onnx", b"this is not a model\n"), "not a readable ONNX"),
    "empty graph": (lambda d: _empty_graph(d / "empty.onnx"), "no nodes"),
    "unsupported ops": (lambda d: _unsupported_ops(d / "ops.onnx"), "'norm_me' (LpNormalization)"),
    "unknown domain": (lambda d: _unknown_domain(d / "custom.onnx"), "com.example.custom"),
    "two inputs": (lambda d: _two_inputs(d / "two.onnx"), "2 inputs"),
    "external data outside the folder": (lambda d: _external_outside(d / "ext.onnx"), "outside the model's folder"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_bad_onnx_gets_one_message_and_no_file(name, tmp_path):
    from excelnet.cli import main

    folder = tmp_path / "models"
    folder.mkdir()
    make, words = BROKEN[name]
    model = make(folder)
    output = tmp_path / "out.xlsx"
    result = CliRunner().invoke(main, ["build", "-m", str(model), "-o", str(output)])
    assert result.exit_code == 1, result.output
    assert words in result.output, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert not output.exists()


def test_every_unsupported_node_is_listed_at_once(tmp_path):
    from excelnet.convert import build
    from excelnet.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError) as error:
        build(_unsupported_ops(tmp_path / "m.onnx"), tmp_path / "m.xlsx")
    text = str(error.value)
    assert "dilations=[2, 2] is not supported" in text
    assert "node 'norm_me' (LpNormalization)" in text and "node 'flip' (Transpose)" in text
    assert "Supported ONNX operators: " in text and "Conv" in text


def test_zipmap_named_in_a_hand_built_graph(tmp_path):
    """A ZipMap output without skl2onnx: still the zipmap=False advice."""
    from onnx import TensorProto, helper
    import onnx

    from excelnet.errors import UnsupportedModelError
    from excelnet.reader import read_model

    nodes = [helper.make_node("Softmax", ["x"], ["p"], axis=1),
             helper.make_node("ZipMap", ["p"], ["z"], domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2])]
    zipped = helper.make_value_info("z", helper.make_sequence_type_proto(helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    graph = helper.make_graph(nodes, "z", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])], [zipped])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)])
    onnx.save(model, tmp_path / "z.onnx")
    with pytest.raises(UnsupportedModelError, match="zipmap"):
        read_model(tmp_path / "z.onnx")
