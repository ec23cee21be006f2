"""`excelnet summary`: per-layer counts that add up to the plan's, estimates, warnings, no TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import random_init, run_cli_without_tensorflow, save_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([keras.Input((10, 9, 2)),
                              layers.Conv2D(3, 3, padding="same", activation="relu", **random_init(1)),
                              layers.MaxPooling2D(2),
                              layers.Conv2D(4, 2, **random_init(3)),
                              layers.Flatten(),
                              layers.Dense(5, activation="relu", **random_init(5)),
                              layers.Dense(3, activation="softmax", **random_init(7))])
    return save_model(model, tmp_path_factory.mktemp("summary") / "small.keras")


def _plan(path):
    from excelnet.convert import load_network
    from excelnet.workbook.build import plan_workbook

    return plan_workbook(load_network(path))


def _guide_counts(plan) -> dict[str, int]:
    """The Guide sheet's own table: layer name -> formula cells (written by plan_workbook)."""
    from excelnet.sheet import Text

    guide = next(s for s in plan.sheets if s.kind == "guide")
    header = next(pos for pos, v in guide.cells.items() if v == Text("formula cells"))
    row, col = header[0] + 1, header[1]
    counts = {}
    while (row, 2) in guide.cells:
        counts.setdefault(guide.cells[(row, 2)].value, guide.cells[(row, col)])   # a layer before its weights row
        row += 1
    return counts


def test_rows_and_totals_equal_the_plan(small_model):
    from excelnet.summary import summarize, summarize_plan

    plan = _plan(small_model)
    summary = summarize_plan(plan)
    network = plan.network
    assert [r.label for r in summary.rows] == ["(input)"] + [op.name for op in network.ops] + ["(output)", "(explain)",
                                                                                           "(magnifier)"]
    assert summary.total.formulas == plan.formula_cells
    assert sum(r.counts.formulas for r in summary.rows) == plan.formula_cells
    guide = _guide_counts(plan)
    for row, op in zip(summary.rows[1:-3], network.ops):
        assert row.counts.formulas == guide[op.name], op.name
        assert row.parameters == op.parameter_count()
        assert row.counts.weights == op.parameter_count(), f"{op.name}: every parameter is one weight cell"
    assert summary.parameters == sum(op.parameter_count() for op in network.ops)
    # summarize() plans the same workbook as build would (no samples for a custom model)
    assert summarize(small_model).total.formulas == plan.formula_cells


def test_estimates_are_close_to_a_real_build(small_model, tmp_path):
    from excelnet.convert import build
    from excelnet.summary import summarize

    summary = summarize(small_model)
    size = build(small_model, tmp_path / "small.xlsx").path.stat().st_size
    assert 0.5 * size < summary.estimated_bytes < 2 * size
    assert 0 < summary.estimated_recalc_seconds < 0.05
    assert summary.warnings() == []


def test_warns_when_very_large_or_slow():
    from excelnet.summary import Counts, LayerRow, Summary

    huge = Counts(formulas=3_000_000, numbers=5_000_000, references=9_000_000, cells_read=900_000_000)
    summary = Summary("big", "big.keras", [LayerRow("conv", "Conv2D", "1 × 1", 10, huge)], Counts(), 0)
    text = " ".join(summary.warnings())
    assert "very large" in text and "recalculation would take" in text and "3,000,000 formula cells" in text


def test_cli_prints_the_table(small_model):
    from excelnet.cli import main
    from excelnet.summary import summarize

    result = CliRunner().invoke(main, ["summary", "-m", str(small_model)])
    assert result.exit_code == 0, result.output
    summary = summarize(small_model)
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    for column in ("output shape", "parameters", "formula cells", "weight cells", "recalc ms"):
        assert column in lines[header]
    for row in summary.rows:
        assert any(line.startswith(row.label) for line in lines), row.label
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:4] == [f"{summary.parameters:,}", f"{summary.total.formulas:,}",
                                  f"{summary.total.weights:,}"]
    assert float(total.split()[4]) == pytest.approx(1000 * summary.estimated_recalc_seconds, abs=0.06)
    assert "Estimated workbook size" in result.output
    assert "Estimated full recalculation" in result.output


def test_cli_reports_a_bad_model_in_one_line(tmp_path):
    from excelnet.cli import main

    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a model")
    result = CliRunner().invoke(main, ["summary", "-m", str(bad)])
    assert result.exit_code == 1
    assert "broken.keras" in result.output and "Traceback" not in result.output


def test_summary_works_with_tensorflow_unimportable(small_model):
    run = run_cli_without_tensorflow("summary", "-m", str(small_model))
    assert run.returncode == 0, run.stderr
    assert "ran without tensorflow" in run.stdout
    assert "formula cells" in run.stdout and "total" in run.stdout


def test_default_model_summary_meets_the_targets():
    from excelnet.summary import summarize

    summary = summarize()
    assert summary.total.formulas <= 25_000
    assert summary.samples > 0
    assert summary.warnings() == []


def test_cost_model_reads_what_a_spreadsheet_reads():
    """A range is read cell by cell by SUMPRODUCT, not by INDEX (which picks one cell of it); of an
    Explain cell IF(condition, …, "") only the condition is computed while its part is off."""
    from excelnet.sheet import SheetPlan
    from excelnet.summary import count_cells

    layer, explain = SheetPlan("1 x", "layer"), SheetPlan("Explain", "explain")
    for sheet in (layer, explain):
        sheet.formula(1, 1, "SUMPRODUCT(A10:C19,E10:G19)")            # 2 ranges of 10 x 3 cells
        sheet.formula(2, 1, "INDEX(A10:C19,2,3)+B5")                   # a pick and one cell
        sheet.formula(3, 1, 'IF($B$2=3,SUMPRODUCT(A10:C19,E10:G19),"")')
    counts = count_cells(layer)
    assert (counts.references, counts.cells_read, counts.columns_read) == (2 + 2 + 3, 60 + 1 + 1 + 60, 6 + 1 + 1 + 6)
    counts = count_cells(explain)
    assert (counts.references, counts.cells_read, counts.columns_read) == (2 + 2 + 1, 60 + 1 + 1, 6 + 1 + 1)


def _issue_model():
    import keras

    L = keras.layers
    return [keras.Input((14, 14, 1)), L.Conv2D(4, 3, padding="same", activation="relu"), L.AveragePooling2D(2),
            L.Flatten(), L.Dropout(0.2), L.Dense(16, activation="sigmoid"), L.Dense(10, activation="softmax")]


@pytest.mark.slow
def test_size_and_cell_estimates_within_ten_percent_of_real_builds(small_model, tmp_path):
    """summary's file size and limits' cell estimate (made from the shapes alone, before planning)
    against built workbooks: the shipped model, a small CNN, issue 18's model, LeNet-5 and the
    keras.io convnet (the other tutorial networks: benchmarks/recalc_cost.py)."""
    import keras

    from excelnet.convert import build
    from excelnet.summary import summarize_plan
    from excelnet.workbook.limits import estimated_cells

    from test_teaching_parts import _tutorial_models

    tutorial = _tutorial_models()
    stacks = {"issue 18": _issue_model(), "LeNet-5": tutorial["LeNet-5"],
              "keras.io": tutorial["keras.io Simple MNIST convnet"]}
    models = {"shipped": None, "small": small_model}
    for n, (name, stack) in enumerate(stacks.items()):
        keras.utils.set_random_seed(n)
        models[name] = save_model(keras.Sequential(stack), tmp_path / f"m{n}.keras")
    for name, path in models.items():
        result = build(path, tmp_path / f"{name}.xlsx")
        size = result.path.stat().st_size
        estimate = summarize_plan(result.plan).estimated_bytes
        assert abs(estimate - size) <= 0.1 * size, f"{name}: estimated {estimate:,} bytes, wrote {size:,}"
        cells = sum(len(sheet.cells) for sheet in result.plan.sheets)
        guess = estimated_cells(result.network)
        assert abs(guess - cells) <= 0.1 * cells, f"{name}: estimated {guess:,} cells, planned {cells:,}"


# --- the recalculation estimate against LibreOffice --------------------------------------------

MEASURED = REPO / "benchmarks" / "recalc_cost_measured.json"


def _measured() -> dict[str, dict]:
    data = json.loads(MEASURED.read_text())
    return {w["name"]: w for w in data["workbooks"]}


def test_recalculation_estimate_within_ten_percent_of_libreoffice():
    """summary's estimate against LibreOffice's full recalculation of 13 workbooks (the shipped one,
    the four tutorial networks, CNNs from 3k to 415k formulas), measured on an idle host by
    `benchmarks/recalc_cost.py --record`."""
    from excelnet.summary import Counts

    measured = _measured()
    assert len(measured) >= 10
    for name, w in measured.items():
        counts = Counts(formulas=w["formulas"], references=w["references"], columns_read=w["columns_read"],
                        cells_read=w["cells_read"])
        estimate = counts.recalc_seconds
        assert abs(estimate - w["seconds"]) <= 0.1 * w["seconds"], \
            f"{name}: estimated {estimate * 1000:.1f} ms, LibreOffice took {w['seconds'] * 1000:.1f} ms"


@pytest.mark.slow
def test_recalculation_estimate_of_fresh_plans_within_ten_percent(tmp_path):
    """The same, from workbooks planned now: if the layout of the shipped model, LeNet-5 or a small
    CNN drifts from what was measured, rerun benchmarks/recalc_cost.py --record on an idle host."""
    import keras

    from excelnet.summary import summarize

    from test_teaching_parts import _tutorial_models

    L = keras.layers
    stacks = {"cnn 4/8 valid": [keras.Input((28, 28, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(2),
                                L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                                L.Dense(10, activation="softmax")],
              "LeNet-5": _tutorial_models()["LeNet-5"]}
    paths = {"default (shipped, with digits)": None}
    for n, (name, stack) in enumerate(stacks.items()):
        keras.utils.set_random_seed(n)
        paths[name] = save_model(keras.Sequential(stack), tmp_path / f"m{n}.keras")
    measured = _measured()
    for name, path in paths.items():
        estimate = summarize(path).estimated_recalc_seconds
        seconds = measured[name]["seconds"]
        assert abs(estimate - seconds) <= 0.1 * seconds, \
            f"{name}: estimated {estimate * 1000:.1f} ms, LibreOffice took {seconds * 1000:.1f} ms"
