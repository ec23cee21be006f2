"""`excelnet verify`: a good workbook passes, an edited weight fails, the model is found by path or hash."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import random_init, save_model


def _tiny(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential([keras.Input((6, 5, 1)),
                             layers.Conv2D(2, 3, activation="relu", **random_init(1 + seed)),
                             layers.Flatten(),
                             layers.Dense(3, activation="softmax", **random_init(5 + seed))])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny model and its workbook, built from the model's absolute path."""
    from excelnet.convert import build

    folder = tmp_path_factory.mktemp("verify")
    model = save_model(_tiny(), folder / "tiny.keras")
    result = build(model, folder / "tiny.xlsx")
    return model, result


def _verify(*args):
    from excelnet.cli import main

    return CliRunner().invoke(main, ["verify", *map(str, args), "--quiet"])


def test_good_workbook_passes_in_formulas(built):
    model, result = built
    run = _verify(result.path, "--model", model, "--engine", "formulas", "--samples", 3)
    assert run.exit_code == 0, run.output
    assert "OK: the workbook equals the model" in run.output
    assert "Arg-max agreement: 3/3 (100.00%)" in run.output
    assert "3 random inputs uniform in [0, 1]" in run.output   # no shipped digits fit a 6x5 input


def _edit_first_weight(result, destination, delta=0.5):
    """Change one conv kernel cell with openpyxl, as a student would in the spreadsheet."""
    from openpyxl import load_workbook

    from excelnet.sheet import WEIGHTS

    layer = next(s for s in result.plan.sheets if s.kind == "layer")
    rect = next(rect for rect, role in layer.blocks if role == WEIGHTS and rect.rows * rect.cols > 1)
    book = load_workbook(result.path)
    cell = book[layer.title].cell(rect.row, rect.col)
    assert isinstance(cell.value, float)
    cell.value += delta
    book.save(destination)
    return destination


def test_edited_weight_fails_with_the_largest_difference(built, tmp_path):
    model, result = built
    edited = _edit_first_weight(result, tmp_path / "edited.xlsx")
    run = _verify(edited, "--model", model, "--engine", "formulas", "--samples", 3)
    assert run.exit_code == 1, run.output
    assert "MISMATCH" in run.output
    line = next(l for l in run.output.splitlines() if l.startswith("Largest |difference|"))
    assert float(line.split(":")[1].split()[0]) > 1e-6


def test_without_model_finds_the_recorded_path(built):
    _, result = built
    run = _verify(result.path, "--engine", "formulas", "--samples", 2)
    assert run.exit_code == 0, run.output
    assert "recorded in the workbook; SHA-256 matches" in run.output


def test_relative_recorded_path_is_found_next_to_the_workbook(tmp_path, monkeypatch):
    from excelnet.convert import build
    from excelnet.verify import find_model, read_recorded

    folder = tmp_path / "project"
    folder.mkdir()
    save_model(_tiny(), folder / "tiny.keras")
    monkeypatch.chdir(folder)
    build("tiny.keras", "tiny.xlsx")
    monkeypatch.chdir(tmp_path)
    choice = find_model(folder / "tiny.xlsx", read_recorded(folder / "tiny.xlsx"))
    assert choice.path.resolve() == (folder / "tiny.keras").resolve()


def test_changed_or_missing_model_asks_for_model(built, tmp_path):
    from excelnet.verify import find_model, read_recorded

    model, result = built
    copy = tmp_path / "tiny.xlsx"
    shutil.copy(result.path, copy)
    recorded = read_recorded(copy)
    moved = dict(recorded, ModelSource=str(tmp_path / "gone.keras"))
    with pytest.raises(Exception, match="cannot be found; pass --model"):
        find_model(copy, moved)
    changed = save_model(_tiny(seed=3), tmp_path / "changed.keras")
    with pytest.raises(Exception, match="has changed since.*pass --model"):
        find_model(copy, dict(recorded, ModelSource=str(changed)))


def test_cli_error_without_a_findable_model(built, tmp_path):
    from openpyxl import load_workbook

    _, result = built
    book = load_workbook(result.path)
    where = book.defined_names["ModelSource"].attr_text.split("!")
    book[where[0].strip("'")][where[1].replace("$", "")].value = str(tmp_path / "elsewhere.keras")
    book.save(tmp_path / "orphan.xlsx")
    run = _verify(tmp_path / "orphan.xlsx", "--engine", "formulas")
    assert run.exit_code == 1
    assert "pass --model" in run.output and "Traceback" not in run.output


def test_the_shipped_model_is_recognised_by_its_hash(built, tmp_path, monkeypatch):
    import excelnet.assets
    from excelnet.verify import find_model, read_recorded

    model, result = built
    shipped = tmp_path / "installed" / "mnist_cnn.keras"
    shipped.parent.mkdir()
    shutil.copy(model, shipped)
    monkeypatch.setattr(excelnet.assets, "DEFAULT_MODEL", shipped)
    recorded = dict(read_recorded(result.path), ModelSource="somewhere/else.keras")
    choice = find_model(result.path, recorded)
    assert choice.path == shipped and "shipped default model" in choice.how


def test_a_different_model_is_reported(built, tmp_path):
    _, result = built
    other = save_model(_tiny(seed=4), tmp_path / "other.keras")
    run = _verify(result.path, "--model", other, "--engine", "formulas", "--samples", 2)
    assert run.exit_code == 1
    assert "NOT the model file this workbook was built from" in run.output


def test_inputs_digits_then_random_in_the_models_range(tmp_path):
    import keras

    from excelnet.convert import load_network
    from excelnet.verify import choose_inputs

    keras.utils.set_random_seed(0)
    plain = save_model(keras.Sequential([keras.Input((784,)), keras.layers.Dense(3)]), tmp_path / "plain.keras")
    rescaled = save_model(keras.Sequential([keras.Input((784,)), keras.layers.Rescaling(1 / 255),
                                            keras.layers.Dense(3)]), tmp_path / "rescaled.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "digits.npz", x=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), y=np.array([4, 1, 7]))
    chosen = choose_inputs(load_network(plain), 5, samples_path=tmp_path / "digits.npz")
    assert chosen.x.shape == (5, 784)
    assert list(chosen.labels) == [4, 1, 7, -1, -1]
    assert "3 sample inputs" in chosen.description and "2 random inputs uniform in [0, 1]" in chosen.description
    assert chosen.x.max() <= 1.0
    random = choose_inputs(load_network(rescaled), 4, kind="random")
    assert "uniform in [0, 255]" in random.description and random.x.max() > 1.0
    assert random.x.max() <= 255.0


@pytest.mark.libreoffice
def test_libreoffice_engine_passes_and_catches_an_edit(libreoffice, built, tmp_path):
    from excelnet.verify import verify

    model, result = built
    good = verify(result.path, engine="libreoffice", samples=4, progress=False, office=libreoffice)
    assert good.ok, "\n".join(good.lines())
    assert good.engine.startswith("LibreOffice") and good.error_cells == {}
    assert good.max_abs_diff <= 1e-9
    edited = _edit_first_weight(result, tmp_path / "edited.xlsx")
    bad = verify(edited, model=model, engine="libreoffice", samples=4, progress=False, office=libreoffice)
    assert not bad.ok and bad.max_abs_diff > 1e-6
    assert any(line.startswith("MISMATCH") for line in bad.lines())


@pytest.mark.libreoffice
def test_default_workbook_is_recognised_and_verified_on_shipped_digits(libreoffice, default_build):
    from excelnet.verify import verify

    report = verify(default_build.path, samples=8, progress=False, office=libreoffice)
    assert report.ok, "\n".join(report.lines())
    assert "shipped default model" in report.model.how
    assert report.inputs.description.startswith("8 shipped digits")
    assert list(report.inputs.labels) == list(default_build.samples.labels[:8])


def test_formulas_engine_keeps_multi_area_names_quiet(tmp_path, capfd, caplog):
    """The formulas library cannot represent Weights_<i>_<k> names with several areas; it must not
    print tracebacks about them while excelnet evaluates a workbook."""
    import keras

    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 2, **random_init(3)),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax", **random_init(5))])
    model.save(tmp_path / "m.keras")
    result = build(tmp_path / "m.keras", tmp_path / "m.xlsx")
    assert any(isinstance(v, tuple) and len(v) > 1 for s in result.plan.sheets for v in s.names.values())
    probabilities = FormulasWorkbook(result.path).probabilities(np.full((4, 4, 1), 0.5))
    assert np.isclose(probabilities.sum(), 1.0)
    out, err = capfd.readouterr()
    assert "Failed DISPATCHING" not in out + err + caplog.text


@pytest.mark.libreoffice
def test_verify_checks_a_workbook_over_the_default_budget(built, tmp_path, monkeypatch):
    """A workbook built with a larger --max-cells than the default is verified as it is: verify does
    not apply the build's cell budget (here the default lowered below the workbook's size). Built
    with --network-only (no Explain): its layer sheets are traced the same way."""
    from excelnet.convert import build, plan_for
    from excelnet.verify import workbook_cells
    from excelnet.workbook import limits

    model, result = built
    cells = sum(len(sheet.cells) for sheet in result.plan.sheets)
    assert workbook_cells(result.path) >= cells         # the boxes the sheets span hold every cell
    monkeypatch.setattr(limits, "DEFAULT_CELL_BUDGET", cells // 4)
    with pytest.raises(Exception, match="budget"):
        plan_for(model)                                    # the build refuses it now
    only = build(model, tmp_path / "only.xlsx", max_cells=10 * cells, teaching=False)
    run = _verify(only.path, "--model", model, "--engine", "libreoffice", "--samples", 2)
    assert run.exit_code == 0, run.output
    assert "OK: the workbook equals the model" in run.output
    refused = _verify(result.path, "--model", model, "--engine", "libreoffice", "--max-cells", 50)
    assert refused.exit_code == 1 and "budget of 50" in refused.output
