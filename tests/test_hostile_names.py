"""Names from a stranger's file are data, not code: layer names, the model name and class
labels are written as literal text, and sheet names follow Excel's rules whatever they are."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import assert_matches, random_init

FORMULA = "=1+SUM(A1:A2)"
DDE = "@cmd|' /C calc'!A0"
FORBIDDEN = "a/b:c*?[x]"
LONG = "a_rather_long_layer_name_of_40_chars_xyz"
assert len(LONG) == 40

# Keras refuses '/' in names, so the model is saved with placeholders that are then
# rewritten inside the .keras file, exactly as a hand-edited hostile file would be.
RENAMES = {
    "p_conv": FORMULA,
    "p_act": DDE,
    "p_pool": FORBIDDEN,
    "p_flat": LONG,
    "p_dense": "Dense",
    "p_dense2": "DENSE",
    "p_soft": "History",
    "p_model": '=HYPERLINK("http://example.com","click")',
}
LABELS = ["=1+1", "+SUM(1)", "-2", "@cmd|' /C calc'!A0"]
BAD_SHEET_CHARS = re.compile(r"[:\\/?*\[\]]")


def _hostile_model_file(path: Path):
    import h5py
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((5, 5, 1)),
        layers.Conv2D(2, 2, name="p_conv", **random_init(1)),
        layers.Activation("relu", name="p_act"),
        layers.MaxPooling2D(2, name="p_pool"),
        layers.Flatten(name="p_flat"),
        layers.Dense(5, activation="tanh", name="p_dense", **random_init(2)),
        layers.Dense(4, name="p_dense2", **random_init(3)),
        layers.Activation("softmax", name="p_soft"),
    ], name="p_model")
    plain = path.with_name("plain.keras")
    model.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "config.json":
                data = json.dumps(_rename(json.loads(data))).encode()
            elif item == "model.weights.h5":
                buffer = io.BytesIO(data)
                with h5py.File(buffer, "r+") as h5:
                    h5.visititems(lambda name, obj: _rename_attr(obj))
                    _rename_attr(h5["vars"]) if "vars" in h5 else None
                data = buffer.getvalue()
            target.writestr(item, data)
    return model


def _rename(value):
    if isinstance(value, dict):
        return {k: _rename(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v) for v in value]
    return RENAMES.get(value, value) if isinstance(value, str) else value


def _rename_attr(obj):
    name = obj.attrs.get("name")
    if isinstance(name, (str, bytes)):
        text = name.decode() if isinstance(name, bytes) else name
        if text in RENAMES:
            obj.attrs["name"] = RENAMES[text]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    model = _hostile_model_file(folder / "hostile.keras")
    output = folder / "hostile.xlsx"
    from excelnet.cli import main

    result = CliRunner().invoke(main, ["build", "-m", str(folder / "hostile.keras"), "-o", str(output),
                                       "--labels", ",".join(LABELS)])
    assert result.exit_code == 0, result.output
    return model, folder / "hostile.keras", output


def test_the_file_really_has_hostile_names(hostile):
    from excelnet.reader import read_model

    _, path, _ = hostile
    spec = read_model(path)
    assert [l.name for l in spec.layers] == [RENAMES[k] for k in
                                             ("p_conv", "p_act", "p_pool", "p_flat", "p_dense", "p_dense2", "p_soft")]
    assert spec.name == RENAMES["p_model"]
    assert all(len(l.weights) == 2 for l in spec.layers if l.class_name in ("Conv2D", "Dense"))


def test_sheet_names_follow_excels_rules(hostile):
    from openpyxl import load_workbook

    titles = load_workbook(hostile[2], read_only=True).sheetnames
    for title in titles:
        assert 1 <= len(title) <= 31, title
        assert not BAD_SHEET_CHARS.search(title), title
        assert not title.startswith("'") and not title.endswith("'"), title
        assert title.lower() != "history", title
    assert len({t.lower() for t in titles}) == len(titles), titles


def test_names_and_labels_are_literal_text(hostile):
    from openpyxl import load_workbook

    workbook = load_workbook(hostile[2])
    texts: dict[str, list] = {}
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    texts.setdefault(cell.value, []).append(cell)
    for text in [FORMULA, DDE, FORBIDDEN, LONG, "History", RENAMES["p_model"]] + LABELS:
        cells = [c for value, found in texts.items() if text in value for c in found]
        assert cells, f"{text!r} is not shown anywhere"
        exact = [c for c in texts.get(text, [])]
        for cell in exact:
            assert cell.data_type == "s", (text, cell.coordinate, cell.data_type)
    # No formula mentions a hostile name (only quoted sheet references may differ)
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formula = re.sub(r"'(?:[^']|'')*'!", "", str(cell.value))   # quoted sheet names
                    assert "calc" not in formula and "HYPERLINK" not in formula, cell.value
    assert texts.get(LABELS[0]) and all(c.data_type == "s" for c in texts[LABELS[0]])


def test_hostile_workbook_still_equals_keras(hostile):
    from excelnet.engines.formulas_engine import FormulasWorkbook

    model, _, output = hostile
    inputs = np.random.default_rng(0).uniform(0, 1, (2, 5, 5, 1)).astype("float32")
    workbook = FormulasWorkbook(output)
    for x, expected in zip(inputs, model.predict(inputs, verbose=0)):
        assert_matches(workbook.probabilities(x), expected)


@pytest.mark.parametrize("wanted", [FORMULA, DDE, FORBIDDEN, LONG, "History", "history", "'quoted'",
                                    "", "   ", "[]:*?/\\", "x" * 31 + "'", "Ünïcödé ✓"])
def test_sheet_namer_gives_valid_unique_names(wanted):
    from excelnet.workbook.naming import SheetNamer

    namer = SheetNamer()
    names = [namer(wanted) for _ in range(12)] + [namer(wanted.upper()), namer(wanted.lower())]
    for name in names:
        assert 1 <= len(name) <= 31 and not BAD_SHEET_CHARS.search(name), name
        assert not name.startswith("'") and not name.endswith("'"), name
        assert name.lower() != "history" and name.strip() == name, name
    assert len({n.lower() for n in names}) == len(names), names


def test_any_text_is_one_formula_string_literal():
    """text.formula_string: whatever a model file calls a layer, it becomes exactly one string
    literal (quotes doubled), with no control character and within Excel's 255 characters."""
    from hypothesis import given, settings, strategies as st

    from excelnet.text import UNSAFE, formula_string

    literal = re.compile(r'"(?:[^"]|"")*"')

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(), max_size=400))
    def check(text):
        quoted = formula_string(text)
        assert literal.fullmatch(quoted), quoted
        inner = quoted[1:-1].replace('""', '"')
        assert not UNSAFE.search(inner) and len(inner) <= 255
        if not UNSAFE.search(text) and len(text) <= 255:
            assert inner == text              # plain names are kept exactly

    check()
