"""The only module that touches openpyxl: SheetPlans in, an .xlsx file out.

The file is written next to its destination and renamed into place only when
complete, so a failed build never leaves half a file or clobbers an old one.

Speed: tens of thousands of cells share a handful of looks, so each look is
registered with the workbook once and its style record copied onto each cell
(setting font, fill, ... per cell would hash every style object again)."""

from __future__ import annotations

import datetime
import io
import math
import os
import zipfile
from itertools import compress
import tempfile
from copy import copy
from pathlib import Path
from typing import Callable

import numpy as np
from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.formatting.rule import ColorScaleRule, DataBarRule, Rule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.styles.numbers import NumberFormat
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.writer.excel import ExcelWriter

from .bulk_cells import BulkCells, patch_workbook
from .layout import column_letter, quote_sheet
from .sheet import (ACTIVATIONS, BARS, CANVAS, CONTROL, COUNTS, ENTRY, GRADIENTS, PICTURE, PROBABILITIES, RAW_BARS,
                    SWITCH, WEIGHTS, CellKinds, Formula, SheetPlan, Text)

FONT = "Calibri"
INK = "1F3864"            # headings
# One meaning per colour: orange = negative, white = zero, blue = positive, on one scale symmetric
# about 0 in every picture (layers, weights, gradients); yellow = type here, grey/black = ink,
# purple = the answer; red and green only for wrong and right. Tabs follow the same code.
TAB_COLOURS = {"guide": "7F7F7F", "input": "2E9E44", "layer": "2F6EBA", "weights": "A6611A",
               "output": "8E44AD", "explain": "BF9000", "magnifier": "BF9000", "data": "BFBFBF", "backward": "C0392B", "step": "16A085"}
# The strongest colours stay light enough for dark numbers on a projector (a font rule that turned
# them white on dark cells cost about 10 ms of every full recalculation: benchmarks/helper_blocks.py).
NEGATIVE = "E08214"         # orange: below zero
POSITIVE = "4A8CCB"         # blue: above zero (the strongest value of a feature map is its bluest)
GRID_KINDS = ("input", "layer", "weights", "backward", "step")
GRID_COLUMN_WIDTH = 2.86  # 20 px in Excel (width x 7 px per character of Calibri 11) ...
GRID_ROW_HEIGHT = 15      # ... and 15 pt = 20 px: square cells
SCREEN_PX = 1500          # a sheet's grids are zoomed to fit about this many pixels across
VALUE_FORMAT = "[>=0.005]0.00;[<=-0.005]-0.00;"  # two decimals; nothing (never "-0.00") for what rounds to 0
# A number that keeps its significant digits: 6 decimals, and a tiny one (a gradient of 1e-6) in
# General (3.38492E-06), never "0.000000"; 0 reads 0.
PRECISE_FORMAT = "[>=0.001]0.000000;[<=-0.001]-0.000000;General"


def no_minus_zero(decimals: int) -> str:
    """d decimals, and 0 (never "-0.000") for what rounds to zero."""
    digits = "0." + "0" * decimals if decimals else "0"
    half = f"{0.5 * 10 ** -decimals:.{decimals + 1}f}"
    return f"[>={half}]{digits};[<=-{half}]-{digits};0"
YELLOW = "FFF2B3"
QUIET = "262626"          # the numbers in grids: dark enough for a projector
THIN = Side(style="thin", color="BFBFBF")
CANVAS_LINE = Side(style="hair", color="C9B458")   # the Canvas shows its grid: one square per pixel


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
    "ruler": dict(font=_font(7, color="8C8C8C"), alignment=CENTER),     # a picture's row and column numbers
    "ruler-big": dict(font=_font(11, color="7F7F7F"), alignment=CENTER),  # the Magnifier's
    # the Magnifier: 12-point numbers, two decimals, and a tiny one in General (3.4E-06), never 0.00
    "magnified": dict(font=_font(12, color="000000"), number_format="[>=0.005]0.00;[<=-0.005]-0.00;General",
                      alignment=CENTER),
    "weight": dict(font=_font(8, color="404040"), number_format=no_minus_zero(4)),
    "class": dict(font=_font(14, bold=True), alignment=CENTER),
    "probability": dict(font=_font(11), number_format="0.00%"),
    "score": dict(font=_font(11), number_format=no_minus_zero(4)),
    "prediction": dict(font=_font(14, bold=True, color="8E44AD"), alignment=CENTER),
    "big": dict(font=_font(28, bold=True, color="8E44AD"), fill=_fill("F3E5F5"), alignment=CENTER),
    "answer": dict(font=_font(14, bold=True), alignment=CENTER),
    "loss": dict(font=_font(12), number_format="[>=0.0001]0.0000;[=0]0;0.00E+00", alignment=CENTER),  # 7.16E-07 fits
    "precise": dict(font=_font(12), number_format=PRECISE_FORMAT, alignment=CENTER),
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
    "value": dict(font=_font(8, color="404040"), number_format=VALUE_FORMAT + "0", alignment=GRID_ALIGNMENT),
    "grid": dict(font=_font(7, color=QUIET), number_format=VALUE_FORMAT, alignment=GRID_ALIGNMENT),
    "grid-whole": dict(font=_font(7, color=QUIET), number_format="0", alignment=GRID_ALIGNMENT),
    CANVAS: dict(font=_font(7, color=QUIET), number_format=VALUE_FORMAT, alignment=GRID_ALIGNMENT,
                 fill=_fill(YELLOW), border=Border(left=CANVAS_LINE, right=CANVAS_LINE, top=CANVAS_LINE,
                                                   bottom=CANVAS_LINE)),
    SWITCH: dict(font=_font(9, bold=True), alignment=CENTER, fill=_fill(YELLOW),
                 border=Border(left=THIN, right=THIN, top=THIN, bottom=THIN)),
    ENTRY: dict(font=_font(9, bold=True), alignment=CENTER, fill=_fill(YELLOW), number_format="0",
                border=Border(left=THIN, right=THIN, top=THIN, bottom=THIN)),
    CONTROL: dict(font=_font(14, bold=True), alignment=CENTER, fill=_fill(YELLOW),
                  border=Border(left=THIN, right=THIN, top=THIN, bottom=THIN)),
    BARS: dict(font=_font(8, color="FFFFFF")),
    # the Explain sheet: numbers big enough to read on a projector
    "explain": dict(font=_font(9, color="000000"), number_format=no_minus_zero(3), alignment=GRID_ALIGNMENT),
    "explain-big": dict(font=_font(14, bold=True), number_format=PRECISE_FORMAT, alignment=CENTER),
    "explain-result": dict(font=_font(11, bold=True), number_format=PRECISE_FORMAT),
    "tab-explain": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["explain"])),
    "tab-backward": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["backward"])),
    "tab-step": dict(font=_font(10, bold=True, color="FFFFFF"), fill=_fill(TAB_COLOURS["step"])),
    "tab-data": dict(font=_font(10, bold=True, color="000000"), fill=_fill(TAB_COLOURS["data"])),
}
GRID_ROLES = {ACTIVATIONS: "grid", WEIGHTS: "grid", GRADIENTS: "grid", COUNTS: "grid-whole", PICTURE: "grid", CANVAS: CANVAS, SWITCH: SWITCH,
              CONTROL: CONTROL, ENTRY: ENTRY, BARS: BARS, RAW_BARS: BARS}

# Conditional looks that plans name in their rules.
RULE_LOOKS = {
    "highlight": DifferentialStyle(font=Font(bold=True, color="8E44AD"), fill=_fill("F3E5F5")),
    "good": DifferentialStyle(font=Font(bold=True, color="1E7B34"), fill=_fill("DFF0D8")),
    "bad": DifferentialStyle(font=Font(bold=True, color="B02418"), fill=_fill("F8D7DA")),
    "off": DifferentialStyle(font=Font(bold=True, color="FFFFFF"), fill=_fill("595959")),   # grey: red means wrong
    "on-dark": DifferentialStyle(font=Font(color="FFFFFF")),    # numbers stay readable on dark cells
    # a tiny number in a Magnifier cell: 3.4E-6, where General would not fit and show ###
    "tiny": DifferentialStyle(numFmt=NumberFormat(numFmtId=300, formatCode="0.0E+0")),
}
ROW_HEIGHTS = {"title": 24, "big": 40, "heading": 17}   # points, for rows that hold a larger font


def write_workbook(sheets: list[SheetPlan], path: str | Path,
                   progress: Callable[[int, int], None] | None = None,
                   values: Callable[[], dict[str, list]] | None = None,
                   decorate: Callable[[Workbook], None] | None = None) -> Path:
    """Write all sheets to `path` atomically; `progress(cells done, cells in all)` after each sheet.

    `values()`: per sheet, the value of each formula cell in the order of the sheet's cells
    (convert.cached_values), so viewers that do not calculate (previews, pandas, protected view)
    show the numbers. Asked for only once openpyxl has saved the rest, so it can be worked out
    meanwhile (background.py). `decorate(workbook)`: adds what plans do not hold (a chart) before saving."""
    path = Path(path)
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.security = None     # no empty <workbookProtection/>: Gnumeric complains of it
    looks = _Looks(workbook)
    bulk, total, done = [], sum(len(plan.cells) for plan in sheets), 0
    for plan in sheets:
        bulk.append(_write_sheet(workbook, plan, looks))
        done += len(plan.cells)
        if progress is not None:
            progress(done, total)
    for ws, cells, texts, _, _ in bulk:     # in sheet order, as openpyxl numbers its cells' styles
        _add_texts(workbook, ws, cells, texts)
    first = next((k for k, plan in enumerate(sheets) if not plan.hidden), 0)
    workbook.active = first
    if decorate is not None:
        decorate(workbook)
    directory = path.resolve().parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the folder {directory} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        saved = _save_uncompressed(workbook)

        def merged() -> dict:     # a sheet's part name is only known once openpyxl has saved it
            return {ws.path.lstrip("/"): (cells, dimension) for ws, cells, _, dimension, _ in bulk
                    if len(cells) or cells.widths}

        def add_formulas() -> dict:
            cached = values() if values is not None else {}
            for plan, (_, cells, _, _, formulas) in zip(sheets, bulk):
                if formulas is not None:
                    cells.add_formulas(formulas, _values_of(formulas, cached.get(plan.title)))
            return merged()

        # The sheets without formulas are compressed while the values are still being worked out.
        waiting = {ws.path.lstrip("/") for ws, _, _, _, formulas in bulk if formulas is not None}
        patch_workbook(saved, temporary, merged(), waiting, add_formulas)
        os.chmod(temporary, 0o666 & ~_umask())   # mkstemp makes it private; a workbook is a normal file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _values_of(formulas: tuple, cached: tuple[list, list, list] | None) -> list | None:
    """The cached value of each of a sheet's formulas, in the writer's order (the same as the
    evaluator's, unless a link cell that openpyxl writes itself holds a formula)."""
    if cached is None:
        return None
    rows, cols, values = cached
    if rows == formulas[0] and cols == formulas[1]:
        return values
    found = dict(zip(zip(rows, cols), values))
    return [found.get(cell) for cell in zip(formulas[0], formulas[1])]


def _save_uncompressed(workbook: Workbook) -> io.BytesIO:
    """What workbook.save() writes, into memory and not compressed: patch_workbook compresses
    each part once, as it writes the file."""
    saved = io.BytesIO()
    workbook.properties.modified = datetime.datetime.now(tz=datetime.timezone.utc).replace(tzinfo=None)
    with zipfile.ZipFile(saved, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()
    return saved


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

    def record(self, name: str):
        """The style record of a look (registering its font, fill, ... with the workbook once)."""
        record = self.records.get(name)
        if record is None:
            prototype = Cell(self.workbook.worksheets[0])
            for attribute, value in LOOKS[name].items():
                setattr(prototype, attribute, value)
            record = self.records[name] = prototype._style
        return record

    def apply(self, cell, name: str) -> None:
        cell._style = copy(self.record(name))

    def style_id(self, name: str | None) -> int:
        """The workbook's index of a look, for cells written as XML by bulk_cells."""
        if name not in LOOKS:
            return 0
        if name not in self.ids:
            self.ids[name] = self.workbook._cell_styles.add(self.record(name))
        return self.ids[name]


def _write_sheet(workbook: Workbook, plan: SheetPlan, looks: _Looks) -> tuple:
    """Create the sheet; returns it, its bulk cells (plain numbers), which bulk_cells writes as
    XML after openpyxl has saved everything else, its plain text cells (row, col, text, style
    record or None), which join the bulk cells once style ids are known (_add_texts), its
    dimension, and its formulas (BulkCells.prepare_formulas; None without any), which join the
    bulk cells with their values once those are known."""
    ws = workbook.create_sheet(plan.title)
    ws.sheet_properties.tabColor = TAB_COLOURS.get(plan.kind)
    cells = _SheetCells(plan)
    formula_styles, number_styles, other_looks = _register_looks(plan, looks, cells)
    bulk = BulkCells()
    if cells.number_rows:
        bulk.numbers(cells.number_rows, cells.number_cols, cells.numbers, number_styles)
    for block in plan.values:
        look = cells.look(block.row, block.col) or block.style
        looks.record(look)
        bulk.value_block(block.row, block.col, block.numbers, looks.style_id(look))
    formulas = bulk.prepare_formulas(cells.formula_rows, cells.formula_cols, cells.expressions, formula_styles) \
        if cells.formula_rows else None
    cell = ws.cell
    texts, by_openpyxl = [], _openpyxl_only(plan)
    for (row, col, value), look in zip(cells.others, other_looks):
        if type(value) is Text and (row, col) not in by_openpyxl and BulkCells.plain_text(value.value):
            texts.append((row, col, value.value, looks.record(look) if look in LOOKS else None))
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
    for row, col in cells.empty_grid_cells():   # empty cells of a grid (the canvas) get its look too
        looks.apply(cell(row=row, column=col), cells.look(row, col))
    for rect in plan.merges:
        ws.merge_cells(_span(rect))
    for (row, col), title in plan.links.items():      # a sheet's title, or (title, "A62"): a cell of it
        target = cell(row=row, column=col)
        title, at = (title, "A1") if isinstance(title, str) else title
        target.hyperlink = Hyperlink(ref=target.coordinate, location=f"{quote_sheet(title)}!{at}")
    _format_blocks(ws, plan)
    bulk.widths = _column_widths(plan, cells.extent[3])
    _set_dimensions(ws, plan)
    for name, rect in _one_area_names(plan.names):
        workbook.defined_names[name] = DefinedName(name, attr_text=rect.ref("", absolute=True))
    for rect, low, high in plan.validations:
        rule = DataValidation(type="whole", operator="between", formula1=str(low), formula2=str(high),
                              showErrorMessage=True, showInputMessage=True, errorTitle="A whole number",
                              error=f"Type a whole number from {low} to {high}.", promptTitle="Type a number",
                              prompt=f"A number from {low} to {high}" + (" (0 = blank)" if low == 0 else ""))
        rule.add(_span(rect))
        ws.add_data_validation(rule)
    for rect, options in plan.choices:
        rule = DataValidation(type="list", formula1='"' + ",".join(options) + '"', showDropDown=False,
                              showErrorMessage=True, errorTitle="Choose from the list",
                              error="Pick one of: " + ", ".join(options))
        rule.add(_span(rect))
        ws.add_data_validation(rule)
    return ws, bulk, texts, _dimension(cells.extent), formulas


def _one_area_names(names: dict) -> list[tuple[str, object]]:
    """(name, area) to define: a name of several areas (Weights_<i>_<k> of a layer whose weights
    are one block per filter or unit) becomes <name>_1 ... <name>_n, one per area in order.
    Gnumeric cannot read a multi-area defined name, and the formulas library cannot represent one;
    engines.names.read_named_areas puts the parts together again."""
    defined = []
    for name, areas in names.items():
        areas = areas if isinstance(areas, tuple) else (areas,)
        if len(areas) == 1:
            defined.append((name, areas[0]))
        else:
            defined += [(f"{name}_{n}", rect) for n, rect in enumerate(areas, start=1)]
    return defined


def _openpyxl_only(plan: SheetPlan) -> set[tuple[int, int]]:
    """Cells openpyxl must write itself: links (it records the hyperlink as it writes the cell) and
    cells of merged areas (merging creates or replaces their cells)."""
    cells = set(plan.links)
    for rect in plan.merges:
        cells.update((row, col) for row in range(rect.row, rect.bottom + 1) for col in range(rect.col, rect.right + 1))
    return cells


def _add_texts(workbook: Workbook, ws, bulk: BulkCells, texts: list[tuple]) -> None:
    """Add a sheet's plain text cells to its bulk cells as inline strings: an openpyxl cell costs
    about 20 µs to make and write, and the Samples sheet alone holds thousands of texts.

    openpyxl numbers a cell's style as it saves the cell: sheet by sheet, row by row. Here style
    ids are taken in that order, the texts among the cells openpyxl still writes, so the styles
    part and every cell's style id stay what they were when openpyxl wrote the texts. Called for
    every sheet in order before saving (a sheet without texts takes its ids here too)."""
    styles = workbook._cell_styles
    styled = [(row, col, record) for row, col, _, record in texts if record is not None and any(record)]
    styled += [(row, col, target._style) for (row, col), target in ws._cells.items() if target.has_style]
    for _, _, record in sorted(styled, key=lambda cell: cell[:2]):
        styles.add(record)
    if texts:
        rows, cols, strings, records = (list(part) for part in zip(*texts))
        bulk.texts(rows, cols, strings, [styles.add(r) if r is not None and any(r) else None for r in records])


GRID_LOOK_NAMES = sorted(set(GRID_ROLES.values()))


class _SheetCells:
    """A plan's cells sorted once: formulas and plain numbers (written as XML in bulk), the
    rest (text, links, ...: most text goes in bulk too, see _add_texts), and the look of each
    grid cell by its block."""

    def __init__(self, plan: SheetPlan):
        kinds = CellKinds.of(plan.cells)
        keys, values, formula, number = kinds.keys, kinds.values, kinds.formula, kinds.number.copy()
        number[number] = [math.isfinite(v) for v in compress(values, number)]
        other = ~(formula | number)
        for at in np.flatnonzero(other).tolist():   # rare kinds: numpy numbers, bool, text, ...
            value = values[at]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                number[at], other[at] = True, False
        if plan.links:                              # a link cell is written by openpyxl
            linked = np.array([tuple(cell) in plan.links for cell in keys.tolist()])
            formula, number, other = formula & ~linked, number & ~linked, other | linked
        self.formula_at, self.number_at, self.others_at = (np.flatnonzero(m).tolist() for m in (formula, number, other))
        self.formula_rows, self.formula_cols = keys[formula, 0].tolist(), keys[formula, 1].tolist()
        self.expressions = [v.expression for v in compress(values, formula)]
        self.number_rows, self.number_cols = keys[number, 0].tolist(), keys[number, 1].tolist()
        self.numbers = [float(v) if isinstance(v, float) else int(v) for v in compress(values, number)]
        self.others = [(int(r), int(c), values[at]) for at, (r, c) in zip(self.others_at, keys[other].tolist())]
        self.count = len(plan.cells)
        rows, cols = keys[:, 0], keys[:, 1]
        corners = [(int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))] if len(rows) else []
        corners += [(b.row, b.col, b.bottom, b.right) for b in plan.values]
        self.extent = (min(c[0] for c in corners), min(c[1] for c in corners), max(c[2] for c in corners),
                       max(c[3] for c in corners)) if corners else (1, 1, 1, 1)
        self.names = [None] + GRID_LOOK_NAMES
        index = {name: k for k, name in enumerate(self.names)}
        self.grid = np.zeros((max([self.extent[2]] + [rect.bottom for rect, _ in plan.blocks]) + 1,
                              max([self.extent[3]] + [rect.right for rect, _ in plan.blocks]) + 1), np.int8)
        for rect, role in plan.blocks:      # the look of a block's cells by what it holds; the last block wins
            look = GRID_ROLES.get(role)
            if look is not None:
                self.grid[rect.row:rect.bottom + 1, rect.col:rect.right + 1] = index[look]
        if plan.kind in ("explain", "magnifier"):     # their pictures keep their own, larger numbers
            for row, col in plan.styles:
                self.grid[row, col] = 0
        self.filled = np.zeros(self.grid.shape, bool)
        self.filled[rows, cols] = True
        for block in plan.values:
            self.filled[block.row:block.bottom + 1, block.col:block.right + 1] = True

    def look(self, row: int, col: int) -> str | None:
        """The look of a cell from the blocks it lies in, or None."""
        return self.names[self.grid[row, col]]

    def grid_codes(self, rows: list[int], cols: list[int]) -> np.ndarray:
        """Per cell: its block look as an index into `names` (0: none)."""
        return self.grid[np.array(rows, np.int64), np.array(cols, np.int64)].astype(np.int64)

    def empty_grid_cells(self) -> list[tuple[int, int]]:
        return list(zip(*(a.tolist() for a in np.nonzero((self.grid > 0) & ~self.filled))))


def _register_looks(plan: SheetPlan, looks: _Looks, cells: _SheetCells) -> tuple[list[int], list[int], list]:
    """(style id of each formula, of each number, look of each other cell). A cell's look is its
    block's, else the one the plan names, else (a number on a grid sheet) the small grey one.

    Looks are registered with the workbook in the order of their first cell in the plan, and
    style ids in the order of their first bulk cell, as when cells were written one by one, so
    the file does not depend on how cells are grouped here."""
    names = list(cells.names)
    plain = "value" if plan.kind in GRID_KINDS else None

    def code_of(look) -> int:
        if look not in names:
            names.append(look)
        return names.index(look)

    codes = []
    for rows, cols in ((cells.formula_rows, cells.formula_cols), (cells.number_rows, cells.number_cols)):
        code = cells.grid_codes(rows, cols)
        for i in np.flatnonzero(code == 0).tolist():
            look = plan.styles.get((rows[i], cols[i]))
            code[i] = code_of(plain if look is None else look)
        codes.append(code)
    other_looks = []
    for row, col, value in cells.others:
        look = cells.look(row, col) or plan.styles.get((row, col))
        other_looks.append(plain if look is None and not isinstance(value, Text) else look)
    at = [np.array(p, np.int64) for p in (cells.formula_at, cells.number_at, cells.others_at)]
    by_position = np.full(cells.count, -1, np.int64)
    by_position[at[0]], by_position[at[1]] = codes
    bulk_only = by_position.copy()
    by_position[at[2]] = [code_of(look) for look in other_looks]
    for code in _first_seen(by_position):
        if names[code] in LOOKS:
            looks.record(names[code])
    ids = np.zeros(len(names), np.int64)
    for code in _first_seen(bulk_only):
        ids[code] = looks.style_id(names[code])
    return ids[codes[0]].tolist(), ids[codes[1]].tolist(), other_looks


def _first_seen(codes: np.ndarray) -> list[int]:
    """The distinct codes (>= 0) in the order they first occur."""
    used, first = np.unique(codes, return_index=True)
    return [code for code in used[np.argsort(first)].tolist() if code >= 0]


def _dimension(extent: tuple[int, int, int, int]) -> str:
    top, left, bottom, right = extent
    return f"{column_letter(left)}{top}:{column_letter(right)}{bottom}"


def signed_scale(rect) -> ColorScaleRule:
    """Orange for −, white for 0, blue for +, from −m to +m (m: the block's largest size): 0 is
    white in every picture, even one whose values are all ≥ 0, and a value and its opposite are
    equally strong. (Each block keeps its own m, as each picture had its own scale before.)"""
    area = _span(rect, absolute=True)
    size = f"MAX(MAX({area}),-MIN({area}),1E-300)"      # 1E-300: an all-zero block stays white
    return ColorScaleRule(start_type="formula", start_value=f"-{size}", start_color=NEGATIVE,
                          mid_type="num", mid_value=0, mid_color="FFFFFF",
                          end_type="formula", end_value=size, end_color=POSITIVE)


def _format_blocks(ws, plan: SheetPlan) -> None:
    low, high = plan.picture_range
    for rect, role in plan.blocks:
        span = _span(rect)
        if role in (ACTIVATIONS, WEIGHTS, GRADIENTS, COUNTS) and rect.rows * rect.cols > 1:
            ws.conditional_formatting.add(span, signed_scale(rect))
        elif role in (PICTURE, CANVAS):      # ink on paper: 0 white, the brightest pixel black
            ws.conditional_formatting.add(span, ColorScaleRule(
                start_type="num", start_value=low, start_color="FFFFFF",
                end_type="num", end_value=high, end_color="000000"))
            _white_on_dark(ws, rect, f"{_first(rect)}>={low + 0.55 * (high - low)!r}")
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


def _column_widths(plan: SheetPlan, last: int) -> dict[int, float]:
    """Column -> width; `last`: the sheet's last column with a cell. bulk_cells writes them (an
    openpyxl column object per column of every grid sheet cost 30 ms of `build --learn`)."""
    widths = {}
    if plan.kind in GRID_KINDS:
        widths = dict.fromkeys(range(1, last + 1), GRID_COLUMN_WIDTH)
        if not any(rect.col == 1 for rect, _ in plan.blocks):   # column A holds captions, not pixels
            widths[1] = _caption_width(plan)
    widths.update(plan.wide_columns)
    return widths


def _set_dimensions(ws, plan: SheetPlan) -> None:
    if plan.kind in GRID_KINDS:
        ws.sheet_format.defaultRowHeight = GRID_ROW_HEIGHT
        ws.sheet_format.customHeight = True
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
    found = (plan.cells.get(cell) for cell, look in plan.styles.items() if cell[1] == 1 and look == "label")
    captions = [len(v.value) for v in found if isinstance(v, Text)]
    return max(GRID_COLUMN_WIDTH, min(30.0, max(captions, default=0) * 5 / 7 + 1.5))


def _zoom(plan: SheetPlan) -> int:
    """Zoom out a sheet whose grids are wider than a screen, so a picture reads as a whole."""
    if plan.kind not in GRID_KINDS or not plan.blocks:
        return 100
    right = max(rect.right for rect, _ in plan.blocks)
    pixels = sum(plan.wide_columns.get(col, GRID_COLUMN_WIDTH) * 7 for col in range(1, right + 1))
    return max(50, min(100, int(SCREEN_PX / pixels * 100) // 5 * 5))


def _span(rect, absolute: bool = False) -> str:
    d = "$" if absolute else ""
    return f"{d}{column_letter(rect.col)}{d}{rect.row}:{d}{column_letter(rect.right)}{d}{rect.bottom}"


def _first(rect) -> str:
    """The block's top-left cell, relative: a rule's formula is written for it and shifts with each cell."""
    return f"{column_letter(rect.col)}{rect.row}"


def _white_on_dark(ws, rect, formula: str) -> None:
    ws.conditional_formatting.add(_span(rect), Rule(type="expression", formula=[formula], dxf=RULE_LOOKS["on-dark"]))
