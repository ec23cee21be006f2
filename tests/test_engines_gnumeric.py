"""Gnumeric (`ssconvert --recalc`): the shipped workbooks and built ones (Keras, ONNX, --learn)
load without a complaint, recalculate without an error cell, and every formula gives the value
the file stores. And the file-level faults other engines tripped over stay fixed."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "workbooks").glob("*.xlsx"))
STORED_RTOL = 1e-9


@pytest.fixture(scope="session")
def gnumeric():
    """engines.gnumeric. Skips with the reason, but fails in CI."""
    from excelnet.engines import gnumeric as module

    reason = module.unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"Gnumeric is required in CI: {reason}")
        pytest.skip(reason)
    return module


def assert_recalculates_to_stored_values(gnumeric, path: Path, folder: Path) -> None:
    from excelnet.engines.ironcalc import same_value

    result = gnumeric.recalculate(path, folder)
    assert not result.complaints, f"{path.name}: Gnumeric says: " + " | ".join(c[:200] for c in result.complaints[:5])
    formulas = gnumeric.formula_cells(path)
    stored, computed = gnumeric.values(path), gnumeric.values(result.path)
    assert len(formulas) > 100
    errors = sorted(cell for cell in formulas if gnumeric.is_error(computed.get(cell)))
    assert not errors, f"{path.name}: {len(errors)} error cells in Gnumeric, e.g. " + \
        ", ".join(f"{s}!R{r}C{c} {computed[(s, r, c)]}" for s, r, c in errors[:5])
    different = sorted(cell for cell in formulas
                       if not same_value(stored.get(cell), computed.get(cell), STORED_RTOL, 1e-12))
    assert not different, f"{path.name}: {len(different)} formula cells differ from the stored values, e.g. " + \
        ", ".join(f"{s}!R{r}C{c} stored {stored.get((s, r, c))!r}, Gnumeric {computed.get((s, r, c))!r}"
                  for s, r, c in different[:5])


@pytest.mark.parametrize("name", [p.name for p in SHIPPED])
def test_shipped_workbook_recalculates_in_gnumeric(gnumeric, tmp_path, name):
    assert_recalculates_to_stored_values(gnumeric, ROOT / "workbooks" / name, tmp_path)


@pytest.mark.parametrize("kind", ["keras", "onnx", "learn"])
def test_built_workbooks_recalculate_in_gnumeric(gnumeric, tmp_path, kind):
    from test_engines_ironcalc import _keras_zoo
    from test_learning import _elementwise_models

    from excelnet.convert import build

    if kind == "onnx":
        model = ROOT / "tests" / "fixtures" / "lenet_small_dynamo.onnx"
    elif kind == "keras":
        model = tmp_path / "m.keras"
        _keras_zoo()["conv-bn-pool-dense"].save(model)
    else:   # its loss (0.3813) once read "0.38129999999999999999" in Gnumeric: ROUND(x, 4)&"" there
        model = tmp_path / "m.keras"
        _elementwise_models()["rescale-batchnorm-relu6-leaky-elu-softmax-layer"].save(model)
    result = build(model, tmp_path / "m.xlsx", learn=kind == "learn")
    assert_recalculates_to_stored_values(gnumeric, result.path, tmp_path)


def _parts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n).decode() for n in archive.namelist() if n.endswith(".xml")}


@pytest.mark.parametrize("name", [p.name for p in SHIPPED])
def test_workbook_file_holds_what_every_engine_reads(name):
    """Empty styled cells (the Canvas) carry no type: IronCalc read <c s=".." t="n"></c> as 0, a blank
    picture. Every defined name is one area: Gnumeric cannot parse a multi-area one. No empty
    <workbookProtection/>: Gnumeric complains of it. Charts and drawings declare every namespace
    on their root: Gnumeric knows no other and drops the chart."""
    parts = _parts(ROOT / "workbooks" / name)
    sheets = {n: xml for n, xml in parts.items() if n.startswith("xl/worksheets/")}
    typed_empty = {n: len(re.findall(r'<c [^>]*t="n"[^>]*(?:/>|></c>)', xml)) for n, xml in sheets.items()}
    assert not any(typed_empty.values()), typed_empty
    workbook = parts["xl/workbook.xml"]
    if "Canvas" in workbook:          # the from-scratch workbook has no picture to draw on
        assert sum(xml.count("<c ") - xml.count("<v>") - xml.count("<is>") for xml in sheets.values()) >= 28 * 28, \
            "the empty Canvas cells (a style, no value) are missing"
    drawn = {n: xml for n, xml in parts.items() if n.startswith(("xl/charts/", "xl/drawings/"))}
    for part, xml in drawn.items():
        root_end = re.search(r"<(?![?!])[^>]*>", xml).end()
        assert "xmlns:" not in xml[root_end:], f"{part}: a namespace declared below the root"
    if name == "digits_from_scratch.xlsx":
        assert any(n.startswith("xl/charts/") for n in drawn), "the loss chart is missing"
    assert "workbookProtection" not in workbook
    targets = re.findall(r"<definedName [^>]*>([^<]*)</definedName>", workbook)
    assert len(targets) > (20 if "Canvas" in workbook else 3)
    several = [t for t in targets if "," in re.sub(r"'[^']*'", "", t)]
    assert not several, several[:3]


def test_weights_of_several_blocks_read_as_one_name(default_build):
    """Weights_<i>_<k> of several blocks is stored as Weights_<i>_<k>_1 ... _n and read as one."""
    from openpyxl import load_workbook

    from excelnet.engines.names import _parse, read_named_areas

    names = read_named_areas(default_build.path)
    kernel = names["Weights_1_1"]                        # conv1: one 3x3 filter picture per output channel
    assert len(kernel) == 8 and all(area.shape == (3, 3) for area in kernel)
    assert len(names["Weights_3_1"]) == 32 and not any(n.startswith("Weights_1_1_") for n in names)
    book = load_workbook(default_build.path, read_only=True)
    stored = {name: defined.attr_text for name, defined in book.defined_names.items()}
    book.close()
    assert "Weights_1_1" not in stored
    assert kernel == [_parse(stored[f"Weights_1_1_{n}"]) for n in range(1, 9)]


def test_sample_and_canvas_typed_for_gnumeric_equal_keras(gnumeric, tmp_path, default_build, default_keras_model):
    """Sample 93 and a stroke typed over it (into a copy of the file: ssconvert types only into the
    first sheet), recalculated by Gnumeric: Keras' probabilities, no error cell."""
    from conftest import assert_matches, keras_predict

    from excelnet.engines.names import read_public_cells

    public = read_public_cells(default_build.path)
    canvas, sample = public.canvases[0], public.sample
    x = default_build.samples.model_inputs(default_build.network.input_shape)[92].copy()
    typed = {(sample.sheet, sample.top, sample.left): 93}
    for col in range(6, 12):
        x[10, col, 0] = 1.0
        typed[(canvas.sheet, canvas.top + 10, canvas.left + col)] = 1.0
    copy = gnumeric.typed_copy(default_build.path, tmp_path / "typed.xlsx", typed)
    result = gnumeric.recalculate(copy, tmp_path)
    computed = gnumeric.values(result.path)
    probabilities = [computed.get((public.probabilities.sheet, row, col)) for row, col in public.probabilities.cells()]
    assert_matches(np.array(probabilities, np.float64), keras_predict(default_keras_model, x[None])[0],
                   "Gnumeric, Sample 93 and a stroke:")
    errors = [cell for cell in gnumeric.formula_cells(default_build.path) if gnumeric.is_error(computed.get(cell))]
    assert not errors, errors[:5]
