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


def _edited(path: Path, edit, base=torchscript_cnn) -> Path:
    """A valid model with one hostile edit made to its ModelProto (not checked: it breaks the spec)."""
    import onnx

    model = base(13).model()
    edit(model)
    onnx.save(model, path)
    return path


def _duplicate_initializer(model) -> None:
    from onnx import numpy_helper

    first = model.graph.initializer[0]
    model.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(first) * 2, first.name))


def _times_infinity(model) -> None:
    """x · inf before the softmax: the workbook would show #NUM! (refused like an infinite weight)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    last = graph.node[-1]
    graph.initializer.append(numpy_helper.from_array(np.array(np.inf, np.float32), "infinity"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Mul", [last.input[0], "infinity"], ["scaled"], name="boost"))
    last.input[0] = "scaled"


def _secret_in_function(model, folder: Path) -> None:
    """A Constant with external data inside a local function, resolved against the current
    directory by onnx's own loader: it must be refused before anything is read."""
    from onnx import helper, numpy_helper

    tensor = numpy_helper.from_array(np.ones(2, np.float32), "k")
    tensor.ClearField("raw_data")
    tensor.data_location = 1
    tensor.external_data.add(key="location", value="secret.bin")
    body = [helper.make_node("Constant", [], ["k"], value=tensor), helper.make_node("Add", ["x", "k"], ["y"])]
    model.functions.append(helper.make_function("local", "Leak", ["x"], ["y"], body,
                                                opset_imports=[helper.make_opsetid("", 13)]))
    model.opset_import.append(helper.make_opsetid("local", 1))
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    relu.op_type, relu.domain = "Leak", "local"


def _loop(model) -> None:
    from onnx import helper, numpy_helper

    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("i", 7, []), helper.make_tensor_value_info("c_in", 9, [])],
                             [helper.make_tensor_value_info("c_out", 9, [])])
    model.graph.initializer.extend([numpy_helper.from_array(np.array(10**9, np.int64), "trips"),
                                    numpy_helper.from_array(np.array(True), "go")])
    model.graph.node.insert(0, helper.make_node("Loop", ["trips", "go"], ["spin"], name="forever", body=body))


def _expand_bomb(model) -> None:
    """A 30000 × 30000 Expand (3.6 GB) whose size feeds the output through a Size · 0."""
    from onnx import helper, numpy_helper

    graph = model.graph
    graph.initializer.extend([numpy_helper.from_array(np.ones((1, 1), np.float32), "one"),
                              numpy_helper.from_array(np.array([30000, 30000], np.int64), "big"),
                              numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
    last = graph.node[-1]
    graph.node.insert(len(graph.node) - 1, helper.make_node("Expand", ["one", "big"], ["bomb"], name="inflate"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Size", ["bomb"], ["count"], name="count"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Cast", ["count"], ["countf"], to=1, name="cast"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Mul", ["countf", "zero"], ["nothing"], name="times0"))
    graph.node.insert(len(graph.node) - 1, helper.make_node("Add", [last.input[0], "nothing"], ["same"], name="plus0"))
    last.input[0] = "same"


def _attribute(name: str, value):
    def edit(model) -> None:
        from onnx import helper

        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        kept = [a for a in conv.attribute if a.name != name]
        del conv.attribute[:]
        conv.attribute.extend(kept + [helper.make_attribute(name, value)])
    return edit


def _opset(version: int):
    def edit(model) -> None:
        model.opset_import[0].version = version
    return edit


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
    "duplicate initializer": (lambda d: _edited(d / "dup.onnx", _duplicate_initializer), "two initializers are named 'c1'"),
    "times infinity": (lambda d: _edited(d / "inf.onnx", _times_infinity), "node 'boost' (Mul): its constant holds 1 non-finite"),
    "external data in a function": (lambda d: _edited(d / "fn.onnx", lambda m: _secret_in_function(m, d)),
                                    "in the local function 'Leak': keeps its data in another file"),
    "loop": (lambda d: _edited(d / "loop.onnx", _loop), "attribute 'body' of node 'forever' (Loop) is a subgraph"),
    "expand bomb": (lambda d: _edited(d / "bomb.onnx", _expand_bomb), "node 'inflate' (Expand): its inputs are all "
                    "constants, but its output would hold 900,000,000 numbers"),
    "opset 99": (lambda d: _edited(d / "o99.onnx", _opset(99)), "it uses opset 99 of 'ai.onnx'"),
    "opset 0": (lambda d: _edited(d / "o0.onnx", _opset(0)), "it uses opset 0 of 'ai.onnx'"),
    "auto_pad EVIL": (lambda d: _edited(d / "pad.onnx", _attribute("auto_pad", "EVIL")),
                      "(Conv): auto_pad='EVIL' is not an ONNX padding"),
    "kernel_shape contradicts the weight": (lambda d: _edited(d / "k.onnx", _attribute("kernel_shape", [5, 5])),
                                            "its kernel_shape [5, 5] contradicts its weight's [3, 2]"),
    "strides 0": (lambda d: _edited(d / "s.onnx", _attribute("strides", [0, 0])),   # onnx's checker words it
                  "it breaks the ONNX specification"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_bad_onnx_gets_one_message_and_no_file(name, tmp_path):
    from excelnet.cli import main

    folder = tmp_path / "models"
    folder.mkdir()
    make, words = BROKEN[name]
    model = make(folder)
    output = tmp_path / "out.xlsx"
    (folder / "secret.bin").write_bytes(np.ones(2, np.float32).tobytes())     # beside the model: never read
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


@pytest.mark.parametrize("order", ["reversed", "softmax first", "shuffled"])
def test_nodes_in_any_order_build_what_onnxruntime_computes(order, tmp_path):
    """onnxruntime runs a graph whatever the order of its nodes: excelnet sorts them (a graph
    listed backwards once built with layers dropped and hidden values as probabilities)."""
    import onnx

    from excelnet.convert import load_network
    from test_onnx import case_inputs, channels_last, expected

    graph = torchscript_cnn(13)
    model = graph.model()
    nodes = list(model.graph.node)
    if order == "reversed":
        nodes.reverse()
    elif order == "softmax first":
        nodes = nodes[-1:] + nodes[:-1]
    else:
        np.random.default_rng(3).shuffle(nodes)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    path = tmp_path / "unsorted.onnx"
    onnx.save(model, path)
    sorted_path = graph.save(tmp_path / "sorted.onnx")
    network, reference = load_network(path), load_network(sorted_path)
    assert [type(op).__name__ for op in network.ops] == [type(op).__name__ for op in reference.ops]
    inputs = case_inputs(graph.input_shape, 4)
    want = expected(path, inputs)
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(network.predict(channels_last(x)), want[i], rtol=1e-5, atol=1e-6)


def test_hostile_onnx_names_stay_names_in_the_workbook(tmp_path):
    """A node named a"&Output!B4&" is a label in the Explain sheet's string literal (its quotes
    doubled), an ESC is shown as \\x1b, and the workbook is well-formed XML."""
    import re
    import zipfile
    from xml.etree import ElementTree

    import onnx

    from excelnet.convert import build

    model = torchscript_cnn(13).model()
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    convs[0].name = 'a"&Output!B4&"'
    next(n for n in model.graph.node if n.op_type == "Gemm").name = "esc\x1b[31mred\x00"
    path = tmp_path / "names.onnx"
    onnx.save(model, path)
    build(path, tmp_path / "names.xlsx")
    with zipfile.ZipFile(tmp_path / "names.xlsx") as book:
        xml = {name: book.read(name).decode() for name in book.namelist() if name.endswith(".xml")}
    for text in xml.values():
        ElementTree.fromstring(text)
    everything = "\n".join(xml.values())
    assert 'a"&amp;Output!B4&amp;"' in everything.replace("&quot;", '"')   # kept as text
    formulas = re.findall(r"<f>(.*?)</f>", everything, re.S)
    assert not [f for f in formulas if "Output!B4" in f.replace('""', "")
                and '"a""&amp;Output!B4&amp;""' not in f]              # never formula code
    assert "esc\\x1b[31mred\\x00" in everything and "\x1b" not in everything


def _with_external(model, location: str, offset: int = 0):
    """The model's first weight moved to `location` (its data dropped from the model)."""
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = 1
    tensor.external_data.add(key="location", value=location)
    if offset:
        tensor.external_data.add(key="offset", value=str(offset))
    return model


@pytest.mark.parametrize("location", ["a\x00b", "loop1", "", ".", "sub/..", "up/secret.bin", "../secret.bin",
                                      "/etc/passwd", "link.bin"])
def test_external_data_leads_nowhere_outside_the_folder(location, tmp_path):
    """A NUL byte, a symlink loop, the folder itself, a symlinked folder or file leading out:
    refused with one message, before anything is read."""
    import os

    import onnx

    from excelnet.errors import ModelFileError
    from excelnet.reader import read_model

    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(np.ones(64, np.float32).tobytes())
    os.symlink("loop2", folder / "loop1")
    os.symlink("loop1", folder / "loop2")
    os.symlink(tmp_path, folder / "up")
    os.symlink(tmp_path / "secret.bin", folder / "link.bin")
    onnx.save(_with_external(torchscript_cnn(13).model(), location), folder / "m.onnx")
    with pytest.raises(ModelFileError, match="the initializer 'c1': it points to external data .* outside the "
                                             "model's folder"):
        read_model(folder / "m.onnx")


def test_external_data_beside_the_model_is_read(tmp_path):
    """Weights kept in a file beside the model (at an offset) give the same network."""
    import onnx
    from onnx import numpy_helper

    from excelnet.convert import load_network

    model = torchscript_cnn(13).model()
    weight = numpy_helper.to_array(model.graph.initializer[0])
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8 + weight.tobytes())
    onnx.save(model, tmp_path / "inside.onnx")
    onnx.save(_with_external(model, "weights.bin", offset=8), tmp_path / "beside.onnx")
    x = np.random.default_rng(0).uniform(0, 1, (7, 6, 2))
    np.testing.assert_array_equal(load_network(tmp_path / "beside.onnx").predict(x),
                                  load_network(tmp_path / "inside.onnx").predict(x))
