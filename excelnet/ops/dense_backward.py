"""Dense's ∂loss/∂input = Σ_j w_ij × δ_j, as few and as fast formulas as the weights' layout allows.

The weights of one input to every unit usually lie evenly spaced down one column of the weights
sheet (one block per unit, stacked with a constant step: input i of unit j at row r_i + step × j).
Then one SUMPRODUCT pairs that column with "δ spaced out like the units": a helper column with δ_j
at row step × j and 0 between. Each input's formula is then the same (relative) formula, so
LibreOffice calculates the whole block as formula groups, reading each weight once in a range
instead of 64 scattered cells per input. Any other layout gets the written-out sum of products."""

from __future__ import annotations

import numpy as np

from ..layout import Flat, Rect, ref, range_ref
from ..sheet import WEIGHTS, SheetPlan
from .base import Book, WeightCells
from .grad_cells import like, sum_of_products

UNITS_PER_FORMULA = 100   # written-out sums: at most this many terms per formula (Excel's 8,192 characters)


def emit_dense_input_gradient(sheet: SheetPlan, x: Flat, kernel: WeightCells, delta: Flat, book: Book) -> Flat:
    inputs, units = kernel.shape
    spacing = _even_spacing(kernel, book) if units > 1 else None     # one unit: w_i × δ is already short
    if spacing is None:
        return _written_out(sheet, x, kernel, delta)
    axis, step = spacing
    spread = _spread_delta(sheet, delta, kernel, axis, step)
    sheet.line(f"∂loss/∂input: for each input, SUMPRODUCT of its weights to the {units} units (every "
               f"{_nth(step)} {'row' if axis == 0 else 'column'} of '{kernel.sheet}') with the δ above", "heading")
    grad_x = like(sheet, x, "∂loss/∂input")
    here, along = sheet.title, (units - 1) * step
    spread_ref = spread.ref(here, absolute=True)
    for i in range(inputs):
        row, col = kernel.position((i, 0))
        weights = range_ref(kernel.sheet, row, col, row + along * (axis == 0), col + along * (axis == 1), here)
        sheet.formula(*grad_x.position(i), f"SUMPRODUCT({weights},{spread_ref})")
    return grad_x


def _nth(step: int) -> str:
    return {1: "", 2: "2nd", 3: "3rd"}.get(step, f"{step}th")


def _even_spacing(kernel: WeightCells, book: Book) -> tuple[int, int] | None:
    """(axis, step) when every input's weights to units 0, 1, 2, ... lie at its first weight's
    position + step × j along one axis (0: down a column, 1: along a row), with nothing but
    weights of this kernel or empty cells in between; else None."""
    inputs, units = kernel.shape
    at = kernel.position_array()                     # (inputs, units, 2): row, col of each weight
    first, second = at[0, 0], at[0, 1]
    axis = 0 if first[1] == second[1] else 1 if first[0] == second[0] else None
    if axis is None:
        return None
    step = int(second[axis] - first[axis])
    if step < 1:
        return None
    start = at[:, :1, :]
    if not ((at[:, :, axis] == start[:, :, axis] + step * np.arange(units)).all()
            and (at[:, :, 1 - axis] == start[:, :, 1 - axis]).all()):
        return None
    return (axis, step) if _only_weights_between(kernel, book, axis, step) else None


def _only_weights_between(kernel: WeightCells, book: Book, axis: int, step: int) -> bool:
    """The SUMPRODUCT ranges read nothing but this kernel's numbers and empty cells."""
    source = next((s for s in book.sheets if s.title == kernel.sheet), None)
    if source is None:
        return False
    if not source.cells:
        return True
    units = kernel.shape[1]
    at = kernel.position_array()
    starts = at[:, 0, :]
    line, first = starts[:, 1 - axis], starts[:, axis]            # per input: its line and first place
    low = np.full(line.max() + 1, np.iinfo(np.int64).max)
    high = np.full(line.max() + 1, -1)
    np.minimum.at(low, line, first)
    np.maximum.at(high, line, first + (units - 1) * step)         # per line: first and last place read
    cells = np.array(list(source.cells), np.int64).reshape(-1, 2)
    on, place = cells[:, 1 - axis], cells[:, axis]
    known = on < len(low)
    inside = np.zeros(len(cells), bool)
    inside[known] = (place[known] >= low[on[known]]) & (place[known] <= high[on[known]])
    width = int(max(at[..., 1].max(), cells[:, 1].max())) + 1      # a cell as one number: row × width + col
    mine = at[..., 0].reshape(-1) * width + at[..., 1].reshape(-1)
    return bool(np.isin(cells[inside, 0] * width + cells[inside, 1], mine).all())


def _spread_delta(sheet: SheetPlan, delta: Flat, kernel: WeightCells, axis: int, step: int) -> Rect:
    """δ_j at place step × j, 0 between: a column (or a row) that lines up with one input's weights."""
    units = kernel.shape[1]
    length, here = (units - 1) * step + 1, sheet.title
    if step == 1:
        sheet.line(f"δ of each unit again, as a {'column' if axis == 0 else 'row'} (like the units on "
                   f"'{kernel.sheet}')", "heading")
    else:
        sheet.line(f"δ of each unit, spaced out like the units' weights on '{kernel.sheet}' (unit j every "
                   f"{_nth(step)} {'row' if axis == 0 else 'column'}, 0 between)", "heading")
    top = sheet.next_row
    rect = sheet.rect(top, 2, length, 1) if axis == 0 else sheet.rect(top + 1, 2, 1, length)
    sheet.block(rect, WEIGHTS)
    for t in range(length):
        j, gap = divmod(t, step)
        row, col = (rect.row + t, rect.col) if axis == 0 else (rect.row, rect.col + t)
        if gap:
            sheet.put(row, col, 0)
            continue
        if axis == 0:
            sheet.put(row, 1, f"unit {j + 1}", "label")
        else:
            sheet.put(rect.row - 1, col, f"unit {j + 1}", "label")
        sheet.formula(row, col, ref(delta.block.sheet, *delta.position(j), here))
    return rect


def _written_out(sheet: SheetPlan, x: Flat, kernel: WeightCells, delta: Flat) -> Flat:
    """Σ_j w_ij × δ_j written out term by term, in parts of at most UNITS_PER_FORMULA units."""
    inputs, units = kernel.shape
    here = sheet.title
    sheet.line(f"∂loss/∂input: for each input, Σ over the {units} units of (its weight to the unit) × δ",
               "heading")
    chunks = [range(start, min(start + UNITS_PER_FORMULA, units)) for start in range(0, units, UNITS_PER_FORMULA)]
    parts = []
    for chunk in chunks:
        part = like(sheet, x, "∂loss/∂input" if len(chunks) == 1 else f"units {chunk[0] + 1}–{chunk[-1] + 1}")
        for i in range(inputs):
            terms = [(kernel.ref((i, j), here), delta.flat_ref(j, here)) for j in chunk]
            sheet.formula(*part.position(i), sum_of_products(terms))
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    grad_x = like(sheet, x, "∂loss/∂input")
    for i in range(inputs):
        sheet.formula(*grad_x.position(i), "+".join(p.flat_ref(i, here) for p in parts))
    return grad_x
