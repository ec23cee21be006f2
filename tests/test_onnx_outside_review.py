"""Holes an outside review of issue 19 found with hand-made hostile ONNX files (each failed
before its fix): a name holding U+FFFE made the build die with lxml's traceback, and a network
of thousands of one-cell layers took minutes to build."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from onnx_models import Graph, activations_mlp, torchscript_cnn

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")


def test_xml_forbidden_non_characters_in_names_are_escaped(tmp_path):
    """U+FFFE and U+FFFF are valid UTF-8 but forbidden in XML: shown as \\ufffe, the workbook well-formed."""
    import onnx

    from excelnet.convert import build

    model = torchscript_cnn(13).model()
    model.graph.node[0].name = "conv\ufffe\uffff"
    path = tmp_path / "names.onnx"
    onnx.save(model, path)
    build(path, tmp_path / "names.xlsx")
    with zipfile.ZipFile(tmp_path / "names.xlsx") as book:
        xml = [book.read(name).decode() for name in book.namelist() if name.endswith(".xml")]
    for text in xml:
        ElementTree.fromstring(text)
    everything = "\n".join(xml)
    assert "conv\\ufffe\\uffff" in everything and "\ufffe" not in everything


def test_thousands_of_layers_are_refused_before_the_workbook_is_planned(tmp_path):
    """9,000 Relu layers on a 4-vector built for 75 s (the promise is 30 s): refused, with the count."""
    from excelnet.cli import main
    from excelnet.reader.onnx import MAX_LAYERS

    graph = Graph([1, 4], opset=13)
    for _ in range(MAX_LAYERS + 1):
        graph.node("Relu")
    graph.node("Gemm", graph.random(4, 3), graph.random(3))
    graph.node("Softmax", axis=1)
    path = graph.save(tmp_path / "deep.onnx")
    output = tmp_path / "deep.xlsx"
    output.write_bytes(b"kept")
    for args in (["build", "-m", str(path), "-o", str(output)], ["summary", "-m", str(path)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and f"{MAX_LAYERS + 3:,} layers" in result.output, result.output
    assert output.read_bytes() == b"kept"


def test_a_constant_that_overflows_while_folded_prints_no_numpy_warning(tmp_path):
    """1 doubled 200 times in float32 overflows to inf; the chain only feeds a Size (so the model
    is fine and builds), and NumPy's RuntimeWarning must not reach the terminal."""
    import warnings

    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from excelnet.convert import build

    model = activations_mlp().model()      # ends in a Gemm: anything may follow
    graph, last = model.graph, model.graph.output[0].name
    for node in graph.node:
        node.output[:] = ["pre" if name == last else name for name in node.output]
    graph.initializer.extend([numpy_helper.from_array(np.ones(1, np.float32), "a0"),
                              numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
    graph.node.extend([helper.make_node("Add", [f"a{k}", f"a{k}"], [f"a{k + 1}"], name=f"double{k}") for k in range(200)])
    graph.node.extend([helper.make_node("Size", ["a200"], ["size"]), helper.make_node("Cast", ["size"], ["sizef"], to=1),
                       helper.make_node("Mul", ["sizef", "zero"], ["nothing"]),
                       helper.make_node("Add", ["pre", "nothing"], [last])])
    path = tmp_path / "overflow.onnx"
    onnx.save(model, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build(path, tmp_path / "overflow.xlsx")
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert (tmp_path / "overflow.xlsx").stat().st_size > 0
