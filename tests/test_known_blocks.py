"""Formula blocks whose references the planner hands over (templates.py, SheetPlan.formula_block):
the evaluator takes their references from the plan instead of reading them back out of the text.
It must compute exactly what reading the text computes, for every emitter that writes such
blocks, and a block whose arrays disagree with its text must not be trusted."""

from __future__ import annotations

import numpy as np
import pytest

from backward_harness import op_from_keras, plan_backward
from excelnet.convert import plan_for
from excelnet.evaluate import Evaluator
from excelnet.layout import Rect
from excelnet.ops.activations import wrap
from excelnet.sheet import Each, Formula, Reference, SheetPlan, is_mark, mark
from excelnet.templates import Templates, formula_templates
from test_backward_ops import ALL, _input, conv


def _values(sheets, known: bool) -> dict[str, list]:
    book = Evaluator(sheets, known=known).run()
    return {title: [str(v) for v in book.cell_values(title, rows, cols)]
            for title, (rows, cols) in book.formula_cells.items()}


def _known_cells(sheets) -> int:
    return sum(len(block.rows) for plan in sheets for block in plan.known)


def _formula_cells(sheets) -> int:
    return sum(plan.formula_count() for plan in sheets)


@pytest.mark.parametrize("learn", [False, True], ids=["default", "learn"])
def test_the_shipped_workbooks_compute_the_same_from_known_references(learn):
    plan, _ = plan_for(learn=learn)
    assert _values(plan.sheets, known=True) == _values(plan.sheets, known=False)
    # most formulas come with their references: what `build --learn` waited for
    assert _known_cells(plan.sheets) > (0.9 if learn else 0.5) * _formula_cells(plan.sheets)


# besides the backward cases: one input channel with padding (a padded copy instead of bands)
CASES = {**ALL, "conv-1ch-3x3-stride2-same-relu": conv(2, 3, (5, 6, 1), strides=2, padding="same", activation="relu")}


@pytest.mark.parametrize("case_id", list(CASES))
def test_every_backward_case_computes_the_same_from_known_references(case_id, tmp_path):
    """Convolutions with strides and padding (clipped windows of several sizes), pooling with ties,
    gaps and MATCH, the global pools, batch norm, PReLU, ... forward and backward."""
    make, shape, kind = CASES[case_id]
    layer = make()
    layer.build((None,) + tuple(shape))
    op = op_from_keras(layer, shape)
    x = _input(kind, shape, 7)
    grad = np.random.default_rng(8).normal(size=op.output_shape).astype(np.float32)
    plan = plan_backward(op, x, grad, tmp_path / "b.xlsx")
    assert _values(plan.sheets, known=True) == _values(plan.sheets, known=False)


def _tiny(block_refs: list[Reference]) -> list[SheetPlan]:
    data = SheetPlan("Data", "layer")
    for r in range(1, 4):
        data.put(r, 1, float(r))            # 1, 2, 3 in A1:A3
        data.put(r, 2, 10.0 * r)            # 10, 20, 30 in B1:B3
    out = SheetPlan("Out", "layer")
    out.formula_block([1, 2, 3], [1, 1, 1], ["Data!A1*2", "Data!A2*2", "Data!A3*2"], block_refs)
    return [data, out]


def test_a_block_is_computed_from_its_references():
    sheets = _tiny([Reference("Data", np.array([1, 2, 3]), np.array([1, 1, 1]))])
    book = Evaluator(sheets).run()
    assert [book.value("Out", r, 1) for r in (1, 2, 3)] == [2.0, 4.0, 6.0]


@pytest.mark.parametrize("wrong", ["column", "last row", "count"])
def test_a_block_whose_references_disagree_with_its_text_is_read_from_the_text(wrong):
    """The arrays say column B (or a wrong last row, or a second reference the text lacks): the
    evaluator notices on the first or last member and computes what the text says."""
    refs = {"column": [Reference("Data", np.array([1, 2, 3]), np.array([2, 2, 2]))],
            "last row": [Reference("Data", np.array([1, 2, 1]), np.array([1, 1, 1]))],
            "count": [Reference("Data", np.array([1, 2, 3]), np.array([1, 1, 1]))] * 2}[wrong]
    book = Evaluator(_tiny(refs)).run()
    assert [book.value("Out", r, 1) for r in (1, 2, 3)] == [2.0, 4.0, 6.0]


def test_a_block_cell_overwritten_later_makes_its_sheet_read_from_the_text():
    sheets = _tiny([Reference("Data", np.array([1, 2, 3]), np.array([1, 1, 1]))])
    sheets[1].erase(2, 1)                          # the plan refuses a cell written twice unless erased
    sheets[1].put(2, 1, 7.5)                       # no longer a formula
    book = Evaluator(sheets).run()
    assert [book.value("Out", r, 1) for r in (1, 2, 3)] == [2.0, 7.5, 6.0]


def test_templates_write_what_a_formula_call_would():
    """Absolute marks ($A$1) for blocks every member shares or Each(..., True), relative ones for
    a list; one template per member by `which`; a block per template and size."""
    sheet = SheetPlan("Out", "layer")
    weights = Rect("W", 2, 3, 2, 2)
    formula_templates(sheet, [1, 1, 2], [1, 2, 1],
                            [f"SUMPRODUCT({mark('x')},{mark('w')})", f"SUMPRODUCT({mark('w')},{mark('x')})*{mark('s')}"],
                            [0, 1, 0],
                            {"x": [Rect("In", 1, 1, 2, 2), Rect("In", 1, 2, 2, 2), Rect("In", 5, 1, 2, 2)],
                             "w": weights, "s": Each([None, Rect("Out", 9, 9, 1, 1), None], absolute=True)})
    assert sheet.cells[(1, 1)] == Formula("SUMPRODUCT('In'!A1:B2,'W'!$C$2:$D$3)")
    assert sheet.cells[(1, 2)] == Formula("SUMPRODUCT('W'!$C$2:$D$3,'In'!B1:C2)*$I$9")
    assert sheet.cells[(2, 1)] == Formula("SUMPRODUCT('In'!A5:B6,'W'!$C$2:$D$3)")
    assert list(sheet.cells) == [(1, 1), (1, 2), (2, 1)]          # in the members' order
    blocks = sorted(((b.rows.tolist(), [(r.sheet, r.rows.tolist(), r.height) for r in b.references])
                     for b in sheet.known), key=str)
    assert blocks == sorted([([1, 2], [("In", [1, 5], 2), ("W", [2, 2], 2)]),
                             ([1], [("W", [2], 2), ("In", [1], 2), ("Out", [9], 1)])], key=str)
    # references of different sheets or sizes under one template: written, but read from the text
    formula_templates(sheet, [3, 4], [1, 1], [f"SUM({mark('x')})"], None,
                            {"x": [Rect("In", 1, 1, 2, 2), Rect("In", 1, 1, 3, 3)]})
    assert sheet.cells[(4, 1)] == Formula("SUM('In'!A1:C3)") and len(sheet.known) == 2


def test_templates_collected_cell_by_cell_keep_their_order():
    sheet = SheetPlan("Out", "layer")
    cells = Templates(sheet, absolute=("top",))
    cells.add(1, 1, f"MAX({mark('a')})", a=Rect("In", 1, 1, 2, 2))
    cells.add(1, 2, f"MAX({mark('a')},{mark('b')})", a=Rect("In", 1, 3, 1, 2), b=Rect("In", 2, 3, 1, 2))
    cells.add(2, 1, f"IF({mark('a')}={mark('top')},1,2)", a=Rect("In", 3, 1, 1, 1), top=Rect("In", 9, 9, 1, 1))
    cells.add(2, 2, f"MAX({mark('a')})", a=Rect("In", 5, 1, 2, 2))
    cells.write()
    assert list(sheet.cells.items()) == [((1, 1), Formula("MAX('In'!A1:B2)")),
                                         ((1, 2), Formula("MAX('In'!C1:D1,'In'!C2:D2)")),
                                         ((2, 1), Formula("IF('In'!A3='In'!$I$9,1,2)")),
                                         ((2, 2), Formula("MAX('In'!A5:B6)"))]
    assert sorted(len(b.rows) for b in sheet.known) == [1, 1, 2]
    data = SheetPlan("In", "layer")
    for r in range(1, 10):
        for c in range(1, 10):
            data.put(r, c, float(r * 10 + c))
    assert _values([data, sheet], known=True) == _values([data, sheet], known=False)


def test_a_mark_is_an_operand_that_needs_no_brackets():
    """Activations bracket what is not a single reference: a mark stands for one."""
    assert is_mark(mark("x")) and not is_mark(mark("x") + "+" + mark("y")) and not is_mark("A1")
    assert wrap(mark("x")) == mark("x") and wrap(f"{mark('x')}+1") == f"({mark('x')}+1)"


def test_a_block_lists_one_row_and_column_per_member_for_each_reference():
    with pytest.raises(ValueError, match="one row and column per member"):
        SheetPlan("Out", "layer").formula_block([1, 2], [1, 1], ["A1", "A2"], [Reference("Out", np.array([1]), np.array([1]))])
