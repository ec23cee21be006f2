"""The Magnifier sheet: for every group of its list and a random picture of each, the big grid
holds exactly that picture's cells (blank around it), its rulers number the picture's rows and
columns, and the sentence names the sheet and cells; a pick outside the list shows nothing and no
error. In excelnet's evaluator on both shipped workbooks, and in LibreOffice as a student sees it:
printed to PDF, a tiny gradient reads 1.1E-7 (never 0.00 or ###)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from excelnet.layout import Rect
from excelnet.sheet import SheetPlan
from excelnet.workbook.magnifier import LARGEST, MAX_GROUPS, MAX_SOURCE_CELLS, PER_GROUP, picture_groups

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def learn_build(tmp_path_factory):
    from excelnet.convert import build

    return build(output=tmp_path_factory.mktemp("magnifier") / "learn.xlsx", learn=True)


def the_list(plan) -> tuple[SheetPlan, list[dict]]:
    """The Magnifier's sheet and its list, read back from the plan's cells."""
    sheet = next(s for s in plan.sheets if s.title == "Magnifier")
    grid = sheet.names["Magnified"]
    header, col = next(key for key, v in sheet.cells.items() if getattr(v, "value", None) == "group")
    assert col > grid.right, "the list stands right of the big grid"
    groups, row = [], header + 1
    while isinstance(sheet.cells.get((row, col)), int):
        number, title, what, under, pictures, rows, cols = (getattr(v, "value", v) for v in
                                                           (sheet.cells[(row, col + k)] for k in range(7)))
        first, last = (int(x) for x in (pictures.split("–") if "–" in pictures else (pictures, pictures)))
        groups.append(dict(number=number, sheet=title, what=what, under=under, first=first, last=last, rows=rows,
                           cols=cols))
        row += 1
    return sheet, groups


def picture_cells(plan, group: dict, k: int) -> Rect:
    """Where picture k of a group is, found without the Magnifier: the pictures its sheet drew, else
    the kernel areas its defined names give (Weights_i_1, Grad_i_1), else (the Step sheet) its
    blocks of that size in order."""
    source = next(s for s in plan.sheets if s.title == group["sheet"])
    size = (group["rows"], group["cols"])
    candidates = [grids for what, grids, under in source.pictures if (what, under) == (group["what"], group["under"])]
    candidates += [areas for name, areas in source.names.items() if isinstance(areas, tuple)
                   and re.fullmatch(r"(Weights|Grad)_\d+_1", name)]
    candidates.append(tuple(rect for rect, role in source.blocks if role == "weights"))
    for rects in candidates:
        rects = [r for r in rects if (r.rows, r.cols) == size]
        if len(rects) >= group["last"]:
            return rects[k - 1]
    pytest.fail(f"group {group}: no such pictures on sheet {group['sheet']!r}")


def check_every_group(result, seed: int) -> int:
    from excelnet.evaluate import Evaluator

    plan = result.plan
    sheet, groups = the_list(plan)
    grid, here = sheet.names["Magnified"], sheet.title
    group_cell, picture_cell = sheet.names["MagnifyGroup"], sheet.names["MagnifyPicture"]
    what = sheet.names["MagnifiedWhat"]
    book = Evaluator(plan.sheets)
    rng = random.Random(seed)
    for group in groups:
        k = rng.randint(group["first"], group["last"])
        book.run({(here, group_cell.row, group_cell.col): group["number"], (here, picture_cell.row, picture_cell.col): k})
        source = picture_cells(plan, group, k)
        want = np.array([[book.value(source.sheet, source.row + r, source.col + c) for c in range(source.cols)]
                         for r in range(source.rows)], dtype=float)
        got = np.array([[book.value(here, grid.row + r, grid.col + c) for c in range(grid.cols)]
                        for r in range(grid.rows)], dtype=object)
        h, w = want.shape
        assert np.array_equal(got[:h, :w].astype(float), want), f"group {group['number']} picture {k}"
        assert {v for v in got[h:, :].ravel()} | {v for v in got[:, w:].ravel()} <= {""}, "blank around the picture"
        rows = [book.value(here, grid.row + r, grid.col - 1) for r in range(grid.rows)]
        cols = [book.value(here, grid.row - 1, grid.col + c) for c in range(grid.cols)]      # above the grid
        assert rows == list(range(1, h + 1)) + [""] * (grid.rows - h), f"group {group['number']}: row numbers {rows}"
        assert cols == list(range(1, w + 1)) + [""] * (grid.cols - w), f"group {group['number']}: column numbers"
        span = f"{_letters(source.col)}{source.row}:{_letters(source.right)}{source.bottom}"
        assert book.value(here, what.row, what.col) == \
            f"sheet '{group['sheet']}', {group['what']} {k}, {h} × {w} cells at {span}"
    for bad in ({group_cell: 0}, {group_cell: len(groups) + 1}, {picture_cell: groups[0]["last"] + 1}):
        book.run({(here, cell.row, cell.col): value for cell, value in
                  {group_cell: groups[0]["number"], picture_cell: 1, **bad}.items()})
        shown = [book.value(here, grid.row + r, grid.col + c) for r in range(grid.rows) for c in range(grid.cols)]
        assert set(shown) == {""}, f"a pick outside the list {bad} shows nothing"
        assert book.value(here, what.row, what.col).startswith("pick a group from 1 to")
    return len(groups)


def _letters(col: int) -> str:
    from excelnet.layout import column_letter

    return column_letter(col)


def test_every_group_of_the_default_workbook_magnifies_its_picture(default_build):
    sheet, groups = the_list(default_build.plan)
    assert [g["sheet"] for g in groups][:3] == ["Input", "1 conv1", "1 conv1"]
    assert {"channel", "filter", "input picture"} == {g["what"] for g in groups}
    assert check_every_group(default_build, seed=0) == len(groups) >= 6
    assert default_build.plan.sheets[[s.title for s in default_build.plan.sheets].index("Explain") + 1] is sheet


def test_every_group_of_the_learning_workbook_magnifies_its_picture(learn_build):
    sheet, groups = the_list(learn_build.plan)
    sheets = {g["sheet"] for g in groups}
    assert {"Back 1 conv1", "Back 3 conv2", "Step", "After the step"} <= sheets, sheets
    assert {"gradient of filter", "new filter"} <= {g["what"] for g in groups}
    assert check_every_group(learn_build, seed=1) == len(groups)


def test_the_workbook_opens_on_the_first_layers_first_picture(default_build):
    from excelnet.evaluate import Evaluator

    sheet, groups = the_list(default_build.plan)
    first_layer = next(g for g in groups if g["sheet"] == "1 conv1")
    assert sheet.cells[(sheet.names["MagnifyGroup"].row, sheet.names["MagnifyGroup"].col)] == first_layer["number"]
    book = Evaluator(default_build.plan.sheets)
    book.run({})
    what = sheet.names["MagnifiedWhat"]
    assert book.value(sheet.title, what.row, what.col).startswith("sheet '1 conv1', channel 1, 26 × 26 cells at ")


def _picture_sheet(title: str, groups: list[tuple[str, int, int, int]]) -> SheetPlan:
    sheet = SheetPlan(title, "layer")
    row = 1
    for what, count, rows, cols in groups:
        sheet.pictures.append((what, tuple(Rect(title, row, 1 + k * (cols + 1), rows, cols) for k in range(count)),
                               f"heading {row}"))
        row += rows + 2
    return sheet


def test_big_groups_are_cut_and_odd_pictures_left_out():
    many = PER_GROUP * 2 + 3
    sheet = _picture_sheet("1 conv", [("channel", many, 4, 4), ("dot", 5, 1, 1), ("wide", 2, 1, LARGEST + 1),
                                      ("row", 3, 1, 7)])
    groups, left_out = picture_groups([sheet], [])
    assert [(g.what, g.first, g.last) for g in groups] == \
        [("channel", 1, PER_GROUP), ("channel", PER_GROUP + 1, 2 * PER_GROUP), ("channel", 2 * PER_GROUP + 1, many),
         ("row", 1, 3)]
    assert left_out == 0 and groups[0].under == "heading 1" and groups[-1].under != groups[0].under


def test_what_does_not_fit_is_left_out_and_counted_smaller_groups_kept():
    huge = _picture_sheet("2 big", [("channel", PER_GROUP, LARGEST, LARGEST)] * 3 + [("small", 4, 5, 5)])
    groups, left_out = picture_groups([huge], [])      # 3 x 65,536 cells: the third passes 150,000
    assert [g.what for g in groups] == ["channel", "channel", "small"], "a smaller group after the cut stays"
    assert sum(g.cells for g in groups) <= MAX_SOURCE_CELLS and left_out == PER_GROUP
    many = _picture_sheet("3 many", [("channel", 1, 3, 3)] * (MAX_GROUPS + 5))
    groups, left_out = picture_groups([many], [])
    assert len(groups) == MAX_GROUPS and left_out == 5


def test_long_sheet_names_keep_formulas_short(tmp_path):
    """64 filters on a layer with a long name: the blocks behind the big grid cut the group, so
    no formula passes 2,000 characters (Excel takes 8,192)."""
    import keras

    from excelnet.convert import plan_for

    keras.utils.set_random_seed(0)
    name = "a_rather_long_convolution_layer_name_from_a_tutorial"
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(64, 3, activation="relu", name=name),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.save(tmp_path / "long.keras")
    plan, _ = plan_for(tmp_path / "long.keras")
    sheet = next(s for s in plan.sheets if s.title == "Magnifier")
    longest = max(len(v.expression) for v in sheet.cells.values() if hasattr(v, "expression"))
    assert longest < 2000, longest
    _, groups = the_list(plan)
    channels = [g for g in groups if g["what"] == "channel"]
    assert len(channels) > 1 and channels[-1]["last"] == 64, "the 64 channels, cut into several groups"


def test_the_picks_accept_only_whole_numbers_in_range(default_build):
    sheet, groups = the_list(default_build.plan)
    checks = {(rect.row, rect.col): (low, high) for rect, low, high in sheet.validations}
    group, picture = sheet.names["MagnifyGroup"], sheet.names["MagnifyPicture"]
    assert checks[(group.row, group.col)] == (1, len(groups))
    assert checks[(picture.row, picture.col)] == (1, max(g["last"] for g in groups))


def test_two_groups_of_one_kind_on_a_sheet_differ_by_their_heading(tmp_path):
    """sigmoid keeps its sums in cells of their own: two 'channel' groups on the layer's sheet, before
    and after the activation, told apart by the heading above each."""
    import keras

    from excelnet.convert import plan_for

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid"),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    model.save(tmp_path / "tanh.keras")
    plan, _ = plan_for(tmp_path / "tanh.keras")
    _, groups = the_list(plan)
    rows = [(g["sheet"], g["what"], g["under"]) for g in groups]
    assert len(rows) == len(set(rows)), rows
    layer = [g for g in groups if g["sheet"] == plan.sheets[2].title and g["what"] == "channel"]
    assert len(layer) == 2 and layer[0]["under"] != layer[1]["under"]


@pytest.mark.libreoffice
def test_libreoffice_prints_tiny_gradients_with_their_digits(learn_build, tmp_path):
    """What a student sees: the learning workbook printed by LibreOffice with the Magnifier on
    conv2's kernel gradient, whose numbers are all below 0.005 (around 1E-7)."""
    sys.path.insert(0, str(REPO / "tools"))
    import render_workbook

    sheet, groups = the_list(learn_build.plan)
    group = next(g for g in groups if g["sheet"] == "Back 3 conv2" and g["what"] == "gradient of filter")
    grid = sheet.names["Magnified"]
    workbook = render_workbook.with_inputs(learn_build.path, 1, [], [f"MagnifyGroup={group['number']}",
                                                                      "MagnifyPicture=19"])
    area = f"A{grid.row}:{_letters(grid.col + group['cols'] - 1)}{grid.row + group['rows'] - 1}"
    render_workbook.prepare(workbook, [("mag", "Magnifier", area)], tmp_path / "mag.xlsx")
    pdf = render_workbook.to_pdf(tmp_path / "mag.xlsx", tmp_path)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "#" not in text, "a number that does not fit its cell"
    numbers = re.findall(r"-?\d+(?:\.\d+)?(?:E[-+]?\d+)?", text)
    values = [float(n) for n in numbers if "E" in n or "." in n or n == "0"]
    row_numbers = [n for n in numbers if "E" not in n and "." not in n and n != "0"]
    assert row_numbers[:3] == ["1", "2", "3"]
    assert len(values) == group["rows"] * group["cols"], text
    assert sum("E-" in n for n in numbers) > len(values) // 2, "tiny gradients keep their digits"
    from excelnet.evaluate import Evaluator

    book = Evaluator(learn_build.plan.sheets)
    book.run({})
    source = picture_cells(learn_build.plan, group, 19)
    want = [book.value(source.sheet, source.row + r, source.col + c)
            for r in range(source.rows) for c in range(source.cols)]
    assert np.allclose(values, want, rtol=0.06, atol=0), "the printed numbers are the picture's, to 2 digits"
