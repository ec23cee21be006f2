"""Conv2D's backward rule as formulas: one SUMPRODUCT per gradient cell.

With δ = ∂loss/∂(each filter's sum) (the gradient from the layer after × the activation's
derivative × the filter's switch):
- ∂loss/∂kernel[i, j, c, f] = Σ δ_f × (input channel c shifted by (i, j)): SUMPRODUCT of
  δ_f's grid with a window of the input. With strides > 1, δ is first spread out by the
  stride (zeros between), so the window is again a plain rectangle. Windows are clipped to
  the real input: the padding zeros would add nothing.
- ∂loss/∂bias[f] = SUM(δ_f).
- ∂loss/∂input = a "full" correlation of δ with the filters turned by 180°: δ channel-
  interleaved and stood on its side (row = x·F + f, column = y), so one kw·F × kh window pairs
  with one turned filter per input channel, read from the filter cells a student edits.
A switched-off filter (switch 0) has δ = 0: no gradient for it, nothing from it to the input."""

from __future__ import annotations

import numpy as np

from ..layout import Cells, Planar, Rect, arrange
from ..sheet import WEIGHTS, Each, SheetPlan, mark
from ..templates import Templates, formula_templates
from .activations import FIXED
from .backward import times_derivative, zero_or_formula
from .base import Book, Params, WeightCells
from .cells import copy_cells, new_planar, one_cell

SUMPRODUCT = f"SUMPRODUCT({mark('a')},{mark('b')})"


def emit_conv_backward(op, sheet: SheetPlan, x: Planar, out: Planar, grad: Cells, params: Params,
                       book: Book) -> tuple[Planar, tuple[WeightCells, ...]]:
    delta = _emit_delta(op, sheet, x, out, grad, params, book)
    spread = _spread(op, sheet, delta)
    arrays = _emit_weight_gradients(op, sheet, x, delta, spread, params)
    return _emit_input_gradient(op, sheet, x, spread, params.arrays[0]), arrays


def _emit_delta(op, sheet, x, out, grad, params, book) -> Planar:
    act = op.activation
    name = "" if act.is_identity else f" × {act.name}′"
    sheet.line(f"∂loss/∂(each filter's sum) = ∂loss/∂feature map{name} × the filter's switch", "heading")
    pre = out
    if act.derivative_needs_input:
        pre = book.pre_activation(out) or _recompute_pre_activation(op, sheet, x, params)
    delta = new_planar(sheet, op.output_shape, "filter", role=WEIGHTS)
    f, y, xo = np.indices((len(delta.grids), out.height, out.width)).reshape(3, -1).tolist()
    i = [(yy * out.width + xx) * out.channels + ff for ff, yy, xx in zip(f, y, xo)]      # Keras' flat index
    places = {"pre": [pre.grids[ff].sub(yy, xx) for ff, yy, xx in zip(f, y, xo)],
              "out": [out.grids[ff].sub(yy, xx) for ff, yy, xx in zip(f, y, xo)]}
    grads, which, places_in = _gradient_inline(grad, i, book)
    places.update(places_in)
    templates = [times_derivative(act, g, mark("pre"), mark("out")) for g in grads]
    if params.switches:
        templates = [t + "*" + mark("switch") for t in templates]
        places["switch"] = Each([params.switches[ff] for ff in f], absolute=True)
    formula_templates(sheet, [delta.grids[ff].row + yy for ff, yy in zip(f, y)],
                      [delta.grids[ff].col + xx for ff, xx in zip(f, xo)], templates, which, places)
    return delta


def _gradient_inline(grad: Cells, order: list[int], book: Book) -> tuple[list[str], list[int], dict]:
    """∂loss/∂output of the elements `order` as templates: where the layer after remembered how its
    cells are made (a max pooling's IF(winner=k, gradient, 0): Book.remember_route), that expression
    itself, so a pixel edit recalculates δ without the layer after's cells on its way; else a
    reference to the cell (or to the cell it copies). Returns (templates, template of each, places)."""
    route = book.route(grad)
    if route is None:
        original = book.original(grad)
        return [mark("grad")], [0] * len(order), {"grad": [one_cell(original, k) for k in order]}
    used = sorted({route.which[k] for k in order})
    number = {t: n for n, t in enumerate(used)}
    templates = []
    for t in used:
        text = route.templates[t]
        for name in route.places:                 # the route's marks, renamed apart from pre/out/switch
            text = text.replace(mark(name), mark(f"route_{name}"))
        templates.append(f"({text})")
    places = {f"route_{name}": [cells[k] for k in order] for name, cells in route.places.items()}
    return templates, [number[route.which[k]] for k in order], places


def _recompute_pre_activation(op, sheet, x, params) -> Planar:
    """The sums before the activation, when the forward pass kept none to read."""
    sheet.line("Each filter's sum again (the activation's derivative needs it)", "heading")
    pre = new_planar(sheet, op.output_shape, "filter")
    filters = op._filter_blocks(params.arrays[0])
    biases = [None] * len(pre.grids) if op.bias is None else params.arrays[1].cell_rects()
    op._fill(sheet, pre, op._emit_source(sheet, x), filters, biases, params.switches, FIXED["linear"])
    return pre


def _spread(op, sheet, delta: Planar) -> Planar:
    """δ with (stride − 1) zeros between neighbours: its rows and columns line up with the
    input rows and columns each output cell's window starts at."""
    (sh, sw), (ho, wo, filters) = op.strides, op.output_shape
    if (sh, sw) == (1, 1):
        return delta
    sheet.line(f"The same, spread out by the stride {sh}×{sw} (zeros between)", "heading")
    shape = ((ho - 1) * sh + 1, (wo - 1) * sw + 1, filters)
    spread = new_planar(sheet, shape, "filter", role=WEIGHTS)
    here = sheet.title
    for f, grid in enumerate(spread.grids):
        for p in range(shape[0]):
            for q in range(shape[1]):
                on_grid = p % sh == 0 and q % sw == 0
                zero_or_formula(sheet, grid.row + p, grid.col + q,
                                delta.cell_ref(p // sh, q // sw, f, here) if on_grid else None)
    return spread


def _clip(start: int, length: int, lo: int, hi: int) -> tuple[int, int]:
    """The part [a, b] of start .. start+length-1 that also lies in lo .. hi (a > b: none)."""
    return max(start, lo), min(start + length - 1, hi)


def _emit_weight_gradients(op, sheet, x: Planar, delta: Planar, spread: Planar,
                           params: Params) -> tuple[WeightCells, ...]:
    """∂loss/∂filters and ∂loss/∂biases, placed like the filters are (same picture per filter,
    the bias where the bias is), so they line up cell for cell."""
    kh, kw, cin, cout = op.kernel.shape
    top, _, left, _ = op.pads
    sheet.line("∂loss/∂filters (one small picture per input channel) and ∂loss/∂bias, laid out "
               "like the filters", "heading")
    here = sheet.title
    pictures, biases, products = [], [], Templates(sheet)
    for f, (row, col, picture) in enumerate(op.filter_slots(sheet)):
        if op.bias is not None:
            sheet.put(row + 1, col + 2, "bias", "label")
            biases.append(sheet.block(sheet.rect(row + 1, col + 3, 1, 1), WEIGHTS))
            sheet.formula(row + 1, col + 3, f"SUM({delta.grids[f].ref(here)})")
        pictures.append(sheet.block(picture, WEIGHTS))
        for i in range(kh):
            for j in range(kw):
                for c in range(cin):
                    # spread row p meets input row p + i − top: keep the rows inside the input
                    p0, p1 = _clip(0, spread.height, top - i, x.height - 1 + top - i)
                    q0, q1 = _clip(0, spread.width, left - j, x.width - 1 + left - j)
                    at = (picture.row + c * kh + i, picture.col + j)
                    if p0 <= p1 and q0 <= q1:
                        rows, cols = p1 - p0 + 1, q1 - q0 + 1
                        products.add(*at, SUMPRODUCT, a=spread.grids[f].sub(p0, q0, rows, cols),
                                     b=x.grids[c].sub(p0 + i - top, q0 + j - left, rows, cols))
                    else:
                        sheet.put(*at, 0)
    products.write()
    arrays = (params.arrays[0].moved(pictures),)
    return arrays if op.bias is None else arrays + (params.arrays[1].moved(biases),)


def _emit_input_gradient(op, sheet, x: Planar, spread: Planar, kernel: WeightCells) -> Planar:
    """Each input cell: one SUMPRODUCT of a window of δ (filters interleaved) with the turned filters
    of its channel. With several filters both are stood on their side (row = x·F + f, column = y):
    a window is then kw·F rows by kh columns, and LibreOffice reads a range column by column, so a
    tall window (3 columns) reads faster than a wide one (3 rows of 96 columns)."""
    kh, kw, cin, cout = op.kernel.shape
    top, _, left, _ = op.pads
    tall = cout > 1
    turned = _turned_filters(op, sheet, kernel, tall)
    source = _interleaved(sheet, spread)
    sheet.line("∂loss/∂input (laid out like the input): each cell a window of the gradient above "
               "times a turned filter", "heading")
    d_x = new_planar(sheet, x.shape, role=WEIGHTS)
    height, width = spread.height, spread.width
    products = Templates(sheet, absolute=("b",))
    for c, grid in enumerate(d_x.grids):
        for p in range(x.height):
            for q in range(x.width):
                # turned tap i' meets spread row p + top + i' − (kh − 1)
                i0, i1 = _clip(0, kh, kh - 1 - top - p, height + kh - 2 - top - p)
                j0, j1 = _clip(0, kw, kw - 1 - left - q, width + kw - 2 - left - q)
                if i0 <= i1 and j0 <= j1:
                    rows, cols = i1 - i0 + 1, (j1 - j0 + 1) * cout
                    r0, s0 = p + top + i0 - (kh - 1), q + left + j0 - (kw - 1)
                    if tall:
                        window, filters = source.sub(s0 * cout, r0, cols, rows), turned[c].sub(j0 * cout, i0, cols, rows)
                    else:
                        window, filters = source.sub(r0, s0 * cout, rows, cols), turned[c].sub(i0, j0 * cout, rows, cols)
                    products.add(grid.row + p, grid.col + q, SUMPRODUCT, a=window, b=filters)
                else:
                    sheet.put(grid.row + p, grid.col + q, 0)
    products.write()
    return d_x


def _turned_filters(op, sheet, kernel: WeightCells, tall: bool) -> list[Rect]:
    """For each input channel c: every filter's weights for c, turned by 180°, copied by formulas
    from the filter cells; filters side by side (column = x·F + f), or `tall`: stood on their
    side (row = x·F + f, column = y)."""
    kh, kw, cin, cout = op.kernel.shape
    where = "row = x·F + f, column = y" if tall else "column = x·F + f"
    sheet.line(f"The filters turned by 180°, for each input channel (formulas: {where})", "heading")
    rows, cols = (kw * cout, kh) if tall else (kh, kw * cout)
    first, rects = sheet.next_row, []
    for c, (dr, dc) in enumerate(arrange(cin, rows + 1, max(cols, 4))):
        sheet.put(first + dr, 1 + dc, f"in {c + 1}", "label")
        rect = sheet.block(sheet.rect(first + dr + 1, 1 + dc, rows, cols), WEIGHTS)
        targets, sources = [], []
        for i in range(kh):
            for j in range(kw):
                for f in range(cout):
                    targets.append((rect.row + j * cout + f, rect.col + i) if tall else (rect.row + i, rect.col + j * cout + f))
                    sources.append(Rect(kernel.sheet, *kernel.position((kh - 1 - i, kw - 1 - j, c, f)), 1, 1))
        copy_cells(sheet, targets, sources, absolute=True)
        rects.append(rect)
    return rects


def _interleaved(sheet, spread: Planar) -> Rect:
    """The (spread) δ with its filters interleaved and stood on its side (row = x·F + f, column = y);
    δ itself for one filter."""
    if spread.channels == 1:
        return spread.grids[0]
    sheet.line("The same, filters interleaved and stood on its side (row = x·F + f, column = y)", "heading")
    filters = spread.channels
    rect = sheet.block(sheet.rect(sheet.next_row, 1, spread.width * filters, spread.height), WEIGHTS)
    targets, sources = [], []
    for p in range(spread.height):
        for q in range(spread.width):
            for f in range(filters):
                source = spread.grids[f].sub(p, q)
                value = sheet.cells.get((source.row, source.col))     # a stride's gap holds a plain 0: copy it
                at = (rect.row + q * filters + f, rect.col + p)
                if isinstance(value, (int, float)):
                    sheet.put(*at, value)
                else:
                    targets.append(at)
                    sources.append(source)
    copy_cells(sheet, targets, sources)
    return rect
