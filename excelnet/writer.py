"""The only module that touches openpyxl: SheetPlans in, an .xlsx file out.

The file is written next to its destination and renamed into place only when
complete, so a failed build never leaves half a file or clobbers an old one.

Speed: tens of thousands of cells share a handful of looks, so each look is
registered with the workbook once and its style record copied onto each cell
(setting font, fill, ... per cell would hash every style object again)."""

from __future__ import annotations

import math
import os
import tempfile
from copy import copy
from pathlib import Path
from typing import Callable

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.formatting.rule import ColorScaleRule, DataBarRule, Rule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.hyperlink import Hyperlink

from .bulk_cells import BulkCells, patch_workbook
from .layout import column_letter, quote_sheet
from .sheet import (ACTIVATIONS, BARS, CANVAS, CONTROL, GRADIENTS, PICTURE, PROBABILITIES, RAW_BARS, SWITCH,
                    WEIGHTS,
                    Formula, SheetPlan, Text)

FONT = "Calibri"
INK = "1F3864"            # headings
TAB_COLOURS = {"guide": "7F7F7F", "input": "2E9E44", "layer": "2F6EBA", "weights": "E08A1E",
               "output": "8E44AD", "data": "BFBFBF", "backward": "C0392B", "step": "16A085"}
GRID_KINDS = ("input", "layer", "weights", "backward", "step")
GRID_COLUMN_WIDTH = 2.86  # 20 px in Excel (width x 7 px per character of Calibri 11) ...
GRID_ROW_HEIGHT = 15      # ... and 15 pt = 20 px: square cells
SCREEN_PX = 1500          # a sheet's grids are zoomed to fit about this many pixels across
VALUE_FORMAT = "0.00;-0.00;0"  # quiet: two decimals, a plain 0 for exact zeros
YELLOW = "FFF2B3"
HIGH = "08519C"           # the strongest value of a feature map
QUIET = "A6A6A6"          # the numbers in grids: readable, but the colours speak first
THIN = Side(style="thin", color="BFBFBF")


def _font(size: float = 11, bold: bool = False, italic: bool = False, color: str = "000000", **more) -> Font:
    return Font(name=FONT, size=size, bold=bold, italic=italic, color=color, **more)


def _fill(colour: str) -> PatternFill:
    return PatternFill("solid", fgColor=colour)


CENTER = Alignment(horizontal="center", vertical="center")
GRID_ALIGNMENT = Alignment(horizontal="center", vertical="center", shrink_to_fit=True)

# The looks a plan's styles name, and the looks of grid cells by what their block holds.
LOOKS = {
    "title": dict(font=_font(16, bold=True, color=INK)),
    "heading": dict(font=_font(11, bold=True, color=INK), alignment=Alignment(vertical="center")),
    "note": dict(font=_font(10, italic=True, color="595959")),
    "text": dict(font=_font(10)),
    "label": dict(font=_font(8, color="7F7F7F")),
    "weight": dict(font=_font(8, color="404040"), number_format="0.00##"),
    "class": dict(font=_font(14, bold=True), alignment=CENTER),
    "probability": dict(font=_font(11), number_format="0.00%"),
    "score": dict(font=_font(11), number_format="0.0000"),
    "prediction": dict(font=_font(14, bold=True, color="8E44AD"), alignment=CENTER),
    "big": dict(font=_font(28, bold=True, color="8E44AD"), fill=_fill("F3E5F5"), alignment=CENTER),
    "answer": dict(font=_font(14, bold=True), alignment=CENTER),
    "loss": dict(font=_font(12), number_format="0.0000", alignment=CENTER),
    "marker": dict(font=_font(10, italic=True, color="8E44AD")),
    "table-header": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(INK)),
    "table": dict(font=_font(10), border=Border(bottom=THIN)),
    "table-total": dict(font=_font(10, bold=True), border=Border(top=Side(style="thin", color=INK))),
    "link": dict(font=_font(10, color="0563C1", underline="single"), border=Border(bottom=THIN)),
    "tab-guide": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["guide"])),
    "tab-input": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["input"])),
    "tab-layer": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["layer"])),
    "tab-weights": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["weights"])),
    "tab-output": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["output"])),
    # grid cells: the colour comes from conditional formatting, the number stays small and grey
    "value": dict(font=_font(8, color="404040"), number_format=VALUE_FORMAT, alignment=GRID_ALIGNMENT),
    "grid": dict(font=_font(6, color=QUIET), number_format=VALUE_FORMAT, alignment=GRID_ALIGNMENT),
    CANVAS: dict(font=_font(6, color=QUIET), number_format=VALUE_FORMAT, alignment=GRID_ALIGNMENT,
                 fill=_fill(YELLOW)),
    SWITCH: dict(font=_font(9, bold=True), alignment=CENTER, fill=_fill(YELLOW),
                 border=Border(left=THIN, right=THIN, top=THIN, bottom=THIN)),
    CONTROL: dict(font=_font(14, bold=True), alignment=CENTER, fill=_fill(YELLOW),
                  border=Border(left=THIN, right=THIN, top=THIN, bottom=THIN)),
    BARS: dict(font=_font(8, color="FFFFFF")),
}
GRID_ROLES = {ACTIVATIONS: "grid", WEIGHTS: "grid", GRADIENTS: "grid", PICTURE: "grid", CANVAS: CANVAS, SWITCH: SWITCH,
              CONTROL: CONTROL, BARS: BARS, RAW_BARS: BARS}

# Conditional looks that plans name in their rules.
RULE_LOOKS = {
    "highlight": DifferentialStyle(font=Font(bold=True, color="8E44AD"), fill=_fill("F3E5F5")),
    "good": DifferentialStyle(font=Font(bold=True, color="1E7B34"), fill=_fill("DFF0D8")),
    "bad": DifferentialStyle(font=Font(bold=True, color="B02418"), fill=_fill("F8D7DA")),
    "off": DifferentialStyle(font=Font(bold=True, color="FFFFFF"), fill=_fill("B02418")),
}
ROW_HEIGHTS = {"title": 24, "big": 40, "heading": 17}   # points, for rows that hold a larger font


def write_workbook(sheets: list[SheetPlan], path: str | Path,
                   progress: Callable[[int, int], None] | None = None, values=None) -> Path:
    """Write all sheets to `path` atomically; `progress(cells done, cells in all)` after each sheet.

    `values`: an evaluate.Evaluator that has run: each formula cell is written with its value,
    so viewers that do not calculate (previews, pandas, protected view) show the numbers."""
    path = Path(path)
    workbook = Workbook()
    workbook.remove(workbook.active)
    looks = _Looks(workbook)
    bulk, total, done = [], sum(len(plan.cells) for plan in sheets), 0
    for plan in sheets:
        ws, cells = _write_sheet(workbook, plan, looks, values.sheet_values(plan.title) if values else None)
        bulk.append((ws, cells, _dimension(plan)))
        done += len(plan.cells)
        if progress is not None:
            progress(done, total)
    first = next((k for k, plan in enumerate(sheets) if not plan.hidden), 0)
    workbook.active = first
    directory = path.resolve().parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the folder {directory} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        workbook.save(temporary)
        # Each sheet's part name is only known once openpyxl has saved it.
        patch_workbook(temporary, {ws.path.lstrip("/"): (cells, dimension) for ws, cells, dimension in bulk if len(cells)})
        os.chmod(temporary, 0o666 & ~_umask())   # mkstemp makes it private; a workbook is a normal file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Looks:
    """Each named look registered once; cells get a copy of its style record."""

    def __init__(self, workbook: Workbook):
        self.workbook = workbook
        self.records = {}
        self.ids = {}

    def apply(self, cell, name: str) -> None:
        record = self.records.get(name)
        if record is None:
            prototype = Cell(self.workbook.worksheets[0])
            for attribute, value in LOOKS[name].items():
                setattr(prototype, attribute, value)
            record = self.records[name] = prototype._style
        cell._style = copy(record)

    def style_id(self, name: str | None) -> int:
        """The workbook's index of a look, for cells written as XML by bulk_cells."""
        if name not in LOOKS:
            return 0
        if name not in self.ids:
            self.apply(Cell(self.workbook.worksheets[0]), name)
            self.ids[name] = self.workbook._cell_styles.add(self.records[name])
        return self.ids[name]


def _write_sheet(workbook: Workbook, plan: SheetPlan, looks: _Looks, cached=None) -> tuple:
    """Create the sheet; returns it and its bulk cells (plain numbers and formulas), which
    bulk_cells writes as XML after openpyxl has saved everything else."""
    ws = workbook.create_sheet(plan.title)
    bulk = BulkCells()
    ws.sheet_properties.tabColor = TAB_COLOURS.get(plan.kind)
    grid_looks = _grid_looks(plan)
    styles, cell = plan.styles, ws.cell
    plain = "value" if plan.kind in GRID_KINDS else None    # a lone number among the grids: small, like them
    for (row, col), value in plan.cells.items():
        look = grid_looks.get((row, col)) or styles.get((row, col))
        if look is None and not isinstance(value, Text):
            look = plain
        if (row, col) not in plan.links:
            if isinstance(value, Formula):
                bulk.formula(row, col, value.expression, looks.style_id(look),
                             cached(row, col) if cached else None)
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                bulk.number(row, col, float(value) if isinstance(value, float) else int(value),
                            looks.style_id(look))
                continue
        target = cell(row=row, column=col)
        if isinstance(value, Formula):
            target.value = "=" + value.expression
        elif isinstance(value, Text):
            target.value = value.value
            target.data_type = "s"          # never a formula, even if it starts with '='
        else:
            target.value = value
        if look in LOOKS:
            looks.apply(target, look)
    for (row, col), look in grid_looks.items():   # empty cells of a grid (the canvas) get its look too
        if (row, col) not in plan.cells:
            looks.apply(cell(row=row, column=col), look)
    for rect in plan.merges:
        ws.merge_cells(_span(rect))
    for (row, col), title in plan.links.items():
        target = cell(row=row, column=col)
        target.hyperlink = Hyperlink(ref=target.coordinate, location=f"{quote_sheet(title)}!A1")
    _format_blocks(ws, plan)
    _set_dimensions(ws, plan)
    for name, areas in plan.names.items():
        areas = areas if isinstance(areas, tuple) else (areas,)
        target = ",".join(rect.ref("", absolute=True) for rect in areas)
        workbook.defined_names[name] = DefinedName(name, attr_text=target)
    for rect, low, high in plan.validations:
        rule = DataValidation(type="whole", operator="between", formula1=str(low), formula2=str(high),
                              showErrorMessage=True, showInputMessage=True, errorTitle="Sample",
                              error=f"Type a whole number from {low} to {high}.", promptTitle="Sample",
                              prompt=f"A number from {low} to {high} (0 = blank)")
        rule.add(_span(rect))
        ws.add_data_validation(rule)
    return ws, bulk


def _dimension(plan: SheetPlan) -> str:
    rows = [r for r, _ in plan.cells] or [1]
    cols = [c for _, c in plan.cells] or [1]
    return f"{column_letter(min(cols))}{min(rows)}:{column_letter(max(cols))}{max(rows)}"


def _grid_looks(plan: SheetPlan) -> dict[tuple[int, int], str]:
    """The look of every cell in a block, by what the block holds."""
    cells = {}
    for rect, role in plan.blocks:
        look = GRID_ROLES.get(role)
        if look is None:
            continue
        for r in range(rect.row, rect.bottom + 1):
            for c in range(rect.col, rect.right + 1):
                cells[(r, c)] = look
    return cells


def _format_blocks(ws, plan: SheetPlan) -> None:
    low, high = plan.picture_range
    for rect, role in plan.blocks:
        span = _span(rect)
        if role == ACTIVATIONS and rect.rows * rect.cols > 1:
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="min", start_color="FFFFFF", end_type="max", end_color=HIGH))
        elif role in (WEIGHTS, GRADIENTS) and rect.rows * rect.cols > 1:
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="min", start_color="D7301F", mid_type="num", mid_value=0,
                mid_color="FFFFFF", end_type="max", end_color="2166AC"))
        elif role in (PICTURE, CANVAS):      # ink on paper: 0 white, the brightest pixel black
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="num", start_value=low, start_color="FFFFFF",
                end_type="num", end_value=high, end_color="000000"))
        elif role in (PROBABILITIES, BARS):
            ws.conditional_formatting.add(span, DataBarRule(
                start_type="num", start_value=0, end_type="num", end_value=1, color="8E44AD",
                showValue=role == PROBABILITIES, minLength=0, maxLength=100))
        elif role == RAW_BARS:
            ws.conditional_formatting.add(span, DataBarRule(
                start_type="min", end_type="max", color="8E44AD", showValue=False, minLength=0, maxLength=100))
        elif role == SWITCH:
            ws.conditional_formatting.add(span, Rule(type="cellIs", operator="equal", formula=["0"],
                                                     dxf=RULE_LOOKS["off"]))
    for rect, formula, look in plan.rules:
        ws.conditional_formatting.add(_span(rect), Rule(type="expression", formula=[formula],
                                                        dxf=RULE_LOOKS[look]))


def _set_dimensions(ws, plan: SheetPlan) -> None:
    if plan.kind in GRID_KINDS:
        last = max((c for _, c in plan.cells), default=1)
        for col in range(1, last + 1):
            ws.column_dimensions[column_letter(col)].width = GRID_COLUMN_WIDTH
        ws.sheet_format.defaultRowHeight = GRID_ROW_HEIGHT
        ws.sheet_format.customHeight = True
        if not any(rect.col == 1 for rect, _ in plan.blocks):   # column A holds captions, not pixels
            ws.column_dimensions["A"].width = _caption_width(plan)
    for col, width in plan.wide_columns.items():
        ws.column_dimensions[column_letter(col)].width = width
    heights = {}
    for (row, _), look in plan.styles.items():
        if look in ROW_HEIGHTS:
            heights[row] = max(heights.get(row, 0), ROW_HEIGHTS[look])
    heights.update(plan.row_heights)
    for row, height in heights.items():
        ws.row_dimensions[row].height = height
    ws.sheet_view.zoomScale = plan.zoom or _zoom(plan)
    ws.sheet_view.showGridLines = plan.gridlines
    if plan.freeze:
        ws.freeze_panes = ws.cell(*plan.freeze)
    if plan.hidden:
        ws.sheet_state = "hidden"


def _caption_width(plan: SheetPlan) -> float:
    """Wide enough for the small captions in column A (8 pt: about 5 px a character)."""
    captions = [len(v.value) for (r, c), v in plan.cells.items()
                if c == 1 and isinstance(v, Text) and plan.styles.get((r, c)) == "label"]
    return max(GRID_COLUMN_WIDTH, min(30.0, max(captions, default=0) * 5 / 7 + 1.5))


def _zoom(plan: SheetPlan) -> int:
    """Zoom out a sheet whose grids are wider than a screen, so a picture reads as a whole."""
    if plan.kind not in GRID_KINDS or not plan.blocks:
        return 100
    right = max(rect.right for rect, _ in plan.blocks)
    pixels = sum(plan.wide_columns.get(col, GRID_COLUMN_WIDTH) * 7 for col in range(1, right + 1))
    return max(50, min(100, int(SCREEN_PX / pixels * 100) // 5 * 5))


def _span(rect) -> str:
    return f"{column_letter(rect.col)}{rect.row}:{column_letter(rect.right)}{rect.bottom}"
