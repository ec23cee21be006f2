"""What makes a 10^6-weight model (pytorch/examples' MNIST Net) build in seconds and a few
hundred MB: large weight blocks kept as arrays (SheetPlan.values), groups of formulas evaluated
in parts, sheets streamed into the file. Each must give exactly what the plain way gives."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")


def wide_dense(path, seed: int = 0):
    """A 48 x 96 picture → Conv 2 maps → Flatten → Gemm(4 units of 8,648 weights) → Softmax:
    each unit's weight block is large enough to be kept as one array."""
    from onnx_models import Graph

    g = Graph([1, 1, 48, 96], seed=seed, opset=13)
    g.node("Conv", g.random(2, 1, 3, 3), g.random(2), kernel_shape=[3, 3])
    g.node("Relu")
    g.node("Flatten", axis=1)
    g.node("Gemm", g.random(4, 2 * 46 * 94), g.random(4), transB=1)
    g.node("Softmax", axis=1)
    return g.save(path)


def many_channels(path, seed: int = 1):
    """Conv 40 maps → Conv 2 maps of 11 × 11: each filter of the second is 40 pictures of
    11 × 11, one block of 4,840 numbers."""
    from onnx_models import Graph

    g = Graph([1, 1, 14, 14], seed=seed, opset=13)
    g.node("Conv", g.random(40, 1, 3, 3), g.random(40), kernel_shape=[3, 3])
    g.node("Relu")
    g.node("Conv", g.random(2, 40, 11, 11), g.random(2), kernel_shape=[11, 11])
    g.node("Relu")
    g.node("Flatten", axis=1)
    g.node("Gemm", g.random(4, 8), g.random(4), transB=1)
    g.node("Softmax", axis=1)
    return g.save(path)


def parts(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


@pytest.mark.parametrize("make, arrays, learn", [(wide_dense, 4, False), (many_channels, 2, False),
                                                 (many_channels, 2, True)],
                         ids=["dense", "conv", "conv --learn"])
def test_value_blocks_write_the_workbook_that_cells_write(tmp_path, monkeypatch, make, arrays, learn):
    """Byte for byte (cached values included), and verify's weights read the same numbers."""
    from excelnet.convert import build, plan_for
    from excelnet.ops import cells
    from excelnet.summary import summarize_plan

    model = make(tmp_path / "model.onnx")
    blocks = build(model, tmp_path / "blocks.xlsx", learn=learn)
    assert sum(len(s.values) for s in blocks.plan.sheets) == arrays        # one array per unit or filter
    monkeypatch.setattr(cells, "VALUE_BLOCK_SIZE", 10 ** 9)
    plain = build(model, tmp_path / "cells.xlsx", learn=learn)
    assert sum(len(s.values) for s in plain.plan.sheets) == 0
    assert parts(blocks.path) == parts(plain.path)
    if not learn:                       # summary plans the workbook without the learning sheets
        assert summarize_plan(blocks.plan).total == summarize_plan(plain.plan).total
    monkeypatch.undo()
    planned = plan_for(model, learn=learn)[0]
    by_title = {s.title: s for s in planned.sheets}
    plain_cells = {s.title: s.cells for s in plain.plan.sheets}
    for params in planned.params.values():
        for array in params.arrays:
            positions = array.positions()
            got = by_title[array.sheet].number_at(positions)
            np.testing.assert_array_equal(got, [plain_cells[array.sheet][p] for p in positions])


def test_groups_in_parts_give_the_same_values(monkeypatch, default_build):
    """Every formula's cached value, with each group evaluated in parts of a few cells."""
    from excelnet import evaluate
    from excelnet.convert import cached_values

    whole = cached_values(default_build.plan.sheets)
    monkeypatch.setattr(evaluate, "CELLS_READ_AT_ONCE", 50)
    split = evaluate.Evaluator(default_build.plan.sheets)
    assert len(split.order) > 2 * len(split.groups)
    in_parts = cached_values(default_build.plan.sheets)
    assert in_parts.keys() == whole.keys()
    for title in whole:
        assert in_parts[title] == whole[title], title
