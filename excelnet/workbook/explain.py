"""The Explain sheet: type a layer, channel, row and column; see how that one cell is computed.

Only classic functions (INDEX, CHOOSE, MATCH, LARGE, SMALL, IF, MOD, INT), so it works in
Excel 2010+, LibreOffice and Google Sheets. Each explainable layer has its own part of the
sheet, sized exactly for it; every cell of a part is IF(<this part is chosen>, ..., ""), so an
idle part costs one comparison per cell. ExplainResult and ExplainValue pick the chosen part.

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
from ..text import formula_string
from .words import plain_name

LABEL_COLUMN_WIDTH = 44
COLUMN_WIDTH = 6.5            # about 50 px: room for "-0.123" at 9 pt, readable on a projector
MAX_COLS = 40                 # pictures wrap after this many columns
TOP_CONTRIBUTIONS = 5
HELPER_COLUMN = 60        # off to the right of every picture


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


def pick(areas: list[Rect], k: str, dr: str, dc: str, here: str) -> str:
    """Formula for the cell (dr, dc) (0-based expressions) of area number k (1-based expression):
    CHOOSE(k, INDEX(area1, dr + 1, dc + 1), INDEX(area2, ...), ...), which every spreadsheet (and
    excelnet's own evaluator) reads the same way; CHOOSE only computes the chosen one."""
    if len(areas) == 1:
        return f"INDEX({areas[0].ref(here, True)},{dr}+1,{dc}+1)"
    return choose(k, [f"INDEX({a.ref(here, True)},{dr}+1,{dc}+1)" for a in areas])


CHOOSE_LIMIT = 29     # LibreOffice 7 reads CHOOSE with at most 30 arguments


def choose(k: str, options: list[str]) -> str:
    """CHOOSE(k, options...), nested when there are more options than LibreOffice takes at once."""
    if len(options) <= CHOOSE_LIMIT:
        return f"CHOOSE({k},{','.join(options)})"
    chunks = [options[n:n + CHOOSE_LIMIT] for n in range(0, len(options), CHOOSE_LIMIT)]
    inner = [choose(f"({k})-{n * CHOOSE_LIMIT}" if n else k, chunk) for n, chunk in enumerate(chunks)]
    return choose(f"INT(({k}-1)/{CHOOSE_LIMIT})+1", inner)


def pick_weight(cells: WeightCells, fixed: tuple, k: str, here: str, ruler: Ruler) -> str:
    """The weight at index `fixed` (one entry None: the axis chosen by the 1-based `k`)."""
    axis = fixed.index(None)
    count = cells.shape[axis]
    chosen = tuple(np.arange(count) if f is None else f for f in fixed)   # every element along the axis
    offsets = cells.offsets[chosen]
    if (offsets == offsets[0]).all():
        dr, dc = (int(v) for v in offsets[0])
        numbers = tuple(cells.area_index[chosen].tolist())
        areas = [cells.areas[a] for a in numbers]
        top, left = areas[0].row + dr, areas[0].col + dc
        step = cells.even_step(numbers, down=True)
        if step:         # one column through every unit's block: INDEX(column, (k-1)*step+1)
            column = Rect(areas[0].sheet, top, left, (len(areas) - 1) * step + 1, 1)
            return f"INDEX({column.ref(here, True)},({k}-1)*{step}+1)"
        step = cells.even_step(numbers, down=False)
        if step:         # one row through every unit's block: INDEX(row, 1, (k-1)*step+1)
            row = Rect(areas[0].sheet, top, left, 1, (len(areas) - 1) * step + 1)
            return f"INDEX({row.ref(here, True)},1,({k}-1)*{step}+1)"
        return pick(areas, k, ruler(dr), ruler(dc), here)
    indices = [tuple(n if f is None else f for f in fixed) for n in range(count)]
    line = _in_a_line(cells, indices)
    if line is not None:
        return line(k, here)
    return choose(k, [cells.ref(i, here) for i in indices])


def _in_a_line(cells: WeightCells, indices: list[tuple]):
    """INDEX(area, ...) when the elements sit in one area at equal steps (e.g. a row of biases)."""
    areas = {int(cells.area_index[i]) for i in indices}
    if len(areas) != 1 or len(indices) < 2:
        return None
    (r0, c0), (r1, c1) = (tuple(int(v) for v in cells.offsets[i]) for i in indices[:2])
    dr, dc = r1 - r0, c1 - c0
    if any(tuple(int(v) for v in cells.offsets[i]) != (r0 + n * dr, c0 + n * dc) for n, i in enumerate(indices)):
        return None
    area = cells.areas[areas.pop()]
    return lambda k, here: f"INDEX({area.ref(here, True)},{r0}+({k}-1)*{dr}+1,{c0}+({k}-1)*{dc}+1)"


def pick_output(out: Cells, c: Controls, here: str) -> str:
    """The value of the chosen cell of a layer's output, on its own sheet."""
    if isinstance(out, Planar):
        return pick(list(out.grids), c.channel, f"({c.row}-1)", f"({c.col}-1)", here)
    k = f"({c.channel}-1)"
    if out.channels > 1:          # a flattened stack of maps (layout.Flat)
        height, width, channels = out.map_height, out.map_width, out.channels
        y, x, ch = f"INT({k}/{channels * width})", f"MOD(INT({k}/{channels}),{width})", f"MOD({k},{channels})"
        row, col = (f"{ch}*{height}+{y}", x) if out.stacked else (y, f"{ch}*{width}+{x}")
        return f"INDEX({out.block.ref(here, True)},{row}+1,{col}+1)"
    cols = out.block.cols
    return f"INDEX({out.block.ref(here, True)},INT(({c.channel}-1)/{cols})+1,MOD({c.channel}-1,{cols})+1)"


def out_size(out: Cells) -> tuple[int, int, int]:
    """(channels, rows, columns) a student can type for this output."""
    if isinstance(out, Planar):
        return out.channels, out.height, out.width
    return out.size, 1, 1


# --- the sheet --------------------------------------------------------------------------------


def emit_explain(sheet: SheetPlan, layers: list[LayerCells]) -> None:
    sheet.line("Explain: how one cell is computed", "title")
    sheet.line("Type a layer number, then the channel (or unit), row and column of the cell you want "
               "to understand into the yellow cells. Its part of the sheet below fills in.", "note")
    sheet.line("Rows and columns count from 1 at the top-left of the picture, as on the layer's sheet.",
               "note", skip=1)
    c = _controls(sheet, layers)
    here = sheet.title
    results, values, rows = {}, {}, {}
    parts_row = sheet.next_row
    sheet.next_row += len([l for l in layers if _explainer(l.op)]) + 2
    for layer in layers:
        explain = _explainer(layer.op)
        values[layer.index] = pick_output(layer.out, c, here)
        if explain is None:
            continue
        rows[layer.index] = sheet.next_row
        results[layer.index] = explain(sheet, layer, c, _active(sheet, layer, c))
        sheet.next_row += 2
    _summary(sheet, layers, c, results, values)
    sheet.put(parts_row, 1, "Parts of this sheet", "heading")
    for n, (index, row) in enumerate(rows.items(), start=1):
        layer = next(l for l in layers if l.index == index)
        sheet.put(parts_row + n, 1, f"layer {index}: {layer.op.name}", "text")
        sheet.put(parts_row + n, 2, f"row {row}", "note")
    sheet.wide_columns = {1: LABEL_COLUMN_WIDTH, **{k: COLUMN_WIDTH for k in range(2, MAX_COLS + 8)}}
    sheet.freeze = (CONTROL_TOP + 9, 1)


CONTROL_TOP = 4


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
    numbers = ",".join(str(l.index) for l in layers)
    layer_rect = sheet.rect(top, 2, 1, 1)
    sheet.choices.append((layer_rect, [str(l.index) for l in layers]))
    for k in range(1, 4):
        sheet.validations.append((sheet.rect(top + k, 2, 1, 1), 1, 100_000))
    c = Controls(*refs, Ruler(sheet, 2, HELPER_COLUMN + 2))
    sheet.put(1, HELPER_COLUMN + 2, "0, 1, 2, …: the formulas below count with these", "label")
    names_list = [formula_string(f"{l.op.name}: {plain_name(l.op)}") for l in layers]
    sheet.formula(top, 4, f'IF(AND({c.layer}>=1,{c.layer}<={len(layers)}),{choose(c.layer, names_list)},'
                  f'"type a number from 1 to {len(layers)}")', "heading")
    sizes = [formula_string(_size_text(l)) for l in layers]
    sheet.formula(top + 1, 4, f'IF(AND({c.layer}>=1,{c.layer}<={len(layers)}),{choose(c.layer, sizes)},"")',
                  "note")
    sheet.put(top + 2, 4, f"layers: {numbers} (the number at the start of each layer's sheet name)", "note")
    sheet.next_row = top + 9          # the summary (result, value, same?) sits in between
    return c


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


def _explain_conv(sheet: SheetPlan, layer: LayerCells, c: Controls, on: str) -> str:
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
    sheet.line(f"The filter of the chosen channel (its weights): one {kh}×{kw} picture per input picture", "text")
    filters = _pictures(sheet, cin, kh, kw, "filter, input {}", WEIGHTS)
    kernel = layer.params.arrays[0]
    for ci, rect in enumerate(filters):
        _fill(sheet, rect, on, lambda r, col, ci=ci: pick_weight(kernel, (r, col, ci, None), c.channel, here, c.ruler))
        sheet.names[f"Explain{layer.index}_Filter_{ci + 1}"] = rect
    sheet.line("Window × filter, cell by cell", "text")
    products = _pictures(sheet, cin, kh, kw, "product, input {}", WEIGHTS)
    for ci, (w, f, p) in enumerate(zip(windows, filters, products)):
        _fill(sheet, p, on, lambda r, col, w=w, f=f: f"{w.cell_ref(r, col, here)}*{f.cell_ref(r, col, here)}")
        sheet.names[f"Explain{layer.index}_Product_{ci + 1}"] = p
    total = _step(sheet, "sum of all the products", f'IF({on},SUM({",".join(p.ref(here) for p in products)}),"")')
    bias = "0"
    if op.bias is not None:
        bias = _step(sheet, "+ bias (one number per filter)",
                     f'IF({on},{pick_weight(layer.params.arrays[1], (None,), c.channel, here, c.ruler)},"")')
    switch = _step(sheet, "× the filter's on/off switch",
                   f'IF({on},{pick(list(layer.params.switches), c.channel, "0", "0", here)},"")')
    pre = _step(sheet, "→ before the activation", f'IF({on},({total}+{bias})*{switch},"")')
    return _activation_steps(sheet, op.activation, pre, on)


def _activation_steps(sheet: SheetPlan, act, pre: str, on: str) -> str:
    if act.is_identity:
        return _step(sheet, "→ result (no activation)", f'IF({on},{pre},"")', "explain-result")
    words = "relu: negatives become 0" if act.name == "relu" else act.name
    return _step(sheet, f"→ after the activation ({words})", f'IF({on},{act.formula(pre)},"")',
                 "explain-result")


def _explain_pool(sheet: SheetPlan, layer: LayerCells, c: Controls, on: str) -> str:
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
    if op.kind == "average" and op.count_include_pad:     # divide by the window's size inside the padding
        heights = [str(padded) for _, _, padded in op.spans(0)]
        widths = [str(padded) for _, _, padded in op.spans(1)]
        divisor = f"({choose(c.row, heights)}*{choose(c.col, widths)})"
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


def _explain_dense(sheet: SheetPlan, layer: LayerCells, c: Controls, on: str) -> str:
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
        rect, = _pictures(sheet, 1, height, width, "inputs 1 to " + str(x.size) + ", row by row", WEIGHTS)
        where = [(rect, *divmod(i, width)) for i in range(x.size)]
    for i, (rect, r, col) in enumerate(where):
        product = f"{x.flat_ref(i, here)}*{pick_weight(kernel, (i, None), c.channel, here, c.ruler)}"
        sheet.formula(rect.row + r, rect.col + col, f'IF({on},{product},"")', "explain")
    # The same products in one column far to the right: MATCH needs a single row or column.
    column, top = max(HELPER_COLUMN, op.kernel.shape[1] + 10), rects_top
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
                     f'IF({on},{pick_weight(layer.params.arrays[1], (None,), c.channel, here, c.ruler)},"")')
    pre = _step(sheet, "→ before the activation", f'IF({on},{total}+{bias},"")')
    if op.activation == "softmax":
        return _softmax_steps(sheet, layer, pre, c, on)
    return _activation_steps(sheet, op.activation, pre, on)


def _contributions(sheet: SheetPlan, x: Flat, products: Rect, on: str) -> None:
    """The few products that push the unit up the most, and those that pull it down the most."""
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


def _softmax_steps(sheet: SheetPlan, layer: LayerCells, pre: str, c: Controls, on: str) -> str:
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


def _summary(sheet: SheetPlan, layers: list[LayerCells], c: Controls, results: dict, values: dict) -> None:
    """Right under the controls: the result, the cell on its own sheet, and whether they agree."""
    here, top = sheet.title, CONTROL_TOP + 5
    count = len(layers)
    valid = f"AND({c.layer}>=1,{c.layer}<={count})"
    result_arms = [results.get(l.index, '"—"') for l in layers]
    value_arms = [f'IFERROR({values[l.index]},"")' for l in layers]
    sheet.put(top, 1, "Result, step by step (below)", "heading")
    sheet.formula(top, 2, f'IF({valid},{choose(c.layer, result_arms)},"")', "explain-big")
    sheet.merges.append(sheet.rect(top, 2, 1, 2))
    sheet.names["ExplainResult"] = sheet.rect(top, 2, 1, 1)
    sheet.put(top + 1, 1, "The cell on its own sheet", "heading")
    sheet.formula(top + 1, 2, f'IF({valid},{choose(c.layer, value_arms)},"")', "explain-big")
    sheet.merges.append(sheet.rect(top + 1, 2, 1, 2))
    sheet.names["ExplainValue"] = sheet.rect(top + 1, 2, 1, 1)
    result, value = (sheet.rect(top + k, 2, 1, 1).ref(here, True) for k in (0, 1))
    sheet.put(top + 2, 1, "Same?", "heading")
    sheet.formula(top + 2, 2, f'IF(AND(ISNUMBER({result}),ISNUMBER({value})),'
                  f'IF(ABS({result}-{value})<=1E-9*MAX(1,ABS({value})),"same","different"),'
                  f'IF({result}="—","this layer only copies or rescales: click the cell to read its formula",'
                  f'"the position is outside this layer: see the sizes above"))', "answer")
    same = sheet.rect(top + 2, 2, 1, 1)
    sheet.rules.append((same, f'{same.ref(here, True)}="same"', "good"))
    sheet.rules.append((same, f'{same.ref(here, True)}="different"', "bad"))
    for row in (top, top + 1, top + 2):
        sheet.row_heights[row] = 22
    sheet.wide_columns = dict(sheet.wide_columns)
