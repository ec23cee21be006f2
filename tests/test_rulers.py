"""Every picture of a layer (feature maps, gradients) has its row numbers on the left and its
column numbers underneath, so "row 4, column 6" (Explain, One weight) can be read off the sheet."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from excelnet.layout import Planar
from excelnet.ops.cells import new_planar
from excelnet.sheet import SheetPlan


@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 9), (26, 26, 8), (3, 1, 40)])
def test_new_planar_numbers_rows_and_columns(shape):
    sheet = SheetPlan("layer", "layer")
    sheet.next_row = 4
    planar = new_planar(sheet, shape)
    assert isinstance(planar, Planar) and len(planar.grids) == (shape[2] if len(shape) == 3 else 1)
    for grid in planar.grids:
        assert [sheet.cells[(grid.row + r, grid.col - 1)] for r in range(grid.rows)] == list(range(1, grid.rows + 1))
        assert [sheet.cells[(grid.bottom + 1, grid.col + c)] for c in range(grid.cols)] == list(range(1, grid.cols + 1))
    assert sheet.next_row > max(g.bottom for g in planar.grids) + 1     # what follows starts below the rulers


def test_one_by_one_pictures_have_no_rulers():
    sheet = SheetPlan("layer", "layer")
    new_planar(sheet, (1, 1, 4))
    assert not any(isinstance(v, (int, float)) for v in sheet.cells.values())   # only the "channel k" labels
    assert len(sheet.cells) == 4


def test_the_default_workbooks_layer_sheets_have_rulers(default_build):
    book = load_workbook(default_build.path)
    checked = 0
    for index, op in enumerate(default_build.network.ops, start=1):
        if len(op.output_shape) != 3:
            continue
        height, width, channels = op.output_shape
        sheet = book[f"{index} {op.name}"]
        labels = {c.value: c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
        for k in range(1, channels + 1):
            label = labels[f"channel {k}"]          # the ruler column starts under the label
            rows = [sheet.cell(label.row + 1 + r, label.column).value for r in range(height)]
            cols = [sheet.cell(label.row + 1 + height, label.column + 1 + c).value for c in range(width)]
            assert rows == list(range(1, height + 1)), f"{sheet.title} channel {k}: row numbers {rows}"
            assert cols == list(range(1, width + 1)), f"{sheet.title} channel {k}: column numbers {cols}"
            checked += 1
    assert checked == 8 + 8 + 32 + 32
