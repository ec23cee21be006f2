"""PReLU: a leaky ReLU whose slope alpha is learned, one per cell or shared along axes.

Each value is MAX(0, x) + alpha·MIN(0, x): x when positive, alpha·x when negative, as
Keras computes relu(x) − alpha·relu(−x). The alphas are weights: editable cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Cells, Flat, Planar
from ..sheet import WEIGHTS, SheetPlan
from .base import Book, Context, Op, Params, Unsupported, WeightCells, block_cells, converter, finish
from .backward import mirror
from .cells import new_flat, new_planar, same_layout
from .elementwise import same_layout_gradient


def alpha_shape(config: dict, shape) -> tuple:
    """The input shape with every shared axis (1-based, as Keras counts them) set to 1."""
    shared = config.get("shared_axes") or []
    shared = [shared] if isinstance(shared, int) else shared
    return tuple(1 if k + 1 in shared else d for k, d in enumerate(shape))


def shared_axes_problem(config: dict, shape) -> str | None:
    shared = config.get("shared_axes") or []
    shared = [shared] if isinstance(shared, int) and not isinstance(shared, bool) else shared
    rank = len(shape) if shape is not None else 3
    if not isinstance(shared, list) or not all(isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= rank
                                               for a in shared):
        return f"shared_axes={config.get('shared_axes')!r} is not a list of axes from 1 to {rank}"
    return None


@dataclass(frozen=True)
class PReLUOp(Op):
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    alpha: np.ndarray               # same rank as the input; 1 along shared axes
    title = "PReLU"

    def weight_arrays(self) -> tuple[tuple[str, np.ndarray], ...]:
        return (("alpha", self.alpha),)

    def parameter_count(self) -> int:
        return self.alpha.size

    def describe(self) -> str:
        return f"x when positive, else alpha × x ({self.alpha.size} learned alpha value(s))"

    def reference(self, x: np.ndarray) -> np.ndarray:
        x, alpha = x.astype(np.float64), self.alpha.astype(np.float64)
        return np.maximum(x, 0) + alpha * np.minimum(x, 0)

    def _alpha_index(self, index: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(0 if n == 1 else i for i, n in zip(index, self.alpha.shape))

    def emit(self, sheet: SheetPlan, x: Cells, book: Book, params: Params | None = None) -> Cells:
        sheet.line("Each cell: MAX(0, x) + alpha × MIN(0, x), where x is the same cell in the layer "
                   "before and alpha its slope below (editable).", "note", skip=1)
        if params is None:
            params = book.record(Params((self._emit_alpha(sheet, x),)))
        alpha = params.arrays[0]
        out = same_layout(sheet, x, "value")
        here = sheet.title
        for index in np.ndindex(*self.input_shape):
            if isinstance(x, Planar):
                y, xx, c = (index + (0,))[:3]
                source, target = x.cell_ref(y, xx, c, here), out.grids[c]
                row, col = target.row + y, target.col + xx
            else:
                source, (row, col) = x.flat_ref(index[0], here), out.position(index[0])
            a = alpha.ref(self._alpha_index(index), here)
            sheet.formula(row, col, f"MAX(0,{source})+{a}*MIN(0,{source})")
        return out

    def backward_reference(self, x: np.ndarray, grad: np.ndarray):
        """Keras computes relu(x) − alpha·relu(−x); with relu'(0) = 0 the slope at exactly 0 is 0."""
        x, grad = x.astype(np.float64), np.asarray(grad, dtype=np.float64)
        alpha = np.broadcast_to(self.alpha.astype(np.float64), x.shape)
        slope = np.where(x > 0, 1.0, np.where(x < 0, alpha, 0.0))
        shared = tuple(k for k, n in enumerate(self.alpha.shape) if n == 1 and x.shape[k] != 1)
        d_alpha = (grad * np.minimum(x, 0)).sum(axis=shared, keepdims=True).reshape(self.alpha.shape)
        return grad * slope, (d_alpha,)

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: Book):
        alpha, here = params.arrays[0], sheet.title
        sheet.line("∂loss/∂input = ∂loss/∂output × slope (1 where x > 0, alpha where x < 0, 0 at 0)", "heading")
        d_x = same_layout_gradient(sheet, x)
        sheet.line("∂loss/∂output × MIN(0, x): what each cell adds to its alpha's gradient", "heading")
        parts = same_layout_gradient(sheet, x)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, index in enumerate(np.ndindex(*self.input_shape)):
            a = alpha.ref(self._alpha_index(index), here)
            g, v = grad.flat_ref(i, here), x.flat_ref(i, here)
            sheet.formula(*d_x.position(i), f"{g}*IF({v}>0,1,IF({v}<0,{a},0))")
            sheet.formula(*parts.position(i), f"{g}*MIN(0,{v})")
            groups.setdefault(self._alpha_index(index), []).append(i)
        d_alpha = mirror(sheet, alpha, "∂loss/∂alpha: the sum of its cells above", ["alpha"] * len(alpha.areas))
        for index, members in groups.items():
            sheet.formula(*d_alpha.position(index), _sum_of(parts, members, here))
        return d_x, (d_alpha,)

    def _emit_alpha(self, sheet: SheetPlan, x: Cells) -> WeightCells:
        """The alphas as numbers: one grid per channel for a picture, a block for a vector."""
        sheet.line("alpha (editable weights)", "heading")
        if isinstance(x, Planar):
            cells = new_planar(sheet, self.alpha.shape, "alpha", role=WEIGHTS)
            grids = cells.grids

            def place(idx):
                return ((idx[2] if len(idx) == 3 else 0), idx[0], idx[1])
        else:
            size = self.alpha.size
            block = (x.block.rows, x.block.cols) if size == x.size else (1, 1)
            flat: Flat = new_flat(sheet, (size,), None, role=WEIGHTS, block=block)
            grids = [flat.block]

            def place(idx):
                row, col = flat.position(idx[0])
                return 0, row - flat.block.row, col - flat.block.col
        weights = block_cells(sheet.title, grids, self.alpha.shape, place)
        for idx in np.ndindex(*self.alpha.shape):
            sheet.put(*weights.position(idx), float(self.alpha[idx]), "weight")
        return weights


def _sum_of(cells: Cells, members: list[int], here: str) -> str:
    """SUM of the elements `members` (Keras' flat order): whole channel grids or blocks where they
    are complete, single cells otherwise, at most 255 arguments to a SUM."""
    refs = []
    areas = cells.grids if isinstance(cells, Planar) else (cells.block,)
    positions = {cells.position(i): i for i in members}
    for area in areas:
        inside = [(r, c) for (r, c) in positions if area.row <= r <= area.bottom and area.col <= c <= area.right]
        if len(inside) == area.rows * area.cols:
            refs.append(area.ref(here))
        else:
            refs.extend(f"{cells.flat_ref(positions[p], here)}" for p in sorted(inside))
    chunks = [refs[k:k + 255] for k in range(0, len(refs), 255)]
    return "+".join(f"SUM({','.join(chunk)})" for chunk in chunks)


@converter("PReLU")
def prelu(layer, shape, context: Context) -> PReLUOp | None:
    """The alpha weights were checked against the input and shared_axes (ops/weights.py)."""
    problem = shared_axes_problem(layer.config, shape)
    if not finish([problem] if problem else [], shape):
        return None
    alpha = np.asarray(layer.weights[0])
    if alpha.ndim != len(shape):
        raise Unsupported(f"its alpha has shape {alpha.shape}, not one of rank {len(shape)}")
    return PReLUOp(layer.name, tuple(shape), tuple(shape), alpha)
