"""The only module that touches openpyxl: SheetPlans in, an .xlsx file out.

The file is written next to its destination and renamed into place only when
complete, so a failed build never leaves half a file or clobbers an old one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.formatting.rule import ColorScaleRule, DataBarRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from .layout import column_letter
from .sheet import ACTIVATIONS, PICTURE, PROBABILITIES, SWITCH, WEIGHTS, Formula, SheetPlan, Text

TAB_COLOURS = {"guide": "7F7F7F", "input": "2E9E44", "layer": "2F6EBA", "weights": "E08A1E",
               "output": "8E44AD", "data": "BFBFBF"}
GRID_COLUMN_WIDTH = 4.7
GRID_ROW_HEIGHT = 26

FONTS = {
    "title": Font(bold=True, size=14),
    "heading": Font(bold=True, size=10),
    "note": Font(italic=True, size=10, color="595959"),
    "label": Font(size=8, color="7F7F7F"),
    "weight": Font(size=7, color="404040"),
    "class": Font(bold=True, size=12),
    "probability": Font(size=11),
    "prediction": Font(bold=True, size=12, color="8E44AD"),
}
FILLS = {f"tab-{kind}": PatternFill("solid", fgColor=colour)
         for kind, colour in {"input": "2E9E44", "layer": "2F6EBA", "weights": "E08A1E", "output": "8E44AD"}.items()}
FILLS["prediction"] = PatternFill("solid", fgColor="F3E5F5")
VALUE_FONT = Font(size=7, color="595959")
CANVAS_FILL = PatternFill("solid", fgColor="FFF7CC")
CENTER = Alignment(horizontal="center", vertical="center")
NUMBER_FORMAT = "0.00"


def write_workbook(sheets: list[SheetPlan], path: str | Path) -> Path:
    """Write all sheets to `path` atomically."""
    path = Path(path)
    workbook = Workbook()
    workbook.remove(workbook.active)
    for plan in sheets:
        _write_sheet(workbook, plan)
    directory = path.resolve().parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the folder {directory} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        workbook.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _write_sheet(workbook: Workbook, plan: SheetPlan) -> None:
    ws = workbook.create_sheet(plan.title)
    ws.sheet_properties.tabColor = TAB_COLOURS.get(plan.kind)
    grid_cells = _grid_cells(plan)
    for (row, col), value in plan.cells.items():
        cell = ws.cell(row=row, column=col)
        if isinstance(value, Formula):
            cell.value = "=" + value.expression
        elif isinstance(value, Text):
            cell.value = value.value
            cell.data_type = "s"          # never a formula, even if it starts with '='
        else:
            cell.value = value
        style = plan.styles.get((row, col))
        if style in FONTS:
            cell.font = FONTS[style]
        elif (row, col) in grid_cells:
            cell.font = VALUE_FONT
        if style in FILLS:
            cell.fill = FILLS[style]
        if (row, col) in grid_cells:
            cell.number_format = NUMBER_FORMAT
            cell.alignment = CENTER
    _format_blocks(ws, plan)
    _set_dimensions(ws, plan)
    for name, rect in plan.names.items():
        target = f"{_quote(plan.title)}!${column_letter(rect.col)}${rect.row}"
        if rect.rows > 1 or rect.cols > 1:
            target += f":${column_letter(rect.right)}${rect.bottom}"
        workbook.defined_names[name] = DefinedName(name, attr_text=target)
    for rect, low, high in plan.validations:
        rule = DataValidation(type="whole", operator="between", formula1=str(low), formula2=str(high),
                              showErrorMessage=True, errorTitle="Sample",
                              error=f"Type a whole number from {low} to {high}.")
        rule.add(_span(rect))
        ws.add_data_validation(rule)


def _grid_cells(plan: SheetPlan) -> set[tuple[int, int]]:
    cells = set()
    for rect, role in plan.blocks:
        if role in (ACTIVATIONS, WEIGHTS, PICTURE, "canvas", SWITCH, PROBABILITIES):
            cells.update((r, c) for r in range(rect.row, rect.bottom + 1) for c in range(rect.col, rect.right + 1))
    return cells


def _format_blocks(ws, plan: SheetPlan) -> None:
    for rect, role in plan.blocks:
        span = _span(rect)
        if role == ACTIVATIONS:
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="min", start_color="FFFFFF", end_type="max", end_color="2F6EBA"))
        elif role == WEIGHTS and rect.rows * rect.cols > 1:
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="min", start_color="D7301F", mid_type="num", mid_value=0,
                mid_color="FFFFFF", end_type="max", end_color="2166AC"))
        elif role == PICTURE:
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="num", start_value=0, start_color="000000",
                end_type="max", end_color="FFFFFF"))
        elif role == PROBABILITIES:
            ws.conditional_formatting.add(span, DataBarRule(
                start_type="num", start_value=0, end_type="num", end_value=1, color="8E44AD"))
        elif role == "canvas":
            for row in ws.iter_rows(min_row=rect.row, max_row=rect.bottom, min_col=rect.col, max_col=rect.right):
                for cell in row:
                    cell.fill = CANVAS_FILL
        elif role == "control":
            ws.cell(rect.row, rect.col).fill = CANVAS_FILL
            ws.cell(rect.row, rect.col).font = FONTS["class"]


def _set_dimensions(ws, plan: SheetPlan) -> None:
    if plan.kind in ("input", "layer", "weights"):
        last = max((c for _, c in plan.cells), default=1)
        for col in range(1, last + 1):
            ws.column_dimensions[column_letter(col)].width = GRID_COLUMN_WIDTH
        ws.sheet_format.defaultRowHeight = GRID_ROW_HEIGHT
        ws.sheet_format.customHeight = True
    for col, width in plan.wide_columns.items():
        ws.column_dimensions[column_letter(col)].width = width
    ws.sheet_view.zoomScale = plan.zoom
    if plan.freeze:
        ws.freeze_panes = ws.cell(*plan.freeze)
    if plan.hidden:
        ws.sheet_state = "hidden"


def _span(rect) -> str:
    return f"{column_letter(rect.col)}{rect.row}:{column_letter(rect.right)}{rect.bottom}"


def _quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"
