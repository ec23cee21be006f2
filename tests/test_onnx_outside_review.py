"""Holes an outside review of issue 19 found with hand-made hostile ONNX files (each failed
before its fix): a name holding U+FFFE made the build die with lxml's traceback, and a network
of thousands of one-cell layers took minutes to build."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from onnx_models import Graph, torchscript_cnn

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
