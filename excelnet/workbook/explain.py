"""The Explain sheet: type a layer, channel, row and column; see how that one cell is computed.

Only classic functions (INDEX, CHOOSE, MATCH, LARGE, SMALL, IF, MOD, INT), so it works in
Excel 2010+, LibreOffice and Google Sheets. Each explainable layer has its own part of the
sheet, sized exactly for it; every cell of a part is IF(<this part is chosen>, ..., ""), so an
idle part costs one comparison per cell. A table near the top holds one row per layer (its name,
sizes, result and value); ExplainResult and ExplainValue pick the chosen layer's row with INDEX.

No formula grows with the number of layers or channels: a channel (or a unit's weight) is picked
by arithmetic on a regular block (INDEX(block, row, column)), never by a CHOOSE over every map, so
a model with hundreds of feature maps gets formulas as short as one with two.
Engine notes: no INDEX over a one-cell range (IronCalc and Gnumeric refuse it: the plain
reference instead), no exponent-notation literals such as 1E-9 (HyperFormula cannot read them).

Public names: ExplainLayer, ExplainChannel, ExplainRow, ExplainColumn (yellow, 1-based; for a
vector layer the channel is the unit and row = column = 1), ExplainResult, ExplainValue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Cells, Flat, Planar, Rect, arrange
from ..ops.base import Op, Params, WeightCells
from ..ops.convolution import Conv2D
from ..ops.core import Dense
from ..ops.pooling import Pool2D
from ..sheet import ACTIVATIONS, CONTROL, WEIGHTS, SheetPlan
from ..shapes import on_axis, padding_amounts
from .words import plain_name

LABEL_COLUMN_WIDTH = 44
COLUMN_WIDTH = 6.5            # about 50 px: room for "-0.123" at 9 pt, readable on a projector
MAX_COLS = 40                 # pictures wrap after this many columns
TOP_CONTRIBUTIONS = 5
HELPER_COLUMN = 60        # off to the right of every picture
SAME_TOLERANCE = "0.000000001"    # written out in full: HyperFormula cannot read 1E-9


@dataclass(frozen=True)
class LayerCells:
    """Where one layer lives: its sheet, what it reads, what it writes, its weights."""

    index: int
    op: Op
    sheet: str
    x: Cells
    out: Cells
    params: Params


@dataclass(frozen=True)
class Controls:
    layer: str
    channel: str
    row: str
    col: str
    ruler: "Ruler"


# --- picking one cell out of several equal blocks with INDEX (no INDIRECT, no OFFSET) ----------


class Ruler:
    """Cells holding 0, 1, 2, ... (far right on the Explain sheet). Formulas add them instead of
    typing the offset, so every cell of a picture has the same formula up to its references:
    spreadsheets (and excelnet's evaluator) then compute a whole picture as one group."""

    def __init__(self, sheet: SheetPlan, row: int, col: int):
        self.sheet, self.row, self.col, self.made = sheet, row, col, 0

    def __call__(self, n: int) -> str:
        while self.made <= n:
            self.sheet.put(self.row, self.col + self.made, self.made, "label")
            self.made += 1
        return self.sheet.rect(self.row, self.col + n, 1, 1).ref(self.sheet.title, True)


@dataclass(frozen=True)
class Grid:
    """`count` equal blocks of rows x cols on one sheet, in a wrapped grid: block k (0-based)
    has its top-left at (top + (k // per_line) * down, left + (k % per_line) * across).
    The feature maps of a layer, the units of a weights sheet and a row of biases all are."""

    sheet: str
    top: int
    left: int
    rows: int
    cols: int
    count: int
    per_line: int
    down: int
    across: int

    @property
    def bounds(self) -> Rect:
        lines = -(-self.count // self.per_line)
        wide = min(self.count, self.per_line)
        return Rect(self.sheet, self.top, self.left, (lines - 1) * self.down + self.rows,
                    (wide - 1) * self.across + self.cols)


def grid_of(sheet: str, corners: np.ndarray, rows: int = 1, cols: int = 1) -> Grid | None:
    """The Grid of blocks whose top-left corners are `corners` ((count, 2) rows and columns, in
    the order they are numbered), or None when they do not lie on one."""
    corners = np.asarray(corners, dtype=np.int64).reshape(-1, 2)
    count = len(corners)
    top, left = (int(v) for v in corners[0])
    if count == 1:
        return Grid(sheet, top, left, rows, cols, 1, 1, rows, cols)
    later = np.flatnonzero(corners[:, 0] != top)
    per_line = int(later[0]) if later.size else count
    across = int(corners[1, 1]) - left if per_line > 1 else cols
    down = int(corners[per_line, 0]) - top if per_line < count else rows
    if across < cols or down < rows:          # overlapping, or going backwards
        return None
    k = np.arange(count)
    if not ((corners[:, 0] == top + (k // per_line) * down).all()
            and (corners[:, 1] == left + (k % per_line) * across).all()):
        return None
    return Grid(sheet, top, left, rows, cols, count, per_line, down, across)


def _plus_one(expression: str) -> str:
    return str(int(expression) + 1) if expression.isdigit() else f"{expression}+1"


def pick_in_grid(grid: Grid, k: str, dr: str, dc: str, here: str) -> str:
    """Formula for the cell (dr, dc) (0-based expressions) of block number k (1-based expression):
    one INDEX over the whole grid, its row and column found by arithmetic on k."""
    bounds = grid.bounds
    if bounds.rows == bounds.cols == 1:        # one cell: INDEX over it fails in IronCalc and Gnumeric
        return bounds.ref(here, True)
    if grid.count == 1:
        row, col = _plus_one(dr), _plus_one(dc)
    elif grid.per_line >= grid.count:          # one line of blocks, side by side
        row, col = _plus_one(dr), f"({k}-1)*{grid.across}+{_plus_one(dc)}"
    elif grid.per_line == 1:                   # one column of blocks, one under the other
        row, col = f"({k}-1)*{grid.down}+{_plus_one(dr)}", _plus_one(dc)
    else:
        row = f"INT(({k}-1)/{grid.per_line})*{grid.down}+{_plus_one(dr)}"
        col = f"MOD({k}-1,{grid.per_line})*{grid.across}+{_plus_one(dc)}"
    if bounds.rows == 1:
        return f"INDEX({bounds.ref(here, True)},1,{col})"
    if bounds.cols == 1:
        return f"INDEX({bounds.ref(here, True)},{row})"
    return f"INDEX({bounds.ref(here, True)},{row},{col})"


def pick(areas: list[Rect], k: str, dr: str, dc: str, here: str) -> str:
    """The cell (dr, dc) of area number k: INDEX on their grid when they lie on one (they do in
    every workbook excelnet writes); else a CHOOSE over them, which grows with their number (the
    Explain sheet is then left out if that is too long: workbook/build.py)."""
    first = areas[0]
    if all((a.sheet, a.rows, a.cols) == (first.sheet, first.rows, first.cols) for a in areas):
        grid = grid_of(first.sheet, [(a.row, a.col) for a in areas], first.rows, first.cols)
        if grid is not None:
            return pick_in_grid(grid, k, dr, dc, here)
    return choose(k, [f"INDEX({a.ref(here, True)},{_plus_one(dr)},{_plus_one(dc)})" for a in areas])


CHOOSE_LIMIT = 29     # LibreOffice 7 reads CHOOSE with at most 30 arguments


def choose(k: str, options: list[str]) -> str:
    """CHOOSE(k, options...), nested when there are more options than LibreOffice takes at once."""
    if len(options) == 1:
        return options[0]
    if len(options) <= CHOOSE_LIMIT:
        return f"CHOOSE({k},{','.join(options)})"
    chunks = [options[n:n + CHOOSE_LIMIT] for n in range(0, len(options), CHOOSE_LIMIT)]
    inner = [choose(f"({k})-{n * CHOOSE_LIMIT}" if n else k, chunk) for n, chunk in enumerate(chunks)]
    return choose(f"INT(({k}-1)/{CHOOSE_LIMIT})+1", inner)


class WeightPicker:
    """Formulas for 'the weight at this index, along the axis the student chose'. Each weight
    array's cell positions are worked out once: a dense layer asks once per input."""

    def __init__(self, here: str):
        self.here, self._positions = here, {}

    def __call__(self, cells: WeightCells, fixed: tuple, k: str) -> str:
        """The weight at index `fixed` (one entry None: the axis chosen by the 1-based `k`)."""
        key = id(cells)
        if key not in self._positions:
            self._positions[key] = (cells, cells.position_array())   # keep cells alive: ids stay unique
        positions = self._positions[key][1]
        axis = fixed.index(None)
        chosen = tuple(slice(None) if f is None else f for f in fixed)
        along = positions[chosen].reshape(-1, 2)       # one (row, col) per element along the axis
        grid = grid_of(cells.sheet, along)
        if grid is not None:
            return pick_in_grid(grid, k, "0", "0", self.here)
        indices = [tuple(n if f is None else f for f in fixed) for n in range(cells.shape[axis])]
        return choose(k, [cells.ref(i, self.here) for i in indices])


def pick_output(out: Cells, c: Controls, here: str) -> str:
    """The value of the chosen cell of a layer's output, on its own sheet."""
    if isinstance(out, Planar):
        return pick(list(out.grids), c.channel, f"({c.row}-1)", f"({c.col}-1)", here)
    if out.block.rows == out.block.cols == 1:
        return out.block.ref(here, True)
    k = f"({c.channel}-1)"
    if out.channels > 1:          # a flattened stack of maps (layout.Flat)
        height, width, channels = out.map_height, out.map_width, out.channels
        y, x, ch = f"INT({k}/{channels * width})", f"MOD(INT({k}/{channels}),{width})", f"MOD({k},{channels})"
        row, col = (f"{ch}*{height}+{y}", x) if out.stacked else (y, f"{ch}*{width}+{x}")
        return f"INDEX({out.block.ref(here, True)},{row}+1,{col}+1)"
    cols = out.block.cols
    if out.block.rows == 1:
        return f"INDEX({out.block.ref(here, True)},1,{c.channel})"
    return f"INDEX({out.block.ref(here, True)},INT(({c.channel}-1)/{cols})+1,MOD({c.channel}-1,{cols})+1)"


def out_size(out: Cells) -> tuple[int, int, int]:
    """(channels, rows, columns) a student can type for this output."""
    if isinstance(out, Planar):
        return out.channels, out.height, out.width
    return out.size, 1, 1


def pick_line(cells: Rect, k: str, here: str) -> str:
    """Cell number k (1-based expression) of a one-column block: the plain reference when the
    block is one cell (INDEX over one cell fails in IronCalc and Gnumeric)."""
    if cells.rows == cells.cols == 1:
        return cells.ref(here, True)
    return f"INDEX({cells.ref(here, True)},{k})"


# --- the sheet --------------------------------------------------------------------------------

CONTROL_TOP = 4
SUMMARY_TOP = CONTROL_TOP + 5       # result, value, same? right under the controls
TABLE_TOP = CONTROL_TOP + 9         # one row per layer, then the parts
CHOICE_LIST_LIMIT = 250             # characters: Excel refuses a longer drop-down list


@dataclass(frozen=True)
class LayerTable:
    """One row per layer, in columns far to the right: its name, the sizes a student may type, its
    result (step by step) and its value (the cell on its own sheet). The controls pick a row."""

    names: Rect
    sizes: Rect
    results: Rect
    values: Rect


def emit_explain(sheet: SheetPlan, layers: list[LayerCells]) -> None:
    sheet.line("Explain: how one cell is computed", "title")
    sheet.line("Type a layer number, then the channel (or unit), row and column of the cell you want "
               "to understand into the yellow cells. Its part of the sheet below fills in: the table's link "
               "'→ its part' beside the layer takes you there.", "note")
    sheet.line("Rows and columns count from 1 at the top-left of the picture, as on the layer's sheet.",
               "note", skip=1)
    here = sheet.title
    c = _controls(sheet, layers)
    table = _layer_table(sheet, layers)
    sheet.next_row = table.names.bottom + 2
    weights = WeightPicker(here)
    for n, layer in enumerate(layers):
        explain = _explainer(layer.op)
        sheet.formula(table.values.row + n, table.values.col, _value_formula(layer, c, here), "explain")
        if explain is None:
            sheet.put(table.results.row + n, table.results.col, "—", "label")
            sheet.put(table.names.row + n, 2, "no part: it only copies or rescales", "note")
            continue
        part_row = sheet.next_row
        result = explain(sheet, layer, c, _active(sheet, layer, c), weights)
        sheet.formula(table.results.row + n, table.results.col, result, "explain")
        sheet.put(table.names.row + n, 2, f"→ its part: row {part_row} (click)", "link")
        sheet.links[(table.names.row + n, 2)] = (here, f"A{part_row}")   # the reader goes to the part
        sheet.next_row += 2
    _control_texts(sheet, layers, c, table)
    _summary(sheet, c, table, len(layers))
    sheet.wide_columns = {1: LABEL_COLUMN_WIDTH, **{k: COLUMN_WIDTH for k in range(2, MAX_COLS + 8)}}
    sheet.freeze = (TABLE_TOP, 1)


def _controls(sheet: SheetPlan, layers: list[LayerCells]) -> Controls:
    here = sheet.title
    top = CONTROL_TOP
    first = next((l for l in layers if _explainer(l.op)), layers[0])
    defaults = [first.index, 1, 1, 1]
    labels = ["Layer (its number)", "Channel, or unit", "Row", "Column"]
    names = ["ExplainLayer", "ExplainChannel", "ExplainRow", "ExplainColumn"]
    refs = []
    for k, (label, name, value) in enumerate(zip(labels, names, defaults)):
        row = top + k
        sheet.put(row, 1, label, "heading")
        sheet.put(row, 2, value)
        rect = sheet.block(sheet.rect(row, 2, 1, 1), CONTROL)
        sheet.merges.append(sheet.rect(row, 2, 1, 2))
        sheet.names[name] = rect
        sheet.row_heights[row] = 22
        refs.append(rect.ref(here, True))
    numbers = [str(l.index) for l in layers]
    layer_rect = sheet.rect(top, 2, 1, 1)
    if len(",".join(numbers)) <= CHOICE_LIST_LIMIT:
        sheet.choices.append((layer_rect, numbers))
    else:                                   # too many layers for a drop-down list: any number from 1 to n
        sheet.validations.append((layer_rect, 1, len(layers)))
    for k in range(1, 4):
        sheet.validations.append((sheet.rect(top + k, 2, 1, 1), 1, 100_000))
    c = Controls(*refs, Ruler(sheet, 2, HELPER_COLUMN + 2))
    sheet.put(1, HELPER_COLUMN + 2, "0, 1, 2, …: the formulas below count with these", "label")
    sheet.put(top + 2, 4, f"layers: 1 to {len(layers)} (the number at the start of each layer's sheet name)", "note")
    return c


def _layer_table(sheet: SheetPlan, layers: list[LayerCells]) -> LayerTable:
    """The list of layers a student sees (column A: 'layer 3: conv2', B: where its part starts),
    and beside it, far right, what the controls pick from."""
    top = TABLE_TOP
    sheet.put(top, 1, "Parts of this sheet", "heading")
    sheet.put(top, HELPER_COLUMN, "per layer: name, sizes, result step by step, the cell on its own sheet "
              "(the cells at the top pick one row)", "label")
    first = top + 1
    for n, layer in enumerate(layers):
        sheet.put(first + n, 1, f"layer {layer.index}: {layer.op.name}", "text")
        sheet.put(first + n, HELPER_COLUMN, f"{layer.op.name}: {plain_name(layer.op)}", "label")
        sheet.put(first + n, HELPER_COLUMN + 1, _size_text(layer), "label")
    count = len(layers)
    return LayerTable(*(sheet.rect(first, HELPER_COLUMN + k, count, 1) for k in range(4)))


def _valid_layer(c: Controls, count: int) -> str:
    return f"AND({c.layer}>=1,{c.layer}<={count})"


def _control_texts(sheet: SheetPlan, layers: list[LayerCells], c: Controls, table: LayerTable) -> None:
    """Beside the controls: the chosen layer's name and the sizes that fit it."""
    here, top, valid = sheet.title, CONTROL_TOP, _valid_layer(c, len(layers))
    sheet.formula(top, 4, f'IF({valid},{pick_line(table.names, c.layer, here)},'
                  f'"type a number from 1 to {len(layers)}")', "heading")
    sheet.formula(top + 1, 4, f'IF({valid},{pick_line(table.sizes, c.layer, here)},"")', "note")


def _value_formula(layer: LayerCells, c: Controls, here: str) -> str:
    """The chosen cell of this layer's output, on its own sheet ("" when another layer is chosen
    or the position is outside this one)."""
    channels, rows, cols = out_size(layer.out)
    inside = f"AND({c.channel}>=1,{c.channel}<={channels},{c.row}>=1,{c.row}<={rows},{c.col}>=1,{c.col}<={cols})"
    return f'IF({c.layer}={layer.index},IFERROR(IF({inside},{pick_output(layer.out, c, here)},""),""),"")'


def _size_text(layer: LayerCells) -> str:
    channels, rows, cols = out_size(layer.out)
    if isinstance(layer.out, Planar):
        return f"channel 1 to {channels}, row 1 to {rows}, column 1 to {cols}"
    return f"unit 1 to {channels}; row and column 1"


def _active(sheet: SheetPlan, layer: LayerCells, c: Controls) -> str:
    """A cell that says whether this part is the chosen one (and the position fits the layer)."""
    channels, rows, cols = out_size(layer.out)
    row = sheet.line(f"Layer {layer.index}: {layer.op.name} — {plain_name(layer.op)} ({layer.op.title})",
                     "heading")
    sheet.put(row + 1, 1, "this part is in use", "label")
    sheet.formula(row + 1, 2, f'IF(AND({c.layer}={layer.index},{c.channel}>=1,{c.channel}<={channels},'
                  f'{c.row}>=1,{c.row}<={rows},{c.col}>=1,{c.col}<={cols}),"yes","no")', "text")
    sheet.next_row = row + 3
    return f'{sheet.rect(row + 1, 2, 1, 1).ref(sheet.title, True)}="yes"'


def _explainer(op: Op):
    if isinstance(op, Conv2D):
        return _explain_conv
    if isinstance(op, Pool2D):
        return _explain_pool
    if isinstance(op, Dense):
        return _explain_dense
    return None


def _pictures(sheet: SheetPlan, count: int, rows: int, cols: int, label: str, role: str,
              max_cols: int = MAX_COLS) -> list[Rect]:
    """`count` small labelled pictures in a wrapped grid, starting at column B."""
    top, rects = sheet.next_row, []
    for n, (dr, dc) in enumerate(arrange(count, rows + 1, cols, max_cols=max_cols)):
        sheet.put(top + dr, 2 + dc, label.format(n + 1), "label")
        rects.append(sheet.block(sheet.rect(top + dr + 1, 2 + dc, rows, cols), role))
    return rects


def _around(rects: list[Rect]) -> Rect:
    """The smallest block holding all of `rects` (with their labels between them: SUM skips text)."""
    top, left = min(r.row for r in rects), min(r.col for r in rects)
    bottom, right = max(r.bottom for r in rects), max(r.right for r in rects)
    return Rect(rects[0].sheet, top, left, bottom - top + 1, right - left + 1)


def _step(sheet: SheetPlan, label: str, formula: str, look: str = "explain") -> str:
    """One labelled line: a caption in column A, a formula in B; returns its absolute reference."""
    row = sheet.line(label, "text")
    sheet.formula(row, 2, formula, look)
    sheet.merges.append(sheet.rect(row, 2, 1, 2))
    return sheet.rect(row, 2, 1, 1).ref(sheet.title, True)


def _fill(sheet: SheetPlan, rect: Rect, on: str, formula) -> None:
    """formula(r, col) for every cell; r and col are 0-based (ints)."""
    for r in range(rect.rows):
        for col in range(rect.cols):
            sheet.formula(rect.row + r, rect.col + col, f'IF({on},{formula(r, col)},"")', "explain")


def _explain_conv(sheet: SheetPlan, layer: LayerCells, c: Controls, on: str, weights: WeightPicker) -> str:
    op: Conv2D = layer.op
    here, x = sheet.title, layer.x
    kh, kw, cin, _ = op.kernel.shape
    (sh, sw), (top, _, left, _) = op.strides, op.pads
    sheet.line(f"The {kh}×{kw} window of each of the {cin} input picture(s) that this cell looks at"
               + (" (0 where the window sticks out: the padding)" if any(op.pads) else ""), "text")
    y0 = f"(({c.row}-1)*{sh}-{top})"       # 0-based top-left of the window in the input
    x0 = f"(({c.col}-1)*{sw}-{left})"
    windows = _pictures(sheet, cin, kh, kw, "input {}", ACTIVATIONS)
    for ci, rect in enumerate(windows):
        def window(r, col, ci=ci):
            y, xx = f"{y0}+{c.ruler(r)}", f"{x0}+{c.ruler(col)}"
            cell = pick([x.grids[ci]], "1", y, xx, here)
            if not any(op.pads):
                return cell
            return f"IF(AND({y}>=0,{y}<{x.height},{xx}>=0,{xx}<{x.width}),{cell},0)"
        _fill(sheet, rect, on, window)
        sheet.names[f"Explain{layer.index}_Window_{ci + 1}"] = rect
    _window_source(sheet, on, (y0, x0), (kh, kw), (x.height, x.width), f"each picture on {_sheet_words(x.grids)}",
                   f"Explain{layer.index}_Where")
    sheet.line(f"The filter of the chosen channel (its weights): one {kh}×{kw} picture per input picture", "text")
    filters = _pictures(sheet, cin, kh, kw, "filter, input {}", WEIGHTS)
    kernel = layer.params.arrays[0]
    for ci, rect in enumerate(filters):
        _fill(sheet, rect, on, lambda r, col, ci=ci: weights(kernel, (r, col, ci, None), c.channel))
        sheet.names[f"Explain{layer.index}_Filter_{ci + 1}"] = rect
    sheet.line("Window × filter, cell by cell", "text")
    products = _pictures(sheet, cin, kh, kw, "product, input {}", WEIGHTS)
    for ci, (w, f, p) in enumerate(zip(windows, filters, products)):
        _fill(sheet, p, on, lambda r, col, w=w, f=f: f"{w.cell_ref(r, col, here)}*{f.cell_ref(r, col, here)}")
        sheet.names[f"Explain{layer.index}_Product_{ci + 1}"] = p
    if cin > 1:
        sums = _subtotals(sheet, products, on, f"Explain{layer.index}")
        total = _step(sheet, "sum of all the products (the sums above, added up)",
                      f'IF({on},SUM({_around(sums).ref(here, True)}),"")')
    else:
        total = _step(sheet, "sum of all the products", f'IF({on},SUM({products[0].ref(here, True)}),"")')
    bias = "0"
    if op.bias is not None:
        bias = _step(sheet, "+ bias (one number per filter)",
                     f'IF({on},{weights(layer.params.arrays[1], (None,), c.channel)},"")')
    switch = _step(sheet, "× the filter's on/off switch",
                   f'IF({on},{pick(list(layer.params.switches), c.channel, "0", "0", here)},"")')
    pre = _step(sheet, "→ before the activation", f'IF({on},({total}+{bias})*{switch},"")')
    return _activation_steps(sheet, op.activation, pre, on)


def _subtotals(sheet: SheetPlan, products: list[Rect], on: str, prefix: str) -> list[Rect]:
    """One sum under each product picture, in the same columns (a 72-product total is easier
    to follow as eight sums of nine)."""
    here = sheet.title
    sheet.line("The products of each input picture, added up", "text")
    top, width, sums = sheet.next_row, products[0].cols, []
    lines = sorted({p.row for p in products})       # one line of sums per line of pictures
    for n, p in enumerate(products):
        row = top + 3 * lines.index(p.row)
        sheet.put(row, p.col, f"sum, input {n + 1}", "label")
        sheet.formula(row + 1, p.col, f'IF({on},SUM({p.ref(here, True)}),"")', "explain")
        if width > 1:
            sheet.merges.append(sheet.rect(row + 1, p.col, 1, width))
        sums.append(sheet.rect(row + 1, p.col, 1, 1))
        sheet.names[f"{prefix}_Sum_{n + 1}"] = sums[-1]
    sheet.next_row = max(s.row for s in sums) + 2
    return sums


def _sheet_words(grids) -> str:
    """'sheet '2 pool1'' for the sheet(s) a layer's input pictures are on."""
    names = list(dict.fromkeys(g.sheet for g in grids))
    return ("sheet " if len(names) == 1 else "sheets ") + ", ".join(f"'{n}'" for n in names)


def _window_source(sheet: SheetPlan, on: str, corner: tuple[str, str], window: tuple[int, int],
                   picture: tuple[int, int], where: str, name: str) -> None:
    """A line that says which rows and columns of the layer before the window covers (counting
    from 1 as the layer sheets do; the padding left out), so a student can find them there.
    corner: the window's 0-based top-left (formulas); window and picture: (height, width)."""
    def span(start: str, size: int, length: int) -> str:
        return f'MAX(1,{start}+1)&"–"&MIN({length},{start}+{size})'
    rows, cols = (span(s, k, n) for s, k, n in zip(corner, window, picture))
    row = sheet.line("where the window is", "text")
    # the sheet's name is model text: it stays a text cell (far right), never part of a formula
    sheet.put(row, HELPER_COLUMN, f" of {where}", "label")
    words = sheet.rect(row, HELPER_COLUMN, 1, 1).ref(sheet.title, True)
    sheet.formula(row, 2, f'IF({on},"rows "&{rows}&", columns "&{cols}&{words},"")', "text")
    sheet.names[name] = sheet.rect(row, 2, 1, 1)
    sheet.next_row = row + 2


def _activation_steps(sheet: SheetPlan, act, pre: str, on: str) -> str:
    if act.is_identity:
        return _step(sheet, "→ result (no activation)", f'IF({on},{pre},"")', "explain-result")
    words = "relu: negatives become 0" if act.name == "relu" else act.name
    return _step(sheet, f"→ after the activation ({words})", f'IF({on},{act.formula(pre)},"")',
                 "explain-result")


def _numbers_line(sheet: SheetPlan, label: str, numbers: list[int]) -> Rect:
    """A labelled row of numbers (from column B) that a formula picks one of."""
    row = sheet.line(label, "label")
    for k, number in enumerate(numbers):
        sheet.put(row, 2 + k, number, "label")
    return sheet.rect(row, 2, 1, len(numbers))


def _pick_number(numbers: Rect, k: str, here: str) -> str:
    """Number k (1-based expression) of a row of numbers (_numbers_line)."""
    if numbers.cols == 1:
        return numbers.ref(here, True)
    return f"INDEX({numbers.ref(here, True)},1,{k})"


def _explain_pool(sheet: SheetPlan, layer: LayerCells, c: Controls, on: str, weights: WeightPicker) -> str:
    op: Pool2D = layer.op
    here, x = sheet.title, layer.x
    (ph, pw), (sh, sw) = op.pool, op.strides
    top, _ = padding_amounts(op.input_shape[0], ph, sh, on_axis(op.padding, 0))
    left, _ = padding_amounts(op.input_shape[1], pw, sw, on_axis(op.padding, 1))
    y0, x0 = f"(({c.row}-1)*{sh}-{top})", f"(({c.col}-1)*{sw}-{left})"
    sheet.line(f"The {ph}×{pw} window of the same channel in the layer before (empty where it sticks out)",
               "text")
    window, = _pictures(sheet, 1, ph, pw, "window", ACTIVATIONS)

    def cell(r, col):
        y, xx = f"{y0}+{c.ruler(r)}", f"{x0}+{c.ruler(col)}"
        value = pick(list(x.grids), c.channel, y, xx, here)
        return f'IF(AND({y}>=0,{y}<{x.height},{xx}>=0,{xx}<{x.width}),{value},"")'
    _fill(sheet, window, on, cell)
    sheet.names[f"Explain{layer.index}_Window"] = window
    _window_source(sheet, on, (y0, x0), (ph, pw), (x.height, x.width),
                   f"the same channel on {_sheet_words(x.grids)}", f"Explain{layer.index}_Where")
    if op.kind == "average" and op.count_include_pad:     # divide by the window's size inside the padding
        heights = _numbers_line(sheet, "the window's height inside the padding, by output row",
                                [padded for _, _, padded in op.spans(0)])
        widths = _numbers_line(sheet, "the window's width inside the padding, by output column",
                               [padded for _, _, padded in op.spans(1)])
        divisor = f"({_pick_number(heights, c.row, here)}*{_pick_number(widths, c.col, here)})"
        result = _step(sheet, "→ result: the sum of the window ÷ its size, padding included",
                       f'IF({on},SUM({window.ref(here, True)})/{divisor},"")', "explain-result")
        return result
    name = "MAX" if op.kind == "max" else "AVERAGE"
    result = _step(sheet, f"→ result: the {op.kind} of the window", f'IF({on},{name}({window.ref(here, True)}),"")',
                   "explain-result")
    if op.kind == "max":
        sheet.rules.append((window, f'AND({window.cell_ref(0, 0, here)}<>"",{window.cell_ref(0, 0, here)}={result})',
                            "highlight"))
        order = sheet.line("the window in reading order", "label")
        for k in range(ph * pw):
            sheet.formula(order, 2 + k, window.cell_ref(k // pw, k % pw, here), "explain")
        line = sheet.rect(order, 2, 1, ph * pw).ref(here, True)
        won = f"MATCH({result},{line},0)"
        _step(sheet, "the winner (highlighted): row, column of the window",
              f'IF({on},"row "&(INT(({won}-1)/{pw})+1)&", column "&(MOD({won}-1,{pw})+1),"")', "text")
    return result


def _explain_dense(sheet: SheetPlan, layer: LayerCells, c: Controls, on: str, weights: WeightPicker) -> str:
    op: Dense = layer.op
    here, x = sheet.title, layer.x
    kernel = layer.params.arrays[0]
    sheet.line(f"Each input × its weight for this unit, laid out like the input ({x.size} products)", "text")
    rects_top = sheet.next_row + 1
    if x.channels > 1:
        height, width = x.map_height, x.map_width
        rects = _pictures(sheet, x.channels, height, width, "channel {}", WEIGHTS)
        where = [(rects[i % x.channels], *divmod(i // x.channels, width)) for i in range(x.size)]
    else:
        width = min(x.size, 16)
        height = -(-x.size // width)
        rects = _pictures(sheet, 1, height, width, "inputs 1 to " + str(x.size) + ", row by row", WEIGHTS)
        where = [(rects[0], *divmod(i, width)) for i in range(x.size)]
    for i, (rect, r, col) in enumerate(where):
        product = f"{x.flat_ref(i, here)}*{weights(kernel, (i, None), c.channel)}"
        sheet.formula(rect.row + r, rect.col + col, f'IF({on},{product},"")', "explain")
    # The same products in one column far to the right: MATCH needs a single row or column. It is
    # as long as the input, often longer than the pictures: the next part starts below its end.
    # Right of the pictures too: a wide input's pictures reach past HELPER_COLUMN.
    column, top = max(HELPER_COLUMN, op.kernel.shape[1] + 10, max(r.right for r in rects) + 2), rects_top
    sheet.put(top - 1, column, "all products in the input's order (for LARGE and MATCH)", "label")
    for i, (rect, r, col) in enumerate(where):
        sheet.formula(top + i, column, rect.cell_ref(r, col, here), "explain")
    products = sheet.rect(top, column, x.size, 1)
    sheet.names[f"Explain{layer.index}_Products"] = products
    _contributions(sheet, x, products, on)
    total = _step(sheet, "sum of all the products", f'IF({on},SUM({products.ref(here, True)}),"")')
    bias = "0"
    if op.bias is not None:
        bias = _step(sheet, "+ bias (one number per unit)",
                     f'IF({on},{weights(layer.params.arrays[1], (None,), c.channel)},"")')
    pre = _step(sheet, "→ before the activation", f'IF({on},{total}+{bias},"")')
    if op.activation == "softmax":
        result = _softmax_steps(sheet, layer, pre, on)
    else:
        result = _activation_steps(sheet, op.activation, pre, on)
    sheet.next_row = max(sheet.next_row, products.bottom + 2)
    return result


def _contributions(sheet: SheetPlan, x: Flat, products: Rect, on: str) -> None:
    """The few products that push the unit up the most, and those that pull it down the most."""
    if x.size == 1:         # LARGE and MATCH over one cell: IronCalc gives an error, and nothing to rank
        sheet.line("one input: its product is the only contribution", "text")
        return
    whole = products.ref(sheet.title, True)
    for title, function in (("largest contributions (push this unit up)", "LARGE"),
                            ("most negative contributions (pull it down)", "SMALL")):
        row = sheet.line(title, "text")
        for k in range(min(TOP_CONTRIBUTIONS, x.size)):       # LARGE(…, k) needs k inputs at least
            value = f"{function}({whole},{k + 1})"
            sheet.formula(row, 2 + 3 * k, f'IF({on},{value},"")', "explain")
            found = f"(MATCH({value},{whole},0)-1)"
            sheet.formula(row + 1, 2 + 3 * k, f'IF({on},{_position_text(x, found)},"")', "label")
        sheet.next_row = row + 2


def _position_text(x: Flat, i: str) -> str:
    """Where input number i (0-based, Keras order) sits, in words."""
    if x.channels == 1:
        return f'"input "&({i}+1)'
    width = x.map_width
    return (f'"ch "&(MOD({i},{x.channels})+1)&", row "&(INT({i}/{x.channels * width})+1)'
            f'&", col "&(MOD(INT({i}/{x.channels}),{width})+1)')


def _softmax_steps(sheet: SheetPlan, layer: LayerCells, pre: str, on: str) -> str:
    """Softmax needs every unit: their values before it, computed here with one SUMPRODUCT each."""
    op: Dense = layer.op
    here, x = sheet.title, layer.x
    units = op.kernel.shape[1]
    kernel = layer.params.arrays[0]
    row = sheet.line("every unit before the softmax (one SUMPRODUCT each)", "text")
    for j in range(units):
        bias = "" if op.bias is None else "+" + layer.params.arrays[1].ref((j,), here)
        sheet.put(row + 1, 2 + j, f"unit {j + 1}", "label")
        sheet.formula(row + 2, 2 + j, f'IF({on},SUMPRODUCT({x.block.ref(here, True)},'
                      f'{kernel.areas[j].ref(here, True)}){bias},"")', "explain")
    values = sheet.rect(row + 2, 2, 1, units).ref(here, True)
    sheet.next_row = row + 4
    largest = _step(sheet, "the largest of them", f'IF({on},MAX({values}),"")')
    exps = sheet.line("exp(value − largest) for every unit", "text")
    for j in range(units):
        sheet.formula(exps, 2 + j, f'IF({on},EXP({sheet.rect(row + 2, 2 + j, 1, 1).ref(here)}-{largest}),"")',
                      "explain")
    exps_range = sheet.rect(exps, 2, 1, units).ref(here, True)
    sheet.next_row = exps + 2
    return _step(sheet, "→ result: exp(this unit − largest) ÷ sum of them all (softmax)",
                 f'IF({on},EXP({pre}-{largest})/SUM({exps_range}),"")', "explain-result")


def _summary(sheet: SheetPlan, c: Controls, table: LayerTable, count: int) -> None:
    """Right under the controls: the result, the cell on its own sheet, and whether they agree."""
    here, top = sheet.title, SUMMARY_TOP
    valid = _valid_layer(c, count)
    sheet.put(top, 1, "Result, step by step (below)", "heading")
    sheet.formula(top, 2, f'IF({valid},{pick_line(table.results, c.layer, here)},"")', "explain-big")
    sheet.merges.append(sheet.rect(top, 2, 1, 2))
    sheet.names["ExplainResult"] = sheet.rect(top, 2, 1, 1)
    sheet.put(top + 1, 1, "The cell on its own sheet", "heading")
    sheet.formula(top + 1, 2, f'IF({valid},{pick_line(table.values, c.layer, here)},"")', "explain-big")
    sheet.merges.append(sheet.rect(top + 1, 2, 1, 2))
    sheet.names["ExplainValue"] = sheet.rect(top + 1, 2, 1, 1)
    result, value = (sheet.rect(top + k, 2, 1, 1).ref(here, True) for k in (0, 1))
    sheet.put(top + 2, 1, "Same?", "heading")
    sheet.formula(top + 2, 2, f'IF(AND(ISNUMBER({result}),ISNUMBER({value})),'
                  f'IF(ABS({result}-{value})<={SAME_TOLERANCE}*MAX(1,ABS({value})),"same","different"),'
                  f'IF({result}="—","this layer only copies or rescales: click the cell to read its formula",'
                  f'"the position is outside this layer: see the sizes above"))', "answer")
    same = sheet.rect(top + 2, 2, 1, 1)
    sheet.names["ExplainSame"] = same
    sheet.rules.append((same, f'{same.ref(here, True)}="same"', "good"))
    sheet.rules.append((same, f'{same.ref(here, True)}="different"', "bad"))
    for row in (top, top + 1, top + 2):
        sheet.row_heights[row] = 22
