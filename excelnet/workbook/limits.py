"""Excel's hard limits, checked before anything is written.

Two checks: `check_network` estimates, from the layer shapes alone, what each layer's
sheets will need (so a model far too large is refused at once, naming the layer, before
minutes of planning), and `check_limits` measures the finished sheet plans exactly:
rows, columns, formula length, arguments per function and nesting."""

from __future__ import annotations

import math
import re
from itertools import repeat

import numpy as np

from ..errors import SpreadsheetLimitError
from ..layout import MAX_COLS, MAX_ROWS, units_fit_side_by_side
from ..sheet import Formula, SheetPlan

MAX_FORMULA_LENGTH = 8192      # characters, including the leading '='
MAX_ARGUMENTS = 255            # arguments of one function call
MAX_NESTING = 64               # levels of nested function calls
ARRANGE_WIDTH = 120            # columns that grids wrap at (layout.arrange)



def _fail(problems: list[str], advice: str = "") -> None:
    if problems:
        raise SpreadsheetLimitError("The workbook would not fit in a spreadsheet (nothing was written):\n" +
                                    "\n".join(f"  - {p}" for p in problems) + (f"\n{advice}" if advice else ""))


def _over(what: str, need: int, limit: int, unit: str) -> str:
    return f"{what} needs {need:,} {unit}, {need - limit:,} more than Excel's {limit:,}"


SMALLER = "make that layer smaller (fewer channels or units, or a smaller input)"


# --- Before planning: estimates from the shapes -------------------------------------------------

QUESTION_LINES = 6     # under a layer's title: where to find Explain, students' questions, a blank line


def layer_needs(op, input_block: tuple[int, int, int]) -> tuple[dict[str, tuple[int, int]], tuple[int, int, int]]:
    """({sheet: (rows, columns)} this op needs, (rows, cols, maps) of its output when it is a
    vector block).

    `input_block` is the (rows, cols, maps) of the op's input when that is a vector block; maps
    > 1 for feature maps flattened one below the other (layout.Flat)."""
    from ..layout import flat_width
    from ..ops.cells import ruler_width
    from ..ops.convolution import Conv2D
    from ..ops.core import Dense, Gather
    from ..ops.elementwise import ActivationOp, AffineOp, SoftmaxOp

    shape = op.output_shape
    if len(shape) >= 2:                       # planar grids, wrapped like pictures on a page
        height, width = shape[0], shape[1]
        channels = shape[2] if len(shape) == 3 else 1
        ruler = ruler_width(height, width)      # row and column numbers (ops/cells.new_planar)
        per_line = max(1, (ARRANGE_WIDTH + 1) // (width + ruler + 1))
        rows = math.ceil(channels / per_line) * (height + ruler + 2) + 12 + QUESTION_LINES
        cols = min(channels, per_line) * (width + ruler + 1)
        if isinstance(op, Conv2D):              # + the copy of the input, + the filters (ops/convolution.py)
            top, bottom, left, right = op.pads
            h_in, w_in, c_in = op.input_shape
            kh, kw = op.kernel.shape[:2]
            copy_rows = h_in + top + bottom if c_in == 1 else height * (c_in * kh + 1)
            slot_cols = max(kw + 1, 4)
            cols = max(cols, w_in + left + right, slot_cols)
            rows = rows * (1 if op.activation.uses_input == 1 else 2) + copy_rows + \
                math.ceil(shape[2] / max(1, (ARRANGE_WIDTH + 1) // (slot_cols + 1))) * (c_in * kh + 4)
        return {"layer": (rows, cols)}, (0, 0, 1)
    units = shape[0]
    block = (1, units, 1)
    if isinstance(op, Gather):
        block = flat_width(op.input_shape) + (1,) if len(op.input_shape) >= 2 else (1, units, 1)
        if len(op.input_shape) == 3 and op.input_shape[2] > 1:     # maps one below the other
            block = (op.input_shape[0] * op.input_shape[2], op.input_shape[1], op.input_shape[2])
    elif isinstance(op, (ActivationOp, AffineOp, SoftmaxOp)):
        block = input_block                   # same layout as the input
    needs = {"layer": (12 + QUESTION_LINES + 4 * block[0], block[1] + (2 if block[2] > 1 else 1))}  # + 'ch c' 
    if isinstance(op, Dense):
        in_rows, in_cols, maps = input_block
        if maps > 1 and units_fit_side_by_side(units, in_cols):    # units side by side (ops/core.py)
            needs["weights"] = (2 + 4 + in_rows, units * (in_cols + 1) + 1)
        else:                                 # units one below the other
            step = in_rows if in_rows == 1 else in_rows + 1
            needs["weights"] = (2 + 4 + units * step, in_cols + 1)
    return needs, block


# Cells of all kinds. It admits pytorch/examples' MNIST Net (1.42 M cells, most of them fc1's
# 1.18 M weights, which are plain numbers), the first PyTorch CNN most people train.
DEFAULT_CELL_BUDGET = 3_000_000


def layer_cells(op) -> int:
    """About how many cells (formulas, numbers and labels) an op's sheets hold, from its shapes:
    its output, once more when the activation gets its own cells, its weights once, a few labels
    per channel or unit, and for a convolution the copy of its input. Within about 10% of the
    built sheets (tests/test_summary.py)."""
    from ..ops.cells import ruler_width
    from ..ops.convolution import Conv2D
    from ..ops.core import Dense

    shape = op.output_shape
    activation = getattr(op, "activation", None)
    separate = getattr(activation, "uses_input", 1) > 1
    cells = math.prod(shape) * (2 if separate else 1) + op.parameter_count() + 16
    channels = shape[-1] if len(shape) == 3 else 1
    if len(shape) >= 2 and ruler_width(shape[0], shape[1]):     # each picture's row and column numbers
        cells += channels * (shape[0] + shape[1]) * (2 if separate else 1)
    if isinstance(op, Conv2D):          # per filter: its picture's labels, bias, switch, one label per input
        cells += conv_copy_cells(op) + channels * (op.input_shape[-1] + 5)
    elif isinstance(op, Dense):         # per unit: a label and its bias; softmax's parts
        cells += 2 * shape[0] + (2 * shape[0] + 2 if getattr(op, "activation", None) == "softmax" else 0)
    else:
        cells += channels
    return cells


def conv_copy_cells(op) -> int:
    """The cells of a convolution's copy of its input (ops/convolution.py): with one input
    channel a padded copy (none without padding); with several, one band per output row."""
    top, bottom, left, right = op.pads
    h, w, c = op.input_shape
    kh = op.kernel.shape[0]
    if c == 1:
        return (h + top + bottom) * (w + left + right) if any(op.pads) else 0
    return op.output_shape[0] * c * kh * (w + left + right)


def input_cells(shape: tuple[int, ...]) -> int:
    """The Input sheet: the network's input, and for a one-channel picture its canvas and strokes."""
    picture = shape[0] * shape[1] if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1) else 0
    return math.prod(shape) + 2 * picture + 100


def explain_cells(op) -> int:
    """The Explain sheet's part for an op (workbook/explain.py): pictures of its window, filter and
    products, a dense layer's products twice."""
    from ..ops.convolution import Conv2D
    from ..ops.core import Dense
    from ..ops.pooling import Pool2D

    if isinstance(op, Conv2D):
        return 3 * math.prod(op.kernel.shape[:3]) + 2 * op.input_shape[-1] + 30
    if isinstance(op, Pool2D):
        return 2 * math.prod(op.pool) + 20
    if isinstance(op, Dense):
        return 2 * math.prod(op.input_shape) + 4 * op.output_shape[0] + 40
    return 4


def magnifier_cells(network) -> int:
    """The Magnifier sheet (workbook/magnifier.py): a row of the list per group of pictures (the
    input, each layer's maps, twice when the activation has cells of its own, each convolution's
    filters), one block per picture size behind the big grid (up to PER_GROUP pictures each), and
    the big grid with its rulers."""
    from collections import Counter

    from .magnifier import LARGEST, PER_GROUP
    from ..ops.convolution import Conv2D

    groups = []                                   # (pictures, rows, cols)
    shape = network.input_shape
    if len(shape) >= 2:
        groups.append((shape[2] if len(shape) == 3 else 1, shape[0], shape[1]))
    for op in network.ops:
        out = op.output_shape
        if len(out) >= 2:
            separate = getattr(getattr(op, "activation", None), "uses_input", 1) > 1
            groups += [(out[2] if len(out) == 3 else 1, out[0], out[1])] * (2 if separate else 1)
        if isinstance(op, Conv2D):
            kh, kw, c_in, filters = op.kernel.shape
            groups.append((filters, kh * c_in, kw))
    groups = [(n, h, w) for n, h, w in groups if 2 <= h * w and h <= LARGEST and w <= LARGEST]
    if not groups:
        return 0
    pictures = Counter()
    for n, h, w in groups:
        pictures[(h, w)] += n
    height, width = max(h for _, h, _ in groups), max(w for _, _, w in groups)
    blocks = sum(math.ceil(n / PER_GROUP) * (h * w + 1) for (h, w), n in pictures.items())
    rows = sum(math.ceil(n / PER_GROUP) for n, _, _ in groups)
    return blocks + height * width + height + width + 10 * rows + 30


def estimated_cells(network) -> int:
    """Cells of the whole workbook: the Input sheet (canvas, sample, network input), every layer,
    the Explain and Magnifier sheets and the Guide."""
    return (input_cells(network.input_shape) + sum(layer_cells(op) for op in network.ops)
            + sum(explain_cells(op) for op in network.ops) + magnifier_cells(network) + 200)


def check_budget(network, budget: int) -> None:
    """Refuse a workbook larger than `budget` cells before planning it: planning allocates
    every cell, so a few-kB model declaring a 1000 x 1000 input would exhaust the memory."""
    cells = estimated_cells(network)
    if cells > budget:
        biggest = max(network.ops, key=layer_cells, default=None)
        where = f"; the largest layer is '{biggest.name}' ({biggest.title}) with about " \
                f"{layer_cells(biggest):,} cells" if biggest is not None else ""
        raise SpreadsheetLimitError(
            f"The workbook would have about {cells:,} cells, more than the budget of {budget:,} cells "
            f"(--max-cells){where} (nothing was written). To build it anyway, raise the budget, e.g. "
            f"--max-cells {_rounded_up(cells)}; or {SMALLER}. A million formula cells take about 0.8 GB "
            "to build (a million weights about 0.2 GB) and make every recalculation slower.")


def _rounded_up(cells: int) -> int:
    """A budget to suggest: the estimate rounded up to the next 100,000."""
    return -(-cells // 100_000) * 100_000


def check_network(network, budget: int = DEFAULT_CELL_BUDGET) -> None:
    """Refuse, naming the layer and by how much, a model whose sheets cannot fit in Excel
    or in the cell budget."""
    from ..layout import flat_width

    problems = []
    shape = network.input_shape
    block = flat_width(shape) + (1,) if len(shape) == 1 else (0, 0, 1)
    if len(shape) == 1 and block[1] + 4 > MAX_COLS:
        problems.append(_over(f"the input of {block[1]:,} values (one row on the Input sheet)",
                              block[1] + 4, MAX_COLS, "columns"))
    for op in network.ops:
        needs, out_block = layer_needs(op, block)
        for sheet, (rows, cols) in needs.items():
            what = f"layer '{op.name}' ({op.title}){' weights' if sheet == 'weights' else ''}"
            if rows > MAX_ROWS:
                problems.append(_over(what, rows, MAX_ROWS, "rows"))
            if cols > MAX_COLS:
                problems.append(_over(what, cols, MAX_COLS, "columns"))
        block = out_block
    _fail(problems, f"To build it, {SMALLER}: a spreadsheet cannot hold more rows or columns.")
    check_budget(network, budget)


# --- After planning: the exact sheets ----------------------------------------------------------

def _who(sheet: SheetPlan) -> str:
    """'layer 'conv' (Conv2D) on sheet '2 conv'', from the layer the sheet belongs to."""
    if sheet.layer is None:
        return f"sheet '{sheet.title}'"
    name, kind = sheet.layer
    if sheet.kind == "weights":
        return f"the weights of layer '{name}' on sheet '{sheet.title}'"
    return f"layer '{name}' ({kind}) on sheet '{sheet.title}'"


def function_problems(expression: str) -> tuple[int, int]:
    """(most arguments of one function call, deepest nesting of calls) in a formula."""
    most, deepest = 0, 0
    stack: list[int] = []          # argument counts of the open calls
    quoted = None
    for i, ch in enumerate(expression):
        if quoted:
            if ch == quoted:
                quoted = None
            continue
        if ch in "\"'":
            quoted = ch
        elif ch == "(":
            stack.append(1 if i + 1 < len(expression) and expression[i + 1] != ")" else 0)
            deepest = max(deepest, len(stack))
        elif ch == ")" and stack:
            most = max(most, stack.pop())
        elif ch == "," and stack:
            stack[-1] += 1
    return most, deepest


# All that function_problems reads: quotes, brackets and commas. Each quoted text and each run of
# anything else becomes one 'x' (a bracket then 'x' still opens a call with an argument).
_SKELETON = re.compile(r"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|[^(),\"']+")


def call_skeleton(expression: str) -> str:
    """The formula reduced to what function_problems reads, which gives the same answer for it:
    formulas of one shape (differing only in their references) have one skeleton."""
    return _SKELETON.sub("x", expression)


def check_limits(sheets: list[SheetPlan]) -> None:
    """Refuse, naming the layer (or sheet) and by how much, anything Excel could not open."""
    problems = []
    for sheet in sheets:
        who = _who(sheet)
        rows, cols = sheet.extent()
        if rows > MAX_ROWS:
            problems.append(_over(who, rows, MAX_ROWS, "rows"))
        if cols > MAX_COLS:
            problems.append(_over(who, cols, MAX_COLS, "columns"))
        formulas = [v.expression for v in sheet.cells.values() if type(v) is Formula]
        longest = max(map(len, formulas), default=-1) + 1
        arguments, nesting = 0, 0
        # Only a formula with that many commas or brackets can break the other limits.
        commas, brackets = (np.fromiter(map(str.count, formulas, repeat(ch)), np.int64, len(formulas)) for ch in ",(")
        counted = {}      # skeleton -> its problems: the Explain sheet has 800 such formulas of one shape
        for i in np.flatnonzero((commas >= MAX_ARGUMENTS) | (brackets > MAX_NESTING)).tolist():
            skeleton = call_skeleton(formulas[i])
            if skeleton not in counted:
                counted[skeleton] = function_problems(skeleton)
            most, deepest = counted[skeleton]
            arguments, nesting = max(arguments, most), max(nesting, deepest)
        if longest > MAX_FORMULA_LENGTH:
            problems.append(f"{who} has a formula of {longest:,} characters, "
                            f"{longest - MAX_FORMULA_LENGTH:,} more than Excel's {MAX_FORMULA_LENGTH:,}")
        if arguments > MAX_ARGUMENTS:
            problems.append(f"{who} has a function call with {arguments:,} arguments, "
                            f"{arguments - MAX_ARGUMENTS:,} more than Excel's {MAX_ARGUMENTS}")
        if nesting > MAX_NESTING:
            problems.append(f"{who} nests functions {nesting} deep, {nesting - MAX_NESTING} more than "
                            f"Excel's {MAX_NESTING}")
    _fail(problems)
