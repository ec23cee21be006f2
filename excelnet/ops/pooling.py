"""Max and average pooling over windows, and their global versions.

A planar channel grid makes each window one contiguous range: =MAX(B5:C6).

Backward, as TensorFlow does it: max pooling sends each window's gradient to the FIRST cell
holding the window's maximum in reading order (row by row) — each window on its own, so
overlapping windows may send several gradients to one cell; the global max splits it evenly
among all cells holding the channel's maximum (tf.reduce_max). Average pooling shares it
equally among the window's real cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Cells, Flat, Planar, Rect
from ..sheet import COUNTS, WEIGHTS, Reference, SheetPlan, mark
from ..shapes import on_axis, output_size, padding_amounts, padding_text, parse_padding, window_span
from ..templates import Templates, formula_templates
from .base import Book, Params, Route, Context, Op, Unsupported, check_channels_last, converter, finish, option, whole_pair
from .cells import new_flat, new_planar, shape_text, turned

COMPARED_AT_MOST = 9     # max pooling's backward: windows up to 3×3 find their winner by comparisons
FUNCTIONS = {"max": ("MAX", np.max), "average": ("AVERAGE", np.mean)}


def _reference(cells: Cells, at: list[tuple[int, int]]) -> Reference:
    """One cell of `cells`' sheet per member, at `at` (row, col)."""
    rows, cols = np.array(at, np.int64).reshape(-1, 2).T
    return Reference(cells.sheet, rows, cols)


def _route(templates: list[str], kinds: list[int], order: list[int], places: dict, size: int) -> Route:
    """The backward cells as a Route (Book.remember_route), in Keras' flat order: a cell that no
    window holds is the template "0"."""
    which = [len(templates)] * size
    rects = {name: [None] * size for name in places}
    for m, (k, kind) in enumerate(zip(order, kinds)):
        which[k] = kind
        for name, reference in places.items():
            rects[name][k] = Rect(reference.sheet, int(reference.rows[m]), int(reference.cols[m]), 1, 1)
    anywhere = {name: next(r for r in cells if r is not None) for name, cells in rects.items()}
    for name, cells in rects.items():             # a place a template does not use: any cell
        rects[name] = [anywhere[name] if r is None else r for r in cells]
    return Route(tuple(templates) + ("0",), tuple(which), rects)


def _in_two_pieces(window: Rect) -> list[Rect]:
    """The same window as two ranges (its first row, then the rest; for one row, its first
    column, then the rest): see cells.turned. Every cell once, so SUM(…)/n stays right; a single
    cell stays as it is."""
    if window.rows > 1:
        return [window.sub(0, 0, 1, window.cols), window.sub(1, 0, window.rows - 1, window.cols)]
    if window.cols > 1:
        return [window.sub(0, 0, window.rows, 1), window.sub(0, 1, window.rows, window.cols - 1)]
    return [window]


@dataclass(frozen=True)
class Pool2D(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kind: str                     # "max" or "average"
    pool: tuple[int, int]
    strides: tuple[int, int]
    padding: object               # 'valid', 'same' or ((top, bottom), (left, right))
    ceil_mode: bool = False       # keep a last, partial window (PyTorch/ONNX)
    count_include_pad: bool = False  # average: divide by the window's size including padding

    @property
    def title(self) -> str:
        return "MaxPooling2D" if self.kind == "max" else "AveragePooling2D"

    def describe(self) -> str:
        keep = "the largest" if self.kind == "max" else "the average"
        extra = ", ceil mode" if self.ceil_mode else ""
        extra += ", padding counted in the average" if self.count_include_pad and self.kind == "average" else ""
        return (f"keeps {keep} of each {self.pool[0]}×{self.pool[1]} window, moving {self.strides[0]}×"
                f"{self.strides[1]} cells at a time (stride), padding {padding_text(self.padding)}{extra}")

    def spans(self, axis: int):
        """(start, length, padded length) of each output position's window along one axis, clipped
        to the input: padding adds no values, so the max or average is over real cells (divided by
        the padded length instead when count_include_pad)."""
        size, window, stride = self.input_shape[axis], self.pool[axis], self.strides[axis]
        before, after = padding_amounts(size, window, stride, on_axis(self.padding, axis))
        for i in range(self.output_shape[axis]):
            yield window_span(i * stride - before, window, size, before, after)

    def windows(self, axis: int):
        """(start, length) of each output position's window along one axis, clipped to the input."""
        for start, length, _ in self.spans(axis):
            yield start, length

    def _divides(self) -> bool:
        """Whether a window's average is SUM/count with padding counted, not AVERAGE of real cells."""
        return self.kind == "average" and self.count_include_pad

    def count(self, i: int, j: int) -> int:
        """What output (i, j)'s average divides by: its real cells, or with count_include_pad its
        cells inside the padded input."""
        (_, h, ph), (_, w, pw) = list(self.spans(0))[i], list(self.spans(1))[j]
        return ph * pw if self._divides() else h * w

    def reference(self, x: np.ndarray) -> np.ndarray:
        reduce = FUNCTIONS[self.kind][1]
        out = np.zeros(self.output_shape)
        for i, (y0, h, ph) in enumerate(self.spans(0)):
            for j, (x0, w, pw) in enumerate(self.spans(1)):
                window = x[y0:y0 + h, x0:x0 + w].astype(np.float64)
                out[i, j] = window.sum(axis=(0, 1)) / (ph * pw) if self._divides() else reduce(window, axis=(0, 1))
        return out

    def emit(self, sheet: SheetPlan, x: Planar, book: Book, params: Params | None = None) -> Planar:
        name = FUNCTIONS[self.kind][0]
        how = f"the {self.kind}" if not self._divides() else "the sum (padding counts as zeros) divided by the count"
        sheet.line(f"Each cell: {how} of a {self.pool[0]}×{self.pool[1]} window "
                   "of the same channel in the layer before.", "note", skip=1)
        out = new_planar(sheet, self.output_shape)
        cells = Templates(sheet)
        for c, grid in enumerate(out.grids):
            for i, (y0, h, ph) in enumerate(self.spans(0)):
                for j, (x0, w, pw) in enumerate(self.spans(1)):
                    block = x.grids[c].sub(y0, x0, h, w)
                    pieces = _in_two_pieces(block) if turned(i, params is not None) else [block]
                    window = ",".join(mark(f"w{k}") for k in range(len(pieces)))
                    formula = f"SUM({window})/{ph * pw}" if self._divides() else f"{name}({window})"
                    cells.add(grid.row + i, grid.col + j, formula, **{f"w{k}": piece for k, piece in enumerate(pieces)})
        cells.write()
        return out

    def _placed_windows(self):
        """((i, j), (y0, h), (x0, w)) for every output position."""
        return [((i, j), rows, cols) for i, rows in enumerate(self.windows(0))
                for j, cols in enumerate(self.windows(1))]

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        x, d_x = x.astype(np.float64), np.zeros(self.input_shape)
        for (i, j), (y0, h), (x0, w) in self._placed_windows():
            window = x[y0:y0 + h, x0:x0 + w].reshape(h * w, -1)
            for c in range(self.input_shape[2]):
                if self.kind == "max":
                    first = int(np.argmax(window[:, c]))      # the first maximum, row by row
                    d_x[y0 + first // w, x0 + first % w, c] += grad[i, j, c]
                else:
                    d_x[y0:y0 + h, x0:x0 + w, c] += grad[i, j, c] / self.count(i, j)
        return d_x, ()

    def emit_backward(self, sheet: SheetPlan, x: Planar, out: Planar, grad: Cells, params: Params,
                      book: Book):
        grad = book.original(grad)          # not a copy of it (Book.remember_copy)
        winners = self._emit_winners(sheet, x, out) if self.kind == "max" else None
        what = ("the window's gradient where this cell is the window's winner" if winners else
                "the window's gradient shared equally by its cells")
        sheet.line(f"∂loss/∂input (laid out like the input): for every window holding the cell, {what}",
                   "heading")
        d_x = new_planar(sheet, self.input_shape, role=WEIGHTS)
        channels = self.input_shape[2]
        terms = {}                                     # input (y, x) -> [(output (i, j), its window)]
        for (i, j), (y0, h), (x0, w) in self._placed_windows():
            for y in range(y0, y0 + h):
                for xx in range(x0, x0 + w):
                    terms.setdefault((y, xx), []).append(((i, j), (y - y0) * w + (xx - x0) + 1, self.count(i, j)))
        # one template per input position (which windows hold it, and where); the same for every channel
        templates, which = {}, {}
        for (y, xx), held in terms.items():
            parts = [f"IF({mark(f'w{k}')}={place},{mark(f'g{k}')},0)" if winners else f"{mark(f'g{k}')}/{count}"
                     for k, (_, place, count) in enumerate(held)]
            which[(y, xx)] = templates.setdefault("+".join(parts), len(templates))
        most = max((len(held) for held in terms.values()), default=0)
        at, kinds, order = [], [], []
        grads = [[] for _ in range(most)]
        wins = [[] for _ in range(most)]
        for c, grid in enumerate(d_x.grids):
            for y in range(self.input_shape[0]):
                for xx in range(self.input_shape[1]):
                    if (y, xx) not in which:
                        sheet.put(grid.row + y, grid.col + xx, 0)
                        continue
                    at.append((grid.row + y, grid.col + xx))
                    order.append((y * self.input_shape[1] + xx) * channels + c)     # Keras' flat index
                    kinds.append(which[(y, xx)])
                    held = terms[(y, xx)]
                    for k in range(most):          # a place the template does not use: any cell
                        (i, j), _, _ = held[min(k, len(held) - 1)]
                        grads[k].append(grad.position((i * self.output_shape[1] + j) * channels + c))
                        wins[k].append((winners.grids[c].row + i, winners.grids[c].col + j) if winners else (0, 0))
        if at:
            places = {f"g{k}": _reference(grad, grads[k]) for k in range(most)}
            if winners:
                places.update({f"w{k}": _reference(winners, wins[k]) for k in range(most)})
            formula_templates(sheet, [r for r, _ in at], [c for _, c in at], list(templates), kinds, places)
            book.remember_route(d_x, _route(list(templates), kinds, order, places, int(np.prod(self.input_shape))))
        return d_x, ()

    def _emit_winners(self, sheet: SheetPlan, x: Planar, out: Planar) -> Planar:
        """Which cell of each window holds its maximum first (1 = top left, row by row). A small
        window compares its cells with the maximum in turn (IF(a=max,1,IF(b=max,2,...)): faster in
        LibreOffice than MATCH); a big one finds the first window row whose MAX is the window's
        maximum, and MATCH for the column in that row."""
        sheet.line("The winner of each window: which of its cells holds the maximum first "
                   "(1 = top left, counting row by row)", "heading")
        winners = new_planar(sheet, self.output_shape, role=COUNTS)
        here, compared = sheet.title, Templates(sheet)
        for c, grid in enumerate(winners.grids):
            for (i, j), (y0, h), (x0, w) in self._placed_windows():
                top = out.cell_ref(i, j, c, here)
                if h * w <= COMPARED_AT_MOST:
                    formula = str(h * w)
                    for place in reversed(range(h * w - 1)):
                        formula = f"IF({mark(f'c{place}')}={mark('top')},{place + 1},{formula})"
                    compared.add(grid.row + i, grid.col + j, formula, top=out.grids[c].sub(i, j),
                                 **{f"c{k}": x.grids[c].sub(y0 + k // w, x0 + k % w) for k in range(h * w - 1)})
                    continue
                rows = [x.window_ref(c, y0 + r, x0, 1, w, here) for r in range(h)]
                # a window one column wide: its row is the place (IronCalc's MATCH over one cell is #N/A)
                column = (lambda ref: "1") if w == 1 else (lambda ref: f"MATCH({top},{ref},0)")
                formula = f"{(h - 1) * w}+{column(rows[-1])}" if h > 1 else column(rows[-1])
                for r in reversed(range(h - 1)):
                    found = f"{r * w}+{column(rows[r])}" if r else column(rows[r])
                    formula = f"IF(MAX({rows[r]})={top},{found},{formula})"
                sheet.formula(grid.row + i, grid.col + j, formula)
        compared.write()
        return winners


@dataclass(frozen=True)
class GlobalPool(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kind: str

    @property
    def title(self) -> str:
        return "GlobalMaxPooling2D" if self.kind == "max" else "GlobalAveragePooling2D"

    def describe(self) -> str:
        return f"{self.kind} of each whole channel"

    def reference(self, x: np.ndarray) -> np.ndarray:
        return FUNCTIONS[self.kind][1](x.astype(np.float64), axis=(0, 1))

    def emit(self, sheet: SheetPlan, x: Planar, book: Book, params: Params | None = None) -> Flat:
        name = FUNCTIONS[self.kind][0]
        sheet.line(f"Each cell: the {self.kind} of one whole channel.", "note", skip=1)
        out = new_flat(sheet, self.output_shape, "channel value")
        for c in range(x.channels):
            sheet.formula(out.block.row, out.block.col + c, f"{name}({x.grids[c].ref(sheet.title)})")
        return out

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        x = x.astype(np.float64)
        if self.kind == "average":
            return np.broadcast_to(grad / (x.shape[0] * x.shape[1]), x.shape).copy(), ()
        top = x.max(axis=(0, 1))
        winners = x == top
        return winners * (grad / winners.sum(axis=(0, 1))), ()

    def emit_backward(self, sheet: SheetPlan, x: Planar, out: Flat, grad: Cells, params: Params,
                      book: Book):
        here, cells = sheet.title, x.height * x.width
        counts = None
        if self.kind == "max":
            counts = new_flat(sheet, self.output_shape, "cells holding the maximum")
            for c in range(x.channels):
                sheet.formula(*counts.position(c), f"COUNTIF({x.grids[c].ref(here)},{out.flat_ref(c, here)})")
        what = ("its channel's gradient shared by the cells holding the maximum" if counts else
                f"its channel's gradient shared by all {cells} cells")
        sheet.line(f"∂loss/∂input (laid out like the input): {what}", "heading")
        d_x = new_planar(sheet, self.input_shape, role=WEIGHTS)
        for c, grid in enumerate(d_x.grids):
            g = grad.flat_ref(c, here)
            for y in range(x.height):
                for xx in range(x.width):
                    formula = (f"IF({x.cell_ref(y, xx, c, here)}={out.flat_ref(c, here)},"
                               f"{g}/{counts.flat_ref(c, here)},0)" if counts else f"{g}/{cells}")
                    sheet.formula(grid.row + y, grid.col + xx, formula)
        return d_x, ()


def _check_image(config, shape, reasons) -> None:
    check_channels_last(config, reasons)
    if shape is not None and len(shape) != 3:
        reasons.append(f"its input {tuple(shape)} is not an image (H, W, C)")


@converter("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D")
def pool2d(layer, shape, context: Context) -> Pool2D | None:
    config, reasons = layer.config, []
    _check_image(config, shape, reasons)
    try:
        padding = parse_padding(option(config, "padding", "valid"))
    except ValueError as error:
        reasons.append(str(error))
    pool = whole_pair(config, "pool_size", 2, reasons)
    strides = whole_pair(config, "strides", pool or 2, reasons)
    if not finish(reasons, shape):
        return None
    ceil_mode = bool(option(config, "ceil_mode", False))
    out = tuple(output_size(shape[a], pool[a], strides[a], on_axis(padding, a), ceil_mode) for a in (0, 1))
    if min(out) < 1:
        raise Unsupported(f"a {pool[0]}×{pool[1]} pool does not fit the {shape_text(shape)} input")
    if not isinstance(padding, str) and any(2 * max(on_axis(padding, a)) > pool[a] for a in (0, 1)):
        raise Unsupported(f"padding {padding_text(padding)} is more than half the {pool[0]}×{pool[1]} window")
    kind = "max" if layer.class_name.startswith("Max") else "average"
    return Pool2D(layer.name, tuple(shape), out + (shape[2],), kind, pool, strides, padding, ceil_mode,
                  bool(option(config, "count_include_pad", False)))


@converter("GlobalMaxPooling2D", "GlobalMaxPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D")
def global_pool(layer, shape, context: Context) -> GlobalPool | None:
    config, reasons = layer.config, []
    _check_image(config, shape, reasons)
    if option(config, "keepdims", False):
        reasons.append("keepdims=True is not supported (only False)")
    if not finish(reasons, shape):
        return None
    kind = "max" if "Max" in layer.class_name else "average"
    return GlobalPool(layer.name, tuple(shape), (shape[2],), kind)
