"""The workbook as a classroom demo: pick a digit, draw over it, switch filters off.

In a real headless LibreOffice, on the shipped model and digits: what a student sees
(Probabilities, Prediction, Label) equals Keras, in every state they can put it in,
and no cell ever shows an error. With openpyxl: the parts that make it a demo
(Guide first, colour scales, bars, validation, no macros, class names, no broken picker).

Filter switches are found by their defined names Switch_<layer>_<k> (k counts from 1)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from conftest import IN_CI, assert_matches, random_init, save_model

REPO = Path(__file__).resolve().parents[1]
SAMPLES = [1, 2, 3, 4, 5, 8, 13, 21, 34, 55, 89, 144]      # 1-based, as typed into Sample
LETTERS = list("ABCDEFGHIJ")


def _flat(answer) -> np.ndarray:
    return np.array(answer, dtype=np.float64).reshape(-1)


def _one(answer):
    return answer[0][0]


@pytest.fixture(scope="module")
def digits(default_build):
    """(model inputs, true labels) of the shipped digits."""
    samples = default_build.samples
    return samples.model_inputs(default_build.network.input_shape), samples.labels


@pytest.fixture(scope="module")
def keras_predictions(default_keras_model, digits):
    x, _ = digits
    return default_keras_model.predict(x[[k - 1 for k in SAMPLES]], verbose=0)


@pytest.fixture
def office(libreoffice, default_build):
    """LibreOffice with a fresh copy of the default workbook open (other tests open other files)."""
    libreoffice.open(default_build.path)
    return libreoffice


# --- in LibreOffice ---------------------------------------------------------------------------


@pytest.mark.libreoffice
def test_picking_samples_shows_their_label_and_keras_probabilities(office, digits, keras_predictions):
    _, labels = digits
    for k, expected in zip(SAMPLES, keras_predictions):
        answer = office.run(canvases=None, sample=k)
        p = _flat(answer["Probabilities"])
        assert p.sum() == pytest.approx(1.0, abs=1e-9), f"Sample {k}: probabilities sum to {p.sum()}"
        assert _one(answer["Prediction"]) == int(np.argmax(p)), f"Sample {k}: Prediction is not the arg-max"
        assert _one(answer["Label"]) == labels[k - 1], f"Sample {k}: Label"
        assert_matches(p, expected, f"Sample {k}:")
        assert office.errors() == {}, f"error cells with Sample {k}"


@pytest.mark.libreoffice
def test_blank_sample_is_a_valid_state(office):
    answer = office.run(canvases=None, sample=0)
    assert _one(answer["Label"]) == ""
    assert _flat(answer["Probabilities"]).sum() == pytest.approx(1.0, abs=1e-9)
    assert office.errors() == {}


@pytest.mark.libreoffice
def test_full_canvas_overrides_the_sample_and_clearing_brings_it_back(office, digits, keras_predictions):
    from excelnet.engines.libreoffice import canvas_grids

    x, labels = digits
    shown, drawn = SAMPLES[0], SAMPLES[1]
    answer = office.run(canvases=canvas_grids(x[drawn - 1]), sample=shown)
    assert_matches(_flat(answer["Probabilities"]), keras_predictions[1], "canvas over another sample:")
    assert _one(answer["Label"]) == labels[shown - 1], "the label stays the chosen sample's"
    assert office.errors() == {}
    answer = office.run(canvases=None, sample=shown)
    assert_matches(_flat(answer["Probabilities"]), keras_predictions[0], "canvas cleared:")
    assert office.errors() == {}


@pytest.mark.libreoffice
def test_a_few_drawn_pixels_override_only_those_pixels(office, digits, default_keras_model):
    x, _ = digits
    k = SAMPLES[2]
    edited = x[k - 1].copy()
    office.run(canvases=None, sample=k)
    for r in range(8, 20):                     # a vertical stroke of ink, typed cell by cell
        office.call("set_cell", name="Canvas", row=r, col=14, value=1.0)
        edited[r, 14, 0] = 1.0
    office.call("recalc")
    answer = office.call("read", names=["Probabilities"])
    expected = default_keras_model.predict(edited[np.newaxis], verbose=0)[0]
    assert_matches(_flat(answer["Probabilities"]), expected, "stroke drawn over a sample:")
    assert office.errors() == {}


def _stroke_ink(strokes, size=28) -> np.ndarray:
    """What the strokes should draw: 1.5 minus the distance to the nearest segment, within 0..1."""
    r, c = np.mgrid[1:size + 1, 1:size + 1].astype(np.float64)
    ink = np.zeros((size, size))
    for r0, c0, r1, c1 in strokes:
        d = np.array([c1 - c0, r1 - r0], dtype=np.float64)
        t = np.clip(((c - c0) * d[0] + (r - r0) * d[1]) / max(d @ d, 1e-18), 0, 1)
        distance = np.hypot(c - c0 - t * d[0], r - r0 - t * d[1])
        ink = np.maximum(ink, np.clip(1.5 - distance, 0, 1))
    return ink


@pytest.mark.libreoffice
def test_strokes_draw_lines_that_the_network_reads(office, digits, default_keras_model):
    x, _ = digits
    strokes = [(5, 8, 5, 21), (5, 21, 24, 12), (14, 3, 14, 3)]       # a 7 and a dot
    office.run(canvases=None, sample=SAMPLES[1])
    try:
        for k, stroke in enumerate(strokes, start=1):
            office.call("put", ref=f"Stroke_{k}", values=list(stroke))
        ink = np.array(office.call("get", refs=["StrokeInk"])["StrokeInk"], dtype=np.float64)
        np.testing.assert_allclose(ink, _stroke_ink(strokes), atol=1e-12)
        assert ink.max() == 1.0 and (ink > 0).sum() > 40
        seen = np.maximum(x[SAMPLES[1] - 1][:, :, 0].astype(np.float64), ink)   # ink over the sample
        expected = default_keras_model.predict(seen[np.newaxis, :, :, np.newaxis], verbose=0)[0]
        assert_matches(_flat(office.call("read", names=["Probabilities"])["Probabilities"]), expected,
                       "strokes over a sample:")
        assert office.errors() == {}
    finally:
        for k in range(1, len(strokes) + 1):
            office.call("put", ref=f"Stroke_{k}", values=None)
    assert np.array(office.call("get", refs=["StrokeInk"])["StrokeInk"], dtype=np.float64).max() == 0


def _conv_layers(network):
    return [op for op in network.ops if op.title == "Conv2D"]


@pytest.mark.libreoffice
def test_filter_switch_removes_exactly_that_filter(office, default_build, default_keras_model, digits):
    import keras

    x, _ = digits
    conv = _conv_layers(default_build.network)[0]
    filter_index = 2                                        # "what happens without filter 3?"
    switch = f"Switch_{conv.name}_{filter_index + 1}"
    assert _one(office.call("read", names=[switch])[switch]) == 1

    crippled = keras.models.clone_model(default_keras_model)
    crippled.set_weights(default_keras_model.get_weights())
    kernel, bias = crippled.get_layer(conv.name).get_weights()
    kernel[..., filter_index] = 0
    bias[filter_index] = 0
    crippled.get_layer(conv.name).set_weights([kernel, bias])
    chosen = SAMPLES[:3]
    without = crippled.predict(x[[k - 1 for k in chosen]], verbose=0)
    with_all = default_keras_model.predict(x[[k - 1 for k in chosen]], verbose=0)
    assert not np.allclose(without, with_all), "the test needs a filter that matters"

    try:
        office.call("set_cell", name=switch, row=0, col=0, value=0)
        for k, expected in zip(chosen, without):
            answer = office.run(canvases=None, sample=k)
            assert_matches(_flat(answer["Probabilities"]), expected, f"{switch} = 0, Sample {k}:")
            assert office.errors() == {}
    finally:
        office.call("set_cell", name=switch, row=0, col=0, value=1)
    for k, expected in zip(chosen, with_all):
        answer = office.run(canvases=None, sample=k)
        assert_matches(_flat(answer["Probabilities"]), expected, f"{switch} back to 1, Sample {k}:")


@pytest.mark.libreoffice
def test_prediction_and_label_show_class_names_from_labels_option(libreoffice, tmp_path, digits):
    from excelnet.convert import build

    _, labels = digits
    result = build(output=tmp_path / "letters.xlsx", labels=LETTERS)
    libreoffice.open(result.path)
    for k in SAMPLES[:3]:
        answer = libreoffice.run(canvases=None, sample=k)
        p = _flat(answer["Probabilities"])
        assert _one(answer["Prediction"]) == LETTERS[int(np.argmax(p))]
        assert _one(answer["Label"]) == LETTERS[labels[k - 1]]
        assert libreoffice.errors() == {}


# --- structure (openpyxl) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def book(default_build):
    return load_workbook(default_build.path)


def _layer_sheets(book):
    return [ws for ws in book.worksheets if ws.title[:1].isdigit()]


def _target(book, name):
    (title, cells), = book.defined_names[name].destinations
    return book[title], cells.replace("$", "")


def test_guide_is_the_first_sheet_and_opens_first(book):
    assert book.sheetnames[0] == "Guide"
    assert book.active.title == "Guide"
    guide = book["Guide"]
    texts = " ".join(str(c.value) for row in guide.iter_rows() for c in row if c.value is not None)
    for words in ("How to use it", "output shape", "parameters", "formula cells", "Colours"):
        assert words in texts


def test_sheets_follow_the_data_flow_with_coloured_tabs(book, default_build):
    layers = _layer_sheets(book)
    assert len(layers) == len(default_build.network.ops)
    order = book.sheetnames
    assert order.index("Input") < order.index(layers[0].title) < order.index("Output")
    assert all(ws.sheet_properties.tabColor is not None for ws in book.worksheets)
    kinds = {ws.title: ws.sheet_properties.tabColor.rgb for ws in book.worksheets}
    assert len({kinds["Guide"], kinds["Input"], kinds[layers[0].title], kinds["Output"]}) == 4


def test_every_layer_sheet_has_colour_scales_and_a_frozen_title(book):
    for ws in _layer_sheets(book):
        rules = [rule for cf in ws.conditional_formatting for rule in cf.rules]
        assert any(rule.type == "colorScale" for rule in rules), f"{ws.title} has no colour scale"
        assert ws.freeze_panes is not None, f"{ws.title} has no frozen header"
    for ws in (book["Input"], book["Output"]):
        assert ws.freeze_panes is not None


def test_grid_cells_are_square(book):
    ws = book["Input"]
    width_px = ws.column_dimensions["C"].width * 7          # Excel: 7 px per character of Calibri 11
    height_px = ws.sheet_format.defaultRowHeight * 96 / 72
    assert width_px == pytest.approx(height_px, abs=1.5)


def test_output_has_probability_bars_and_highlights_the_prediction(book):
    output = book["Output"]
    rules = [rule for cf in output.conditional_formatting for rule in cf.rules]
    assert any(rule.type == "dataBar" for rule in rules)
    assert any(rule.type == "expression" and "MAX(" in rule.formula[0] for rule in rules)


def test_sample_has_validation_from_zero_to_the_number_of_digits(book, default_build):
    ws, cell = _target(book, "Sample")
    count = len(default_build.samples.labels)
    rules = [dv for dv in ws.data_validations.dataValidation if cell in dv.sqref]
    assert rules, "no data validation on Sample"
    assert (rules[0].type, rules[0].formula1, rules[0].formula2) == ("whole", "0", str(count))


def test_pictures_are_grayscale_and_the_canvas_is_yellow(book):
    ws, cells = _target(book, "Canvas")
    first = cells.split(":")[0]
    assert ws[first].fill.fgColor.rgb.endswith("FFF2B3")
    scales = [rule for cf in ws.conditional_formatting for rule in cf.rules if rule.type == "colorScale"]
    colours = {tuple(c.rgb[-6:] for c in rule.colorScale.color) for rule in scales}
    assert ("FFFFFF", "000000") in colours


def test_every_conv_filter_has_a_named_switch(book, default_build):
    for conv in _conv_layers(default_build.network):
        for k in range(1, conv.output_shape[-1] + 1):
            ws, cell = _target(book, f"Switch_{conv.name}_{k}")
            assert ws[cell].value == 1


def test_no_macros(default_build):
    with zipfile.ZipFile(default_build.path) as archive:
        names = archive.namelist()
        types = archive.read("[Content_Types].xml").decode()
    assert not any("vba" in name.lower() for name in names)
    assert "macroEnabled" not in types


def test_public_names_stay(book):
    for name in ("Canvas", "Sample", "Label", "Prediction", "Probabilities"):
        assert name in book.defined_names


def test_labels_option_names_the_classes_on_the_output_sheet(tmp_path):
    from excelnet.convert import build

    result = build(output=tmp_path / "letters.xlsx", labels=LETTERS)
    output = load_workbook(result.path)["Output"]
    shown = [c.value for row in output.iter_rows(min_col=1, max_col=1) for c in row]
    assert [v for v in shown if v in LETTERS] == LETTERS


@pytest.fixture(scope="module")
def small_model_path(tmp_path_factory):
    """A model whose input is not 28x28 grayscale: the shipped digits do not fit it."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)),
                              keras.layers.Conv2D(2, 3, activation="relu", **random_init(1)),
                              keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax", **random_init(3))])
    return save_model(model, tmp_path_factory.mktemp("small") / "small.keras"), model


def test_model_without_matching_samples_has_no_picker_and_says_so(small_model_path, tmp_path):
    from excelnet.convert import build

    path, _ = small_model_path
    result = build(path, tmp_path / "small.xlsx")
    book = load_workbook(result.path)
    assert "Sample" not in book.defined_names and "Label" not in book.defined_names
    assert "Samples" not in book.sheetnames and "Digits" not in book.sheetnames
    texts = " ".join(str(c.value) for row in book["Input"].iter_rows() for c in row if isinstance(c.value, str))
    assert "No sample pictures" in texts
    # no Sample picker; only the Explain and Magnifier sheets' own yellow cells are validated
    assert not any(ws.data_validations.dataValidation for ws in book.worksheets
                   if ws.title not in ("Explain", "Magnifier"))


@pytest.mark.libreoffice
def test_model_without_samples_works_from_the_canvas(libreoffice, small_model_path, tmp_path):
    from excelnet.convert import build
    from excelnet.engines.libreoffice import canvas_grids

    path, model = small_model_path
    result = build(path, tmp_path / "small.xlsx")
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    libreoffice.open(result.path)
    for i, expected in enumerate(model.predict(x, verbose=0)):
        answer = libreoffice.run(canvases=canvas_grids(x[i]))
        assert_matches(_flat(answer["Probabilities"]), expected, f"input {i}:")
        assert libreoffice.errors() == {}


# --- the pictures in the README ------------------------------------------------------------


@pytest.mark.libreoffice
@pytest.mark.slow
def test_render_tool_makes_one_png_per_sheet(libreoffice, small_model_path, tmp_path):
    if shutil.which("pdftoppm") is None:
        reason = "the renderer needs pdftoppm from poppler-utils (apt-get install poppler-utils)"
        if IN_CI:
            pytest.fail(f"poppler-utils is required in CI: {reason}")
        pytest.skip(reason)
    path, _ = small_model_path
    subprocess.run([sys.executable, str(REPO / "tools" / "render_workbook.py"), "-m", str(path),
                    "--out", str(tmp_path), "--dpi", "40", "input=Input", "layer=@1", "output=Output"],
                   check=True, capture_output=True, timeout=300)
    for name in ("input", "layer", "output"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
