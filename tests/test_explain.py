"""The Explain sheet in a real LibreOffice: for random layers and positions on several models,
the step-by-step result equals the cell it explains, that cell equals the NumPy reference of
its layer (Network.trace), and the pictures (window, filter, products) hold the right numbers."""

from __future__ import annotations

import numpy as np
import pytest
from openpyxl import load_workbook

from conftest import random_init, save_model

EXPLAINED = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense")


def _number(value) -> float:
    return np.nan if value in ("", None) else float(value)


def _grid(answer) -> np.ndarray:
    return np.array([[_number(v) for v in row] for row in answer], dtype=np.float64)


def _positions(network, rng, per_layer=3):
    """(layer number, op, channel, row, col) 1-based, random but always including the last cell."""
    for index, op in enumerate(network.ops, start=1):
        if op.title not in EXPLAINED:
            continue
        shape = op.output_shape
        if len(shape) == 1:
            picks = [(int(rng.integers(shape[0])) + 1, 1, 1) for _ in range(per_layer - 1)] + [(shape[0], 1, 1)]
        else:
            picks = [(int(rng.integers(shape[2])) + 1, int(rng.integers(shape[0])) + 1, int(rng.integers(shape[1])) + 1)
                     for _ in range(per_layer - 1)] + [(shape[2], shape[0], shape[1])]
        for channel, row, col in picks:
            yield index, op, channel, row, col


def _choose(office, layer, channel, row, col) -> dict:
    for name, value in (("ExplainLayer", layer), ("ExplainChannel", channel), ("ExplainRow", row),
                        ("ExplainColumn", col)):
        office.call("set_cell", name=name, row=0, col=0, value=value, read=[])
    return office.call("read", names=["ExplainResult", "ExplainValue"])


def _check_pictures(office, index, op, layer_input, channel, row, col):
    if op.title == "Conv2D":
        top, bottom, left, right = op.pads
        padded = np.pad(layer_input, ((top, bottom), (left, right), (0, 0)))
        kh, kw, cin, _ = op.kernel.shape
        y0, x0 = (row - 1) * op.strides[0], (col - 1) * op.strides[1]
        for c in range(cin):
            names = [f"Explain{index}_{part}_{c + 1}" for part in ("Window", "Filter", "Product")]
            got = office.call("read", names=names)
            window = padded[y0:y0 + kh, x0:x0 + kw, c]
            weights = op.kernel[:, :, c, channel - 1].astype(np.float64)
            for name, want in zip(names, (window, weights, window * weights)):
                np.testing.assert_allclose(_grid(got[name]), want, rtol=1e-9, atol=1e-12, err_msg=name)
            if cin > 1:                     # one sum per input picture under its products
                name = f"Explain{index}_Sum_{c + 1}"
                got = office.call("read", names=[name])[name][0][0]
                assert got == pytest.approx(float(np.sum(window * weights)), rel=1e-9, abs=1e-12), name
        first_row, first_col = y0 - top, x0 - left       # in the picture before, 0-based (padding < 0)
        _check_where(office, index, (first_row, first_row + kh), (first_col, first_col + kw), layer_input.shape)
    elif op.title.endswith("Pooling2D"):
        name = f"Explain{index}_Window"
        got = _grid(office.call("read", names=[name])[name])
        (y0, h), (x0, w) = list(op.windows(0))[row - 1], list(op.windows(1))[col - 1]
        want = layer_input[y0:y0 + h, x0:x0 + w, channel - 1]
        inside = got[~np.isnan(got)]
        np.testing.assert_allclose(np.sort(inside), np.sort(want.reshape(-1)), rtol=1e-12, err_msg=name)
        _check_where(office, index, (y0, y0 + h), (x0, x0 + w), layer_input.shape)
    else:
        name = f"Explain{index}_Products"
        got = _grid(office.call("read", names=[name])[name]).reshape(-1)
        want = layer_input.reshape(-1) * op.kernel[:, channel - 1].astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=name)


def _check_where(office, index, rows, cols, shape):
    """The line 'where the window is' names the rows and columns of the picture before that the
    window covers, counted from 1 and without the padding."""
    (r0, r1), (c0, c1) = rows, cols
    want = (f"rows {max(r0, 0) + 1}–{min(r1, shape[0])}, columns {max(c0, 0) + 1}–{min(c1, shape[1])} of ")
    name = f"Explain{index}_Where"
    got = office.call("read", names=[name])[name][0][0]
    assert str(got).startswith(want), f"{name}: {got!r}, expected it to start with {want!r}"


def _explain_everywhere(office, network, x, seed):
    trace = network.trace(x)
    inputs = [np.asarray(x, dtype=np.float64).reshape(network.input_shape)] + trace[:-1]
    checked = 0
    for index, op, channel, row, col in _positions(network, np.random.default_rng(seed)):
        what = f"layer {index} ({op.name}) channel {channel} row {row} col {col}"
        answer = _choose(office, index, channel, row, col)
        result, value = answer["ExplainResult"][0][0], answer["ExplainValue"][0][0]
        out = trace[index - 1]
        expected = out[channel - 1] if out.ndim == 1 else out[row - 1, col - 1, channel - 1]
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), f"{what}: ExplainValue != NumPy"
        assert result == pytest.approx(value, rel=1e-9, abs=1e-12), f"{what}: ExplainResult != ExplainValue"
        _check_pictures(office, index, op, inputs[index - 1], channel, row, col)
        checked += 1
    assert office.errors() == {}, office.call("error_cells")
    return checked


@pytest.mark.libreoffice
def test_explain_the_default_workbook(libreoffice, default_build):
    libreoffice.open(default_build.path)
    libreoffice.run(canvases=None, sample=7)
    samples = default_build.samples       # in float64, as the workbook divides them
    x = samples.images[6].astype(np.float64) / samples.divisor
    assert _explain_everywhere(libreoffice, default_build.network, x, seed=1) == 18


@pytest.fixture(scope="module")
def varied_model(tmp_path_factory):
    """Padding 'same', strides, colour input, average pooling, no bias, tanh, a vector Dense."""
    import keras

    model = keras.Sequential([
        keras.Input((9, 8, 3)),
        keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh", **random_init(1)),
        keras.layers.AveragePooling2D(2, padding="same"),
        keras.layers.Conv2D(3, 2, activation="relu", use_bias=False, kernel_initializer=random_init(3)["kernel_initializer"]),
        keras.layers.MaxPooling2D(2, strides=1, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="relu", **random_init(5)),
        keras.layers.Dense(3, activation="softmax", **random_init(7)),
    ])
    return save_model(model, tmp_path_factory.mktemp("varied") / "varied.keras")


@pytest.mark.libreoffice
def test_explain_padding_strides_and_colour_input(libreoffice, varied_model, tmp_path):
    from excelnet.convert import build
    from excelnet.engines.libreoffice import canvas_grids

    result = build(varied_model, tmp_path / "varied.xlsx")
    libreoffice.open(result.path)
    x = np.random.default_rng(3).uniform(0, 1, (9, 8, 3))
    libreoffice.run(canvases=canvas_grids(x))
    assert _explain_everywhere(libreoffice, result.network, x, seed=2) == 18


@pytest.mark.libreoffice
def test_explain_says_when_a_position_is_outside_the_layer(libreoffice, default_build):
    libreoffice.open(default_build.path)
    answer = _choose(libreoffice, 1, 9, 1, 1)           # conv1 has 8 channels
    assert answer["ExplainResult"][0][0] in ("", None)
    book = load_workbook(default_build.path)
    assert "Explain" in book.sheetnames
    assert libreoffice.errors() == {}


def test_explain_uses_only_classic_functions(default_build):
    book = load_workbook(default_build.path)
    formulas = [c.value for row in book["Explain"].iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("=")]
    assert len(formulas) > 100
    for banned in ("OFFSET(", "INDIRECT(", "LAMBDA(", "LET(", "FILTER(", "XLOOKUP("):
        assert not any(banned in f.upper() for f in formulas), banned
    for name in ("ExplainLayer", "ExplainChannel", "ExplainRow", "ExplainColumn", "ExplainResult", "ExplainValue"):
        assert name in book.defined_names, name


def test_every_layer_sheet_says_how_to_reach_explain(default_build):
    book = load_workbook(default_build.path, read_only=True)
    for index, op in enumerate(default_build.network.ops, start=1):
        ws = next(book[t] for t in book.sheetnames if t.startswith(f"{index} "))
        texts = [c for row in ws.iter_rows(max_row=4, values_only=True) for c in row if isinstance(c, str)]
        assert any("Explain" in t and f"type {index}" in t for t in texts), ws.title


@pytest.mark.libreoffice
def test_explain_a_dense_layer_with_fewer_inputs_than_contributions_shown(libreoffice, tmp_path):
    import keras

    from excelnet.convert import build
    from excelnet.engines.libreoffice import canvas_grids

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu", **random_init(21)),
                              keras.layers.Dense(2, activation="softmax", **random_init(23))])
    result = build(save_model(model, tmp_path / "tiny.keras"), tmp_path / "tiny.xlsx")
    libreoffice.open(result.path)
    x = np.array([0.3, -0.7, 0.9])
    libreoffice.run(canvases=canvas_grids(x))
    assert _explain_everywhere(libreoffice, result.network, x, seed=4) == 6


@pytest.mark.libreoffice
def test_explain_the_dense_layer_after_a_flattened_pool(libreoffice, tmp_path):
    """Issue 18's model: Flatten → Dropout → Dense(16, sigmoid) after a 7×7×4 average pool (its
    products once ran into the next layer's part), in a real LibreOffice."""
    import keras

    from excelnet.convert import build
    from excelnet.engines.libreoffice import canvas_grids

    L = keras.layers
    model = keras.Sequential([keras.Input((14, 14, 1)), L.Conv2D(4, 3, padding="same", activation="relu",
                                                                 **random_init(31)),
                              L.AveragePooling2D(2), L.Flatten(), L.Dropout(0.2),
                              L.Dense(16, activation="sigmoid", **random_init(33)),
                              L.Dense(10, activation="softmax", **random_init(35))])
    result = build(save_model(model, tmp_path / "issue.keras"), tmp_path / "issue.xlsx")
    libreoffice.open(result.path)
    x = np.random.default_rng(5).uniform(0, 1, (14, 14, 1))
    libreoffice.run(canvases=canvas_grids(x))
    assert _explain_everywhere(libreoffice, result.network, x, seed=6) == 12


def test_explain_in_ironcalc(tmp_path):
    """A second engine (IronCalc, which gives #VALUE! for INDEX over one cell): every layer's part
    of the Explain sheet says "same" at random positions with a random input on the Canvas, and
    no Explain cell is an error. A Dense(1) and 1×1 maps make one-cell blocks."""
    import ironcalc
    import keras

    from excelnet.convert import build
    from excelnet.engines.libreoffice import canvas_grids

    L = keras.layers
    model = keras.Sequential([keras.Input((5, 5, 2)), L.Conv2D(3, 3, padding="same", activation="relu",
                                                               **random_init(41)),
                              L.MaxPooling2D(2), L.Conv2D(2, 2, **random_init(43)), L.Flatten(),
                              L.Dense(1, activation="tanh", **random_init(45)),
                              L.Dense(3, activation="softmax", **random_init(47))])
    result = build(save_model(model, tmp_path / "small.keras"), tmp_path / "small.xlsx")
    plan = {sheet.title: sheet for sheet in result.plan.sheets}
    titles = [sheet.title for sheet in result.plan.sheets]
    explain = plan["Explain"]
    book = ironcalc.load_from_xlsx(str(result.path), "en", "UTC")
    x = np.random.default_rng(7).uniform(0, 1, (5, 5, 2))
    for k, grid in enumerate(canvas_grids(x)):
        rect = plan["Input"].names[f"Canvas_{k + 1}"]
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                book.set_user_input(titles.index("Input"), rect.row + r, rect.col + c, repr(value))
    here = titles.index("Explain")
    controls = [explain.names[n] for n in ("ExplainLayer", "ExplainChannel", "ExplainRow", "ExplainColumn")]
    same, value = explain.names["ExplainSame"], explain.names["ExplainValue"]
    trace = result.network.trace(x)
    rng = np.random.default_rng(8)
    bottom, right = max(r for r, _ in explain.cells), max(c for _, c in explain.cells)
    for index, op in enumerate(result.network.ops, start=1):
        if op.title not in EXPLAINED:
            continue
        shape = op.output_shape
        for _ in range(2):
            pick = (int(rng.integers(shape[-1])) + 1, 1, 1) if len(shape) == 1 else \
                (int(rng.integers(shape[2])) + 1, int(rng.integers(shape[0])) + 1, int(rng.integers(shape[1])) + 1)
            for rect, typed in zip(controls, (index,) + pick):
                book.set_user_input(here, rect.row, rect.col, str(typed))
            book.evaluate()
            what = f"layer {index} ({op.name}) at {pick}"
            assert book.get_formatted_cell_value(here, same.row, same.col) == "same", what
            out = trace[index - 1]
            expected = out[pick[0] - 1] if out.ndim == 1 else out[pick[1] - 1, pick[2] - 1, pick[0] - 1]
            assert book.get_cell_value(here, value.row, value.col) == pytest.approx(expected, rel=1e-9,
                                                                                             abs=1e-12), what
            errors = [(r, c) for r in range(1, bottom + 1) for c in range(1, right + 1)
                      if book.get_formatted_cell_value(here, r, c).startswith("#")]
            assert errors == [], f"{what}: error cells {errors[:5]}"
