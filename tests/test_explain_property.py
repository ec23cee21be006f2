"""Property: in a workbook of any chain of supported layers (random shapes, options and weights),
every part of the Explain sheet agrees with the cell it explains. For random positions in every
layer, with a random input typed into the Canvas, excelnet's own evaluator computes the sheet:
ExplainValue equals the layer's NumPy output there, and "Same?" says "same" for every layer
Explain works out step by step (Conv2D, pooling, Dense); the others say they only copy or rescale.

Models come from test_property's recipes (every supported Keras layer); the sheet writer
refuses to write one cell twice, so two parts that overlap fail the build itself."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_property import _build, input_range, recipes

EXPLAINED = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense")
CONTROLS = ("ExplainLayer", "ExplainChannel", "ExplainRow", "ExplainColumn")
# INDEX over a one-cell range (IronCalc: #VALUE!, Gnumeric: #REF!), and a number in exponent
# notation such as 1E-9 (HyperFormula cannot read it), outside quoted text.
ONE_CELL_INDEX = re.compile(r"INDEX\((?:'(?:[^']|'')*'!)?\$?[A-Z]{1,3}\$?\d+,")
EXPONENT = re.compile(r"(?<![A-Z$])\d(?:\.\d*)?E[+-]?\d")


def engine_problems(sheet) -> list[str]:
    """Explain formulas some spreadsheet engine cannot compute."""
    from excelnet.sheet import Formula

    found = []
    for (row, col), value in sheet.cells.items():
        if type(value) is Formula:
            code = re.sub(r'"[^"]*"', '""', value.expression)
            if ONE_CELL_INDEX.search(code) or EXPONENT.search(code):
                found.append(f"R{row}C{col}: {value.expression}")
    return found


def _workbook(network):
    from excelnet.evaluate import Evaluator
    from excelnet.workbook.build import plan_workbook

    plan = plan_workbook(network)
    sheets = {sheet.title: sheet for sheet in plan.sheets}
    return sheets, Evaluator(plan.sheets)


def _canvas(sheets, x) -> dict:
    """The input typed into the Canvas, cell by cell."""
    from excelnet.engines.in_office import canvas_order
    from excelnet.engines.libreoffice import canvas_grids

    names = sheets["Input"].names
    changes = {}
    for rect, grid in zip((names[n] for n in canvas_order(names)), canvas_grids(x)):
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                changes[(rect.sheet, rect.row + r, rect.col + c)] = float(value)
    return changes


def _positions(shape, rng, count):
    """(channel, row, col), 1-based: random ones and the last cell."""
    if len(shape) == 1:
        picks = [(int(rng.integers(shape[0])) + 1, 1, 1) for _ in range(count - 1)] + [(shape[0], 1, 1)]
    else:
        channels = shape[2] if len(shape) == 3 else 1
        picks = [(int(rng.integers(channels)) + 1, int(rng.integers(shape[0])) + 1, int(rng.integers(shape[1])) + 1)
                 for _ in range(count - 1)] + [(channels, shape[0], shape[1])]
    return picks


def explain_agrees(network, x, seed: int, per_layer: int = 2) -> int:
    """Check every layer's part at a few positions; returns how many picks said "same"."""
    sheets, book = _workbook(network)
    explain = sheets["Explain"]
    assert engine_problems(explain) == []
    controls = [explain.names[name] for name in CONTROLS]
    value_cell, same_cell = explain.names["ExplainValue"], explain.names["ExplainSame"]
    canvas = _canvas(sheets, x)
    trace = network.trace(x)
    rng = np.random.default_rng(seed)
    said_same = 0
    for index, op in enumerate(network.ops, start=1):
        out = np.asarray(trace[index - 1], dtype=np.float64)
        for channel, row, col in _positions(op.output_shape, rng, per_layer):
            typed = dict(canvas)
            typed.update({(rect.sheet, rect.row, rect.col): float(v)
                          for rect, v in zip(controls, (index, channel, row, col))})
            book.run(typed)
            what = f"layer {index} ({op.title} {op.name}) channel {channel} row {row} col {col}"
            same = book.value(explain.title, same_cell.row, same_cell.col)
            value = book.value(explain.title, value_cell.row, value_cell.col)
            expected = out[channel - 1] if out.ndim == 1 else out.reshape(out.shape[0], out.shape[1], -1)[
                row - 1, col - 1, channel - 1]
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), f"{what}: ExplainValue {value!r}"
            if op.title in EXPLAINED:
                assert same == "same", f"{what}: Same? says {same!r}"
                said_same += 1
            else:
                assert same.startswith("this layer only copies"), f"{what}: Same? says {same!r}"
    return said_same


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recipe=recipes(), seed=st.integers(0, 1000))
def test_every_explain_pick_says_same(recipe, seed):
    from excelnet.convert import load_network

    framework, fmt, shape, layers = recipe
    model = _build(framework, shape, layers, seed)
    low, high = input_range(layers)
    x = np.random.default_rng(seed).uniform(low, high, shape)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model{fmt}"
        model.save(path)
        network = load_network(path)
    assert explain_agrees(network, x, seed) >= 2          # the last Dense at least, twice


def test_the_issue_model_explains_its_dense_layer(tmp_path):
    """Issue 18: Flatten → Dropout → Dense(16, sigmoid) after a 7×7×4 average pool. Its list of
    196 products ran into the next layer's part, which overwrote it: every unit said "different"."""
    import keras

    from conftest import random_init
    from excelnet.convert import load_network

    L = keras.layers
    model = keras.Sequential([keras.Input((14, 14, 1)), L.Conv2D(4, 3, padding="same", activation="relu",
                                                                 **random_init(1)),
                              L.AveragePooling2D(2), L.Flatten(), L.Dropout(0.2),
                              L.Dense(16, activation="sigmoid", **random_init(3)),
                              L.Dense(10, activation="softmax", **random_init(5))])
    model.save(tmp_path / "issue.keras")
    network = load_network(tmp_path / "issue.keras")
    x = np.random.default_rng(0).uniform(0, 1, (14, 14, 1))
    assert explain_agrees(network, x, seed=1, per_layer=4) == 4 * 4


def test_the_engine_check_finds_what_it_looks_for():
    from excelnet.sheet import SheetPlan

    sheet = SheetPlan("Explain", "explain")
    sheet.formula(1, 1, "INDEX($B$5,1,1)+1")
    sheet.formula(2, 1, "ABS(A1)<=1E-9*MAX(1,A2)")
    sheet.formula(3, 1, "INDEX('1 conv'!$B$5:$C$9,2,1)+IF(A1,\"see 1E-9\",0.000000001)+INDEX(E1:E5,2)")
    assert [p.split(":")[0] for p in engine_problems(sheet)] == ["R1C1", "R2C1"]


def test_a_cell_written_twice_is_refused():
    from excelnet.sheet import CellWrittenTwice, SheetPlan

    sheet = SheetPlan("Explain", "explain")
    sheet.put(3, 2, 1.5)
    for write in (lambda: sheet.put(3, 2, "x"), lambda: sheet.formula(3, 2, "A1"),
                  lambda: sheet.insert_formulas(np.array([4, 3]), np.array([1, 2]), ["A1", "A2"], None),
                  lambda: sheet.insert_formulas(np.array([5, 5]), np.array([1, 1]), ["A1", "A2"], None)):
        with pytest.raises(CellWrittenTwice, match=r"'Explain'.*B3|'Explain'.*A5"):
            write()
    assert sheet.cells[(3, 2)] == 1.5
