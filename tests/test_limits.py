"""Excel's limits: computed before writing, refused with the layer and the excess named."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from excelnet.errors import SpreadsheetLimitError
from excelnet.layout import MAX_COLS, MAX_ROWS
from excelnet.ops import build_network
from excelnet.reader.spec import LayerSpec, ModelSpec
from excelnet.sheet import SheetPlan
from excelnet.workbook.limits import MAX_FORMULA_LENGTH, call_skeleton, check_limits, function_problems, layer_needs


def _spec(input_shape, *layers):
    return ModelSpec("m", tuple(input_shape), tuple(layers), source="m.keras")


def _conv(name, kh, kw, cin, cout, padding="valid"):
    return LayerSpec("Conv2D", name, {"padding": padding, "strides": [1, 1]},
                     (np.zeros((kh, kw, cin, cout), "float32"), np.zeros(cout, "float32")))


def _dense(name, inputs, units, activation="linear"):
    return LayerSpec("Dense", name, {"activation": activation},
                     (np.zeros((inputs, units), "float32"), np.zeros(units, "float32")))


# --- Formulas ----------------------------------------------------------------------------------

def test_function_problems_counts_arguments_and_nesting():
    assert function_problems("SUM(1,2,3)") == (3, 1)
    assert function_problems("MAX(0,MIN(A1,2))") == (2, 2)
    assert function_problems("'a,b(c'!A1+SUM(\"x,(y\",2)") == (2, 1)
    assert function_problems("SUM(" + ",".join(["1"] * 300) + ")") == (300, 1)
    assert function_problems("PI()") == (0, 1)
    assert function_problems("ABS(" * 70 + "1" + ")" * 70) == (1, 70)


def test_a_formulas_call_skeleton_has_the_same_problems():
    """check_limits counts a formula's skeleton (quotes, brackets, commas), once per shape."""
    rng = np.random.default_rng(3)
    pieces = ["(", ")", ",", "'", '"', "A1", "SUM(", "PI()", "x", "''", '""', " ", "\n", "$B$2:$C$9"]
    for _ in range(3000):
        expression = "".join(rng.choice(pieces, size=int(rng.integers(0, 40))))
        assert function_problems(call_skeleton(expression)) == function_problems(expression), expression
    real = "IF($B$104=\"yes\",'5 flatten'!A7*CHOOSE($B$5,INDEX('w, (x'!$B$6:$F$165,2),INDEX('it''s'!A1:B2,1,1)),\"\")"
    assert call_skeleton(real) == "x(xx,xx(x,x(xx,x),x(xxx,x,x)),x)"     # quoted texts are one x each
    assert function_problems(call_skeleton(real)) == function_problems(real) == (3, 3)


def _plan(title="3 big", first="Layer 3: big (Dense) → output 2", layer=("big", "Dense"), kind="layer"):
    sheet = SheetPlan(title, kind, layer=layer)
    sheet.put(1, 1, first)
    return sheet


@pytest.mark.parametrize("kind, expected", [("layer", "layer 'x (y) → z: w' (Dense) on sheet 'odd'"),
                                            ("weights", "the weights of layer 'x (y) → z: w' on sheet 'odd'")])
def test_messages_name_the_layer_from_the_plan_not_from_the_sheet_text(kind, expected):
    """A layer name with brackets and arrows (which once confused a regex over the title line),
    and a title line that says something else: the plan's own record of the layer decides."""
    sheet = _plan("odd", "Layer 1: decoy (Conv2D) → output 3", ("x (y) → z: w", "Dense"), kind)
    sheet.put(MAX_ROWS + 1, 1, 1.0)
    with pytest.raises(SpreadsheetLimitError) as error:
        check_limits([sheet])
    assert expected in str(error.value) and "decoy" not in str(error.value)


def test_a_sheet_of_no_layer_is_named_as_a_sheet():
    sheet = _plan("Input", "The input", None, "input")
    sheet.put(1, MAX_COLS + 1, 1.0)
    with pytest.raises(SpreadsheetLimitError) as error:
        check_limits([sheet])
    assert "sheet 'Input' needs 16,385 columns" in str(error.value)


@pytest.mark.parametrize("where,words", [
    ((MAX_ROWS + 7, 1), ["1,048,583 rows", "7 more", "1,048,576"]),
    ((1, MAX_COLS + 3), ["16,387 columns", "3 more", "16,384"]),
])
def test_rows_and_columns(where, words):
    sheet = _plan()
    sheet.put(*where, 1.0)
    with pytest.raises(SpreadsheetLimitError) as error:
        check_limits([sheet])
    message = str(error.value)
    assert "layer 'big' (Dense) on sheet '3 big'" in message
    for word in words:
        assert word in message, message


def test_formula_length_arguments_and_nesting():
    sheet = _plan()
    sheet.formula(2, 1, "1+" * (MAX_FORMULA_LENGTH // 2) + "1")
    sheet.formula(3, 1, "SUM(" + ",".join(["1"] * 260) + ")")
    sheet.formula(4, 1, "ABS(" * 66 + "1" + ")" * 66)
    with pytest.raises(SpreadsheetLimitError) as error:
        check_limits([sheet])
    message = str(error.value)
    assert f"formula of {MAX_FORMULA_LENGTH + 2:,} characters, 2 more than Excel's 8,192" in message
    assert "260 arguments, 5 more than Excel's 255" in message
    assert "66 deep, 2 more than Excel's 64" in message


def test_sheets_within_the_limits_pass():
    sheet = _plan()
    sheet.put(MAX_ROWS, MAX_COLS, 1.0)
    sheet.formula(2, 1, "SUM(" + ",".join(["1"] * 255) + ")")
    check_limits([sheet, SheetPlan("Output", "output")])


# --- Before planning: from the shapes ----------------------------------------------------------

def test_conv_too_wide_is_refused_before_planning():
    """The copy of a padded input is 2 columns wider than the input: past Excel's last column."""
    spec = _spec((2, 16_383, 1), _conv("wide", 3, 3, 1, 1, "same"), LayerSpec("Flatten", "f", {}),
                 _dense("d", 2 * 16_383, 3))
    with pytest.raises(SpreadsheetLimitError) as error:
        build_network(spec)
    message = str(error.value)
    assert "layer 'wide' (Conv2D) needs 16,385 columns, 1 more than Excel's 16,384" in message
    assert "nothing was written" in message


def test_dense_with_too_many_units_is_refused():
    spec = _spec((10,), _dense("huge", 10, 20_000), _dense("out", 20_000, 3, "softmax"))
    with pytest.raises(SpreadsheetLimitError) as error:
        build_network(spec)
    message = str(error.value)
    assert "layer 'huge' (Dense) needs 20,001 columns, 3,617 more" in message
    assert "layer 'out' (Dense) weights needs 20,001 columns" in message


def test_dense_weights_too_tall_is_refused():
    spec = _spec((600, 20, 1), LayerSpec("Flatten", "f", {}), _dense("tall", 600 * 20, 2000))
    with pytest.raises(SpreadsheetLimitError) as error:
        build_network(spec)
    assert "layer 'tall' (Dense) weights needs 1,202,006 rows, 153,430 more than Excel's 1,048,576" in str(error.value)


def test_vector_input_too_wide_is_refused():
    with pytest.raises(SpreadsheetLimitError) as error:
        build_network(_spec((20_000,), _dense("d", 20_000, 2)))
    assert "the input of 20,000 values" in str(error.value)


def test_cli_refuses_a_model_too_large_and_writes_nothing(tmp_path):
    import keras

    from excelnet.cli import main

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(17_000, name="enormous"),
                              keras.layers.Dense(2, name="out")])
    model.save(tmp_path / "big.keras")
    output = tmp_path / "big.xlsx"
    output.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["build", "-m", str(tmp_path / "big.keras"), "-o", str(output)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "layer 'enormous' (Dense) needs 17,001 columns, 617 more than Excel's 16,384" in result.output
    assert output.read_bytes() == b"keep me"


def test_activation_after_flatten_keeps_the_flattened_layout():
    """Flatten gives an H x (W*C) block; an activation or batch norm after it keeps that block
    instead of one row of H*W*C cells that would not fit in Excel's columns."""
    spec = _spec((3, 6000, 1), LayerSpec("Flatten", "f", {}), LayerSpec("Activation", "a", {"activation": "tanh"}),
                 LayerSpec("BatchNormalization", "bn", {"axis": -1},
                           tuple(np.ones(18_000, "float32") for _ in range(4))),
                 _dense("d", 18_000, 2))
    network = build_network(spec)
    blocks, block = [], (0, 0, 1)
    for op in network.ops:
        block = layer_needs(op, block)[1]
        blocks.append(block)
    assert blocks[:3] == [(3, 6000, 1)] * 3


@pytest.mark.parametrize("case", ["conv", "dense"])
def test_estimates_cover_the_real_sheets(case):
    """The shape-only estimate is never smaller than what planning really uses."""
    from excelnet.workbook.build import plan_workbook

    rng = np.random.default_rng(0)
    if case == "conv":
        spec = _spec((7, 9, 3),
                     LayerSpec("Conv2D", "c", {"padding": "same", "activation": "swish", "strides": [2, 1]},
                               (rng.normal(size=(3, 2, 3, 5)).astype("float32"), np.zeros(5, "float32"))),
                     LayerSpec("MaxPooling2D", "p", {"pool_size": [2, 2], "padding": "same"}),
                     LayerSpec("Flatten", "f", {}), _dense("d", 2 * 5 * 5, 4, "softmax"))  # (4,9,5)->(2,5,5)
    else:
        spec = _spec((12,), _dense("a", 12, 30, "selu"), _dense("b", 30, 5, "softmax"))
    network = build_network(spec)
    plan = plan_workbook(network)
    by_title = {sheet.title: sheet for sheet in plan.sheets}
    block = (1, spec.input_shape[0], 1) if len(spec.input_shape) == 1 else (0, 0, 1)
    for index, op in enumerate(network.ops, start=1):
        needs, block = layer_needs(op, block)
        sheet = by_title[next(t for t in by_title if t.startswith(f"{index} "))]
        rows = max(r for r, _ in sheet.cells)
        cols = max(c for _, c in sheet.cells)
        assert needs["layer"][0] >= rows and needs["layer"][1] >= cols, (op.name, needs, rows, cols)
        if "weights" in needs:
            weights = by_title[f"{op.name} weights"]
            assert needs["weights"][0] >= max(r for r, _ in weights.cells)
            assert needs["weights"][1] >= max(c for _, c in weights.cells)
