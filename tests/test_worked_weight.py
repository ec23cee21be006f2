"""The 'One weight' sheet of the learning workbook: for several picks (layer, unit, row, column),
its old value, gradient and new value are the cells of the layer, Back and Step sheets, and equal
TensorFlow's weight, gradient and one SGD step, in excelnet's evaluator and in LibreOffice."""

from __future__ import annotations

import numpy as np
import pytest

from learn_check import learning_names, tf_learning

# (layer, unit, row, column), 1-based as a student types them: both convolutions, the big Dense
# kernel the Step sheet does not copy, the last layer
PICKS = [(1, 3, 2, 3), (3, 5, 17, 2), (6, 12, 4, 100), (7, 4, 1, 33)]
SAMPLE, TARGET_SHIFT, RATE = 4, 3, 0.25


@pytest.fixture(scope="module")
def learn_build(tmp_path_factory):
    from excelnet.convert import build

    return build(output=tmp_path_factory.mktemp("worked") / "mnist_cnn_learn.xlsx", learn=True)


def _index(cells, unit: int, row: int, col: int) -> tuple[int, ...]:
    """The kernel index the pick names: the element of unit's block at (row, col)."""
    hit = np.argwhere((cells.area_index == unit - 1) & (cells.offsets[..., 0] == row - 1) &
                      (cells.offsets[..., 1] == col - 1))
    assert len(hit) == 1, f"unit {unit} row {row} column {col} names {len(hit)} weights"
    return tuple(int(i) for i in hit[0])


def _expected(result, model, pick, x, target):
    layer, unit, row, col = pick
    op = result.network.ops[layer - 1]
    kernel, bias = model.get_layer(op.name).get_weights()
    grads = tf_learning(model, x, target, RATE)["grads"][op.name]
    idx = _index(result.plan.params[layer].arrays[0], unit, row, col)
    return {"WeightOld": kernel[idx], "WeightGradient": grads[0][idx], "WeightNew": kernel[idx] - RATE * grads[0][idx],
            "BiasOld": bias[unit - 1], "BiasGradient": grads[1][unit - 1],
            "BiasNew": bias[unit - 1] - RATE * grads[1][unit - 1]}


def _close(got: dict, want: dict, what: str) -> None:
    for name, value in want.items():
        scale = max(abs(float(value)), 1e-7)
        assert abs(float(got[name]) - float(value)) <= 1e-4 * scale + 1e-9, \
            f"{what} {name}: sheet {got[name]!r}, TensorFlow {value!r}"


def test_one_weight_picks_equal_tensorflow_in_the_evaluator(learn_build, default_keras_model):
    from excelnet.evaluate import Evaluator

    names = learning_names(learn_build)
    x = learn_build.samples.model_inputs(learn_build.network.input_shape)[SAMPLE]
    target = (int(learn_build.samples.labels[SAMPLE]) + TARGET_SHIFT) % 10
    book = Evaluator(learn_build.plan.sheets)

    def where(name):
        area = names[name][0]
        return area.sheet, area.top, area.left

    canvas = names["Canvas"][0]
    typed = {(canvas.sheet, canvas.top + r, canvas.left + c): float(x[r, c, 0])
             for r in range(x.shape[0]) for c in range(x.shape[1])}
    typed[where("Target")], typed[where("LearningRate")] = target, RATE
    seen = set()
    for pick in PICKS:
        book.run({**typed, **{where(n): v for n, v in zip(("WeightLayer", "WeightUnit", "WeightRow", "WeightColumn"),
                                                          pick)}})
        got = {n: book.value(*where(n)) for n in ("WeightOld", "WeightGradient", "WeightNew", "BiasOld",
                                                  "BiasGradient", "BiasNew")}
        want = _expected(learn_build, default_keras_model, pick, x, target)
        _close(got, want, f"pick {pick}:")
        assert got["WeightGradient"] != 0 or want["WeightGradient"] == 0
        seen.add(round(float(got["WeightNew"]), 12))
        rule = book.value(*where("WeightRule"))
        assert rule.startswith("new = old − rate × gradient = ") and "0.250000" in rule, rule
    assert len(seen) == len(PICKS), "different picks show different weights"
    book.run({**typed, where("WeightLayer"): 2})          # a pooling layer: nothing to pick, a sentence
    assert book.value(*where("WeightOld")) == ""
    book.run({**typed, where("WeightUnit"): 99})
    assert book.value(*where("WeightOld")) == ""


@pytest.mark.libreoffice
def test_one_weight_reads_the_back_and_step_cells_in_libreoffice(libreoffice, learn_build, default_keras_model):
    from excelnet.engines.libreoffice import canvas_grids

    names = learning_names(learn_build)
    x = learn_build.samples.model_inputs(learn_build.network.input_shape)[SAMPLE]
    target = (int(learn_build.samples.labels[SAMPLE]) + TARGET_SHIFT) % 10
    libreoffice.open(learn_build.path)
    libreoffice.run(canvas_grids(x))
    libreoffice.set_value(names["Target"][0], target)
    libreoffice.set_value(names["LearningRate"][0], RATE)
    shown = ("WeightOld", "WeightGradient", "WeightNew", "BiasOld", "BiasGradient", "BiasNew")
    for pick in PICKS:
        for name, value in zip(("WeightLayer", "WeightUnit", "WeightRow", "WeightColumn"), pick):
            libreoffice.set_value(names[name][0], value)
        libreoffice.recalc()
        values = libreoffice.read_ranges([names[n][0] for n in shown])
        got = dict(zip(shown, (float(v[0, 0]) for v in values)))
        _close(got, _expected(learn_build, default_keras_model, pick, x, target), f"LibreOffice, pick {pick}:")
        layer, unit, row, col = pick
        idx = _index(learn_build.plan.params[layer].arrays[0], unit, row, col)
        kernel = learn_build.plan.params[layer].arrays[0]
        back = _cell(f"Grad_{layer}_1", names, kernel, idx)
        assert float(libreoffice.read_ranges([back])[0][0, 0]) == got["WeightGradient"], f"pick {pick}: Back cell"
        step = _step_cell(learn_build, _cell(f"Weights_{layer}_1", names, kernel, idx))
        assert (step is None) == (layer == 6), f"pick {pick}: the Step sheet copies every kernel but the big one"
        if step is not None:
            assert float(libreoffice.read_ranges([step])[0][0, 0]) == got["WeightNew"], f"pick {pick}: Step cell"
    assert libreoffice.errors() == {}


def _cell(name, names, cells, idx):
    area = names[name][int(cells.area_index[idx])]
    dr, dc = (int(v) for v in cells.offsets[idx])
    return (area.sheet, area.top + dr, area.left + dc, area.top + dr, area.left + dc)


def _step_cell(result, cell):
    """The Step sheet's cell whose formula steps the weight at `cell` (None: the Step sheet does not
    copy that kernel, as for the big Dense kernel)."""
    from openpyxl import load_workbook

    from excelnet.layout import address

    sheet, row, col = cell[:3]
    wanted = {f"{prefix}{address(row, col)}" for prefix in (f"'{sheet}'!", f"{sheet}!")}
    wanted |= {w.replace(address(row, col), "$" + address(row, col).rstrip("0123456789") + "$" +
                         str(row)) for w in wanted}
    step = load_workbook(result.path)["Step"]
    for line in step.iter_rows():
        for c in line:
            if isinstance(c.value, str) and c.value.startswith("=") and any(
                    c.value[1:].startswith(w + "-") for w in wanted):
                return (c.parent.title, c.row, c.column, c.row, c.column)
    return None


def test_the_output_sentence_keeps_enough_digits(learn_build):
    """The default picture is already sure and right: its loss before and after are tiny and differ
    in the 5th digit, and the sentence must still show two different numbers, not 'loss 0 → 0'."""
    from openpyxl import load_workbook

    ws = load_workbook(learn_build.path, data_only=True)["Output"]
    said = next(c.value for row in ws.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("one step on this picture: loss "))
    before, after = said.split("loss ", 1)[1].split(" → ")
    assert before != after and "0 → 0" not in said, said
