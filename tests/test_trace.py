"""verify traces every layer and every weight; the workbook carries cached values;
the evaluator behind both equals the NumPy reference layer by layer."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import random_init, save_model

from excelnet.errors import ExcelnetError


def _model(seed: int, padding: str = "valid", pool: str = "max"):
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    pooling = layers.MaxPooling2D(2) if pool == "max" else layers.AveragePooling2D(2)
    return keras.Sequential([keras.Input((8, 7, 2)),
                             layers.Conv2D(3, 3, padding=padding, activation="relu", **random_init(seed)),
                             pooling,
                             layers.BatchNormalization(),
                             layers.Flatten(),
                             layers.Dense(5, activation="tanh", **random_init(seed + 1)),
                             layers.Dense(4, activation="softmax", **random_init(seed + 2))])


@pytest.mark.parametrize("seed,padding,pool", [(0, "valid", "max"), (1, "same", "average"), (2, "same", "max")])
def test_evaluator_equals_the_numpy_reference_layer_by_layer(tmp_path, seed, padding, pool):
    from excelnet.convert import load_network
    from excelnet.evaluate import Evaluator
    from excelnet.trace import Tracer

    model = _model(seed, padding, pool)
    model.layers[2].set_weights([w + np.random.default_rng(seed).uniform(0.1, 0.5, w.shape)
                                 for w in model.layers[2].get_weights()])   # non-trivial batch-norm
    network = load_network(save_model(model, tmp_path / "m.keras"))
    tracer = Tracer(network, has_samples=False)
    x = np.random.default_rng(seed).uniform(0, 1, network.input_shape)
    book = Evaluator(tracer.plan.sheets).run(tracer.canvas_changes(x))     # every formula, outputs too
    trace = network.trace(x)
    for index, (sheet, cells) in tracer.plan.outputs.items():
        got = np.array([book.value(sheet, *cells.position(i)) for i in range(trace[index - 1].size)])
        np.testing.assert_allclose(got, trace[index - 1].reshape(-1), rtol=1e-12, atol=1e-12,
                                   err_msg=f"layer {index} ({sheet})")


def test_unknown_function_is_a_clear_error():
    from excelnet.evaluate import Evaluator, FormulaError
    from excelnet.sheet import SheetPlan

    sheet = SheetPlan("S", "layer")
    sheet.put(1, 1, 2.0)
    sheet.formula(1, 2, "NOSUCHFUNCTION(A1)")
    with pytest.raises(FormulaError, match="does not know the function NOSUCHFUNCTION"):
        Evaluator([sheet]).run()
    sheet.erase(1, 2)                       # written again: the plan refuses a cell written twice
    sheet.formula(1, 2, 'IF(A1=2,1,NOSUCHFUNCTION(A1))')        # in a branch no cell takes: still refused
    with pytest.raises(FormulaError, match="does not know the function NOSUCHFUNCTION"):
        Evaluator([sheet])


def test_if_and_choose_skip_only_what_no_cell_picks(monkeypatch):
    """IF and CHOOSE skip the parts no cell of a group picks (functions.lazy_if): groups whose cells
    all pick the same part, and groups whose cells differ, give what evaluating every part gives."""
    from excelnet.evaluate import Evaluator, XLError, engine
    from excelnet.sheet import SheetPlan

    texts = ['IF(A{r}>1,B{r}*2,"small")', "IF(A{r}>1,C{r})", "IF(A{r},1/B{r},-1)", "CHOOSE(A{r},B{r},C{r},1/0)",
             "CHOOSE(A{r}+0.5,B{r}+1,C{r})", 'IF(D{r}="",0,SQRT(D{r}))', "IF(1/B{r}>0,1,2)"]
    cases = {"all take the first": [(2, 3, 4, ""), (3, 0, 5, "")],
             "all take the second": [(1, 3, 4, 9.0), (1, 2, 0, 4.0)],
             "mixed": [(2, 0, 4, ""), (1, 3, 0, 16.0), (3, 1, 1, "")]}

    def values(cells):
        sheet = SheetPlan("S", "layer")
        for r, row in enumerate(cells, start=1):
            for c, value in enumerate(row, start=1):
                if value != "":
                    sheet.put(r, c, float(value))
            for k, text in enumerate(texts):
                sheet.formula(r, 10 + k, text.format(r=r))
        book = Evaluator([sheet]).run()
        return [[book.value("S", r, 10 + k) for k in range(len(texts))] for r in range(1, len(cells) + 1)]

    lazy = {case: values(cells) for case, cells in cases.items()}
    monkeypatch.setattr(engine, "LAZY", {})             # every argument evaluated, as before
    for case, cells in cases.items():
        assert lazy[case] == values(cells), case
    first, second = lazy["mixed"][:2]                    # and by hand
    assert first[:4] == [0.0, 4.0, XLError("#DIV/0!"), 4.0] and [second[k] for k in (0, 3, 5)] == ["small", 3.0, 4.0]


def test_given_cells_are_not_read_and_take_the_numbers_typed_in():
    """Evaluator(sheets, given): verify types the layer outputs NumPy computed, so their formulas
    are never parsed (not even a function the evaluator does not know); what reads them sees the
    numbers typed in."""
    from excelnet.evaluate import Evaluator
    from excelnet.sheet import SheetPlan

    sheet = SheetPlan("S", "layer")
    sheet.put(1, 1, 2.0)
    sheet.formula(1, 2, "NOSUCHFUNCTION(A1)")          # given: NumPy says what it holds
    sheet.formula(1, 3, "B1*10+A1")
    book = Evaluator([sheet], given={"S": {(1, 2)}})
    book.run(numbers={"S": (np.array([1]), np.array([2]), np.array([0.5]))})
    assert book.value("S", 1, 3) == 7.0
    book.run(numbers={"S": (np.array([1]), np.array([2]), np.array([-1.0]))})
    assert book.value("S", 1, 3) == -8.0


def test_evaluator_follows_spreadsheet_rules():
    from excelnet.evaluate import BLANK, Evaluator, XLError
    from excelnet.sheet import SheetPlan

    sheet = SheetPlan("S", "layer")
    other = SheetPlan("It's", "layer")
    other.put(1, 1, "3")
    for col, value in enumerate([1.0, 5.0, 2.0], start=1):
        sheet.put(1, col, value)
    formulas = {(2, 1): 'IF(E1="","empty","full")', (2, 2): "INDEX(A1:C1,MATCH(MAX(A1:C1),A1:C1,0))",
                (2, 3): "1/0", (2, 4): "VALUE(MID(\"012345\",3,2))+'It''s'!A1", (2, 5): 'A1&"x"&B1',
                (3, 1): "C3+1", (3, 2): "A3*2", (3, 3): "SUMPRODUCT(A1:C1,A1:C1)", (3, 4): "LN(0)",
                (3, 5): "CHOOSE(2,A1,B1,C1)", (4, 1): 'IF(A1>1,"big",IF(A1=1,"one","small"))',
                (4, 2): "-A1^2", (4, 3): "AVERAGE(A1:C1)", (4, 4): "E1", (4, 5): "LARGE(A1:C1,2)"}
    for (r, c), text in formulas.items():
        sheet.formula(r, c, text)
    sheet.erase(3, 3)                     # written again (the plan refuses a cell written twice)
    sheet.put(3, 3, None)
    sheet.erase(3, 3)
    sheet.formula(3, 3, "SUMPRODUCT(A1:C1,A1:C1)")
    book = Evaluator([sheet, other]).run()
    got = {cell: book.value("S", *cell) for cell in formulas}
    assert got[(2, 1)] == "empty" and got[(2, 2)] == 5.0 and got[(2, 3)] == XLError("#DIV/0!")
    assert got[(2, 4)] == 26.0 and got[(2, 5)] == "1x5"
    assert got[(3, 3)] == 30.0 and got[(3, 1)] == 31.0 and got[(3, 2)] == 62.0   # a chain, ordered
    assert got[(3, 4)] == XLError("#NUM!") and got[(3, 5)] == 5.0
    assert got[(4, 1)] == "one" and got[(4, 2)] == 1.0 and got[(4, 3)] == pytest.approx(8 / 3)
    assert got[(4, 4)] == 0.0 and got[(4, 5)] == 2.0     # a formula showing an empty cell shows 0
    assert book.value("S", 9, 9) is BLANK


def test_circular_reference_is_an_error():
    from excelnet.evaluate import Evaluator, FormulaError
    from excelnet.sheet import SheetPlan

    sheet = SheetPlan("S", "layer")
    sheet.formula(1, 1, "B1+1")
    sheet.formula(1, 2, "A1+1")
    with pytest.raises(FormulaError, match="circular reference"):
        Evaluator([sheet])


# --- cached values ------------------------------------------------------------------------


def test_cached_values_show_the_probabilities_without_recalculating(default_build):
    import pandas
    from openpyxl import load_workbook

    from excelnet.evaluate import Evaluator

    network = default_build.network
    first = default_build.samples.model_inputs(network.input_shape)[0]
    expected = network.predict(first).reshape(-1)
    table = pandas.read_excel(default_build.path, sheet_name="Output", header=None)
    header = table.index[table[1] == "probability"][0]
    shown = table.iloc[header + 1:header + 11, 1].astype(float).to_numpy()
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-6)
    book = load_workbook(default_build.path, data_only=True, read_only=True)
    assert book["Output"]["B4"].value == int(np.argmax(expected))
    book.close()
    assert b'fullCalcOnLoad="1"' in _part(default_build.path, "xl/workbook.xml")
    assert Evaluator(default_build.plan.sheets).formula_count == default_build.plan.formula_cells


def _part(path, name: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read(name)


def _cached(path) -> dict:
    """Every formula cell's cached value, by (sheet, row, col)."""
    from openpyxl import load_workbook

    formulas = load_workbook(path, read_only=True)
    values = load_workbook(path, read_only=True, data_only=True)
    out = {}
    for title in formulas.sheetnames:
        for frow, vrow in zip(formulas[title].iter_rows(), values[title].iter_rows()):
            for f, v in zip(frow, vrow):
                if isinstance(f.value, str) and f.value.startswith("="):
                    out[(title, f.row, f.column)] = v.value
    return out


@pytest.mark.libreoffice
def test_cached_values_equal_what_libreoffice_computes(libreoffice, default_build, tmp_path):
    copy = tmp_path / "copy.xlsx"
    shutil.copy(default_build.path, copy)
    cached = _cached(copy)
    libreoffice.open(copy)
    sheets = sorted({sheet for sheet, _, _ in cached})
    computed = libreoffice.call("sheets", names=sheets)
    assert len(cached) == default_build.plan.formula_cells
    differ = []
    for (sheet, r, c), value in cached.items():
        rows = computed[sheet]
        lo = rows[r - 1][c - 1]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ok = isinstance(lo, float) and np.isclose(value, lo, rtol=1e-12, atol=1e-15)
        else:
            ok = (value or "") == lo
        if not ok:
            differ.append((sheet, r, c, value, lo))
    assert not differ, differ[:10]


# --- verify traces every cell -------------------------------------------------------------


def _address(rect, r: int, c: int) -> str:
    from excelnet.layout import address

    return address(rect.row + r, rect.col + c)


def _edit(source, destination, values: dict):
    from openpyxl import load_workbook

    book = load_workbook(source)
    for (sheet, cell), value in values.items():
        book[sheet][cell].value = value
    book.save(destination)
    return destination


@pytest.mark.libreoffice
def test_a_zeroed_cell_hidden_by_the_max_pool_fails_verify(libreoffice, default_build, tmp_path):
    from excelnet.verify import verify

    good = verify(default_build.path, samples=20, progress=False, office=libreoffice)
    assert good.ok, "\n".join(good.lines())
    assert good.trace.formula_cells > 14_000 and good.trace.weight_cells > 50_000
    corner_cell = _address(default_build.plan.outputs[1][1].grids[0], 0, 0)    # conv1, channel 1, top-left
    zeroed = _edit(default_build.path, tmp_path / "zeroed.xlsx", {("1 conv1", corner_cell): 0})
    report = verify(zeroed, samples=20, progress=False, office=libreoffice)
    assert report.close.all() and report.argmax_agree.all()       # the probabilities do not show it
    assert not report.ok
    text = "\n".join(report.lines())
    assert report.trace.layer == "1 conv1" and report.trace.layer_count == 1, text
    network = default_build.network
    corner = network.trace(default_build.samples.model_inputs(network.input_shape)[0])[0][0, 0, 0]
    assert corner > 0.01 and f"1 conv1!{corner_cell}: workbook 0, model {corner:.6g}" in text
    assert not report.trace.weights


@pytest.mark.libreoffice
def test_verify_without_python_macros_in_soffice_reads_the_same_cells(libreoffice, default_build, tmp_path):
    """Where soffice runs no Python macros (no libreoffice-script-provider-python), verify types the
    inputs and reads the sheets over the pipe instead: the same values, the same verdicts."""
    from excelnet.engines.libreoffice import LibreOffice
    from excelnet.verify import verify

    inside = verify(default_build.path, samples=3, progress=False, office=libreoffice)
    network = default_build.network
    conv2 = network.trace(default_build.samples.model_inputs(network.input_shape)[0])[2]
    y, x, channel = np.unravel_index(int(np.argmax(conv2)), conv2.shape)      # its largest value
    corner_cell = _address(default_build.plan.outputs[3][1].grids[channel], y, x)
    zeroed = _edit(default_build.path, tmp_path / "zeroed.xlsx", {("3 conv2", corner_cell): 0})
    copy = shutil.copy(default_build.path, tmp_path / "copy.xlsx")
    with LibreOffice(macros=False) as office:
        office.open(copy)
        with pytest.raises(ExcelnetError):
            office.in_office("time_recalcs", 1)         # really no macros there
        piped = verify(copy, samples=3, progress=False, office=office)
        bad = verify(zeroed, samples=3, progress=False, office=office)
    assert inside.ok and piped.ok, "\n".join(piped.lines())
    assert np.array_equal(inside.got, piped.got) and piped.trace.formula_cells == inside.trace.formula_cells
    assert not bad.ok and bad.trace.layer == "3 conv2", "\n".join(bad.lines())
    assert any(f"3 conv2!{corner_cell}: workbook 0" in line for line in bad.lines())


def _running_soffices() -> set[int]:
    """soffice processes that are alive (not zombies, which a container may never reap)."""
    from pathlib import Path

    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, state = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2]
        if name.startswith(("soffice", "oosplash")) and state != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.mark.libreoffice
def test_verify_with_its_own_libreoffice_leaves_nothing_behind(libreoffice, default_build, tmp_path):
    """Without a LibreOffice lent to it (the command line), verify starts one at once and stops it,
    also when the model turns out to be missing while it starts; nothing is left beside the
    workbook (LibreOffice's lock file would make the next open fail) and no soffice runs on."""
    from excelnet.verify import verify

    mine = shutil.copy(default_build.path, tmp_path / "mine.xlsx")
    before = _running_soffices()
    report = verify(mine, samples=2, progress=False)
    assert report.ok and report.engine.startswith("LibreOffice"), "\n".join(report.lines())
    with pytest.raises(ExcelnetError, match="no such model file"):
        verify(mine, model=tmp_path / "missing.keras", samples=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.xlsx"]
    assert not _running_soffices() - before      # none of its own runs on


@pytest.mark.libreoffice
def test_a_renamed_layer_sheet_is_reported_and_libreoffice_goes_on(libreoffice, default_build, tmp_path):
    """A student renames a layer sheet: verify says that layer differs (its cells are not there),
    and the LibreOffice it was lent still works for the next workbook."""
    from openpyxl import load_workbook

    from excelnet.verify import verify

    book = load_workbook(default_build.path)
    book["6 hidden"].title = "my hidden"
    book.save(tmp_path / "renamed.xlsx")
    report = verify(tmp_path / "renamed.xlsx", samples=2, progress=False, office=libreoffice)
    assert not report.ok and report.trace.layer is not None, "\n".join(report.lines())
    assert verify(default_build.path, samples=2, progress=False, office=libreoffice).ok


@pytest.mark.libreoffice
def test_closing_a_libreoffice_whose_worker_died_stops_soffice_at_once(default_build, tmp_path):
    """Ctrl-C reaches the worker (soffice runs in its own process group): close() must then stop
    soffice itself, quickly, and leave no soffice.bin behind."""
    import time

    from excelnet.engines.libreoffice import LibreOffice

    before = _running_soffices()
    office = LibreOffice()
    office.open(default_build.path)
    office.worker.kill()
    office.worker.wait()
    started = time.perf_counter()
    office.close()
    assert time.perf_counter() - started < 5
    assert not _running_soffices() - before


@pytest.mark.libreoffice
def test_edited_weights_are_listed_separately(libreoffice, default_build, tmp_path):
    from excelnet.verify import verify

    hidden, digits, conv = (default_build.plan.params[i].arrays[0].areas[0] for i in (6, 7, 1))
    edited = _edit(default_build.path, tmp_path / "weights.xlsx",
                   {(hidden.sheet, _address(hidden, 0, 0)): 0.5, (digits.sheet, _address(digits, 0, 0)): -1.0,
                    (conv.sheet, _address(conv, 0, 1)): 0})
    report = verify(edited, samples=2, progress=False, office=libreoffice)
    assert not report.ok
    cells = {(d.sheet, d.row, d.col) for d in report.trace.weights}
    assert cells == {(hidden.sheet, hidden.row, hidden.col), (digits.sheet, digits.row, digits.col),
                     (conv.sheet, conv.row, conv.col + 1)}
    text = "\n".join(report.lines())
    assert "3 weights differ from the model file: " in text and \
        f"hidden weights!{_address(hidden, 0, 0)}: workbook 0.5" in text


def test_verify_with_formulas_traces_and_speaks_plainly(tmp_path):
    import keras
    from click.testing import CliRunner
    from openpyxl.utils import get_column_letter

    from excelnet.cli import main
    from excelnet.convert import build

    keras.utils.set_random_seed(0)
    model = save_model(keras.Sequential([keras.Input((5, 4, 1)), keras.layers.Conv2D(2, 2, **random_init(3)),
                                         keras.layers.Flatten(), keras.layers.Dense(3, **random_init(4))]),
                       tmp_path / "t.keras")
    result = build(model, tmp_path / "t.xlsx")
    run = CliRunner().invoke(main, ["verify", str(result.path), "--engine", "formulas",
                                                    "--samples", "1"])
    assert run.exit_code == 0, run.output
    assert "1 random input uniform" in run.output and "on its 1 input." in run.output
    assert "it/s" not in run.stderr and "%|" not in run.stderr          # no progress bar of the library
    assert "Cells traced:" in run.output
    layer = next(s for s in result.plan.sheets if s.kind == "layer")
    cell = next((r, c) for (r, c), v in layer.cells.items() if type(v).__name__ == "Formula")
    zeroed = _edit(result.path, tmp_path / "z.xlsx", {(layer.title, f"{get_column_letter(cell[1])}{cell[0]}"): 123.0})
    run = CliRunner().invoke(main, ["verify", str(zeroed), "--model", str(model),
                                                    "--engine", "formulas", "--samples", "1", "-q"])
    assert run.exit_code == 1
    assert f"First layer that differs from the model: {layer.title}" in run.output
