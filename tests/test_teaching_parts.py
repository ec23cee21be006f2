"""The teaching parts never block a model: no Explain formula grows with the network, a part that
cannot fit is left out with one line (summary says so before the build), and --network-only
leaves the teaching parts out on purpose."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from conftest import random_init, save_model

MAX_TEACHING_FORMULA = 2000      # characters (issue 18); Excel's own limit is 8,192


def _tutorial_models():
    """The networks people bring first (their shapes are public; random weights)."""
    import keras

    L = keras.layers
    return {
        "keras.io Simple MNIST convnet": [keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                                          L.MaxPooling2D(2), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
                                          L.Flatten(), L.Dropout(0.5), L.Dense(10, activation="softmax")],
        "pytorch/examples MNIST Net": [keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                                       L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                                       L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")],
        "TensorFlow CIFAR-10 CNN": [keras.Input((32, 32, 3)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                                    L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
                                    L.Conv2D(64, 3, activation="relu"), L.Flatten(), L.Dense(64, activation="relu"),
                                    L.Dense(10)],
        "LeNet-5": [keras.Input((28, 28, 1)), L.Conv2D(6, 5, padding="same", activation="tanh"),
                    L.AveragePooling2D(2), L.Conv2D(16, 5, activation="tanh"), L.AveragePooling2D(2), L.Flatten(),
                    L.Dense(120, activation="tanh"), L.Dense(84, activation="tanh"),
                    L.Dense(10, activation="softmax")],
    }


@pytest.mark.slow
def test_the_tutorial_networks_get_short_formulas_and_an_explain_sheet(tmp_path):
    import keras

    from excelnet.convert import plan_for
    from excelnet.summary import longest_formula

    for n, (name, stack) in enumerate(_tutorial_models().items()):
        keras.utils.set_random_seed(n)
        path = save_model(keras.Sequential(stack), tmp_path / f"model{n}.keras")
        plan, _ = plan_for(path, max_cells=5_000_000)
        titles = [sheet.title for sheet in plan.sheets]
        assert "Explain" in titles and plan.notes == [], (name, plan.notes)
        length, where = longest_formula(plan.sheets)
        assert 0 < length < MAX_TEACHING_FORMULA, f"{name}: {length} characters at {where}"
        explain = next(sheet for sheet in plan.sheets if sheet.title == "Explain")
        assert 0 < longest_formula([explain])[0] < 400, name       # the same for any number of maps


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    import keras

    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, activation="relu", **random_init(1)),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="softmax", **random_init(3))])
    return save_model(model, tmp_path_factory.mktemp("small") / "small.keras")


def _texts(path) -> dict[str, list[str]]:
    book = load_workbook(path)
    return {ws.title: [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
            for ws in book.worksheets}


def test_network_only_leaves_the_teaching_parts_out(small_model, tmp_path):
    from excelnet.cli import main

    out = tmp_path / "net.xlsx"
    result = CliRunner().invoke(main, ["build", "-m", str(small_model), "-o", str(out), "--network-only"])
    assert result.exit_code == 0, result.output
    texts = _texts(out)
    assert "Explain" not in texts and "Guide" in texts and "Output" in texts
    assert not any("Explain" in t for title, values in texts.items() for t in values if title != "Guide")
    assert not any(t.startswith("6. Explain") for t in texts["Guide"])
    book = load_workbook(out)
    assert "ModelSHA256" in book.defined_names and not any(n.startswith("Explain") for n in book.defined_names)
    full = tmp_path / "full.xlsx"
    assert CliRunner().invoke(main, ["build", "-m", str(small_model), "-o", str(full)]).exit_code == 0
    assert "Explain" in _texts(full)
    help_text = CliRunner().invoke(main, ["build", "--help"]).output
    assert "--network-only" in help_text and "Explain" in help_text


def test_an_explain_sheet_that_cannot_fit_is_left_out_in_one_line(small_model, tmp_path, monkeypatch):
    """A safety net (no Explain formula grows with the model): the build still succeeds, the
    network is whole, and build, summary and the Guide each say so in one line."""
    from excelnet.cli import main
    from excelnet.workbook import explain

    written = explain.emit_explain

    def too_long(sheet, layers):
        written(sheet, layers)
        sheet.formula(sheet.next_row, 2, "+".join(["A1"] * 3000))       # 9,000 characters with its "="
    monkeypatch.setattr(explain, "emit_explain", too_long)
    monkeypatch.setattr("excelnet.workbook.build.emit_explain", too_long)
    summary = CliRunner().invoke(main, ["summary", "-m", str(small_model)])
    assert summary.exit_code == 0, summary.output
    notes = [line for line in summary.output.splitlines() if "Explain" in line]
    assert len(notes) == 1 and notes[0].startswith("Note: the Explain sheet was left out") and "9,000 characters" in notes[0]
    out = tmp_path / "net.xlsx"
    result = CliRunner().invoke(main, ["build", "-m", str(small_model), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "Explain" in line] == notes
    texts = _texts(out)
    assert "Explain" not in texts
    assert not any("Explain" in t for title, values in texts.items() for t in values if title != "Guide")
    assert any(t.startswith("Note: the Explain sheet was left out") for t in texts["Guide"])


def test_summary_reports_the_longest_formula(small_model):
    from excelnet.convert import plan_for
    from excelnet.sheet import Formula
    from excelnet.summary import render, summarize

    plan, _ = plan_for(small_model)
    lengths = [len(v.expression) + 1 for sheet in plan.sheets for v in sheet.cells.values() if type(v) is Formula]
    text = render(summarize(small_model))
    assert f"Longest formula: {max(lengths):,} characters" in text
