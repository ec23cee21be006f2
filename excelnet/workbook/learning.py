"""excelnet build --learn: the backward pass, one step of gradient descent and a second
forward pass, all as formulas.

Sheets, after the Output sheet, in the order the computation runs:
- "Back i <layer>", from the last layer to the first: ∂loss/∂(each value) flowing backwards, and
  ∂loss/∂(each weight) laid out like the weights (Grad_<i>_<k>); each layer's op writes them.
- "Step": every trainable weight w − LearningRate × ∂loss/∂w, one section per layer; a Dense kernel
  of more than SHOWN_AT_MOST weights is explained in words, the pass after the step applying the
  step inside each unit's sum (SteppedWeights): 51,200 cells fewer for the shipped model.
- "After the step": the whole forward pass again with the new weights, on the same input.
The Output sheet gets Target, LearningRate, Loss, LossAfter and the probabilities after the
step beside the ones before; the Input sheet gets the saliency ∂loss/∂input beside the Canvas."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ExcelnetError
from ..layout import Cells, Flat, Rect
from ..ops import Network
from ..ops.base import Book, Op, Params, SteppedWeights, WeightCells
from ..ops.core import Dense
from ..ops.elementwise import SoftmaxOp
from ..ops.grad_cells import like, place_weights
from ..sheet import BARS, CONTROL, GRADIENTS, WEIGHTS, SheetPlan, mark
from ..templates import formula_templates
from ..text import formula_string
from .inputs import InputCells
from .outputs import OutputCells
from .words import SALIENCY, loss_words
from .worked_weight import TITLE as WORKED_TITLE, emit_worked_weight, pickable_layers, shown

DEFAULT_RATE = 0.01          # Keras' SGD default
NOT_TRAINED = ("moving mean", "moving variance")   # BatchNormalization statistics: SGD leaves them
NOUNS = {"Conv2D": "filter", "Dense": "unit"}       # what one block of a kernel is
SHOWN_AT_MOST = 10_000   # the Step sheet shows a weight array's new values as cells up to this size


class LearnError(ExcelnetError):
    """The model cannot get learning sheets (the plain workbook still can)."""


def ends_in_softmax(op: Op) -> bool:
    return isinstance(op, SoftmaxOp) or (isinstance(op, Dense) and op.act_name == "softmax")


def learn_problems(network: Network) -> list[str]:
    """Every reason `--learn` cannot be built, naming the layers."""
    problems = []
    last = network.ops[-1]
    if not ends_in_softmax(last):
        problems.append(f"the last layer '{last.name}' ({last.title}) ends in {network.output_activation}, not a "
                        "softmax: the loss −ln(chance of the Target) needs probabilities")
    for index, op in enumerate(network.ops, start=1):
        if ends_in_softmax(op) and op is not last:
            problems.append(f"layer {index} '{op.name}' ({op.title}) has a softmax before the last layer")
        elif not op.has_backward:
            activation = getattr(op, "activation", None)
            what = (f"its activation {activation.name} has no derivative yet"
                    if not getattr(activation, "has_derivative", True) else "has no backward rule yet")
            problems.append(f"layer {index} '{op.name}' ({op.title}) {what}")
    return problems


def check_learnable(network: Network) -> None:
    problems = learn_problems(network)
    if problems:
        raise LearnError("Cannot add the learning sheets (--learn); nothing was written:\n" +
                         "\n".join(f"  - {p}" for p in problems) +
                         "\nWithout --learn the workbook can still be built.")


@dataclass
class LearnCells:
    target: Rect
    rate: Rect
    loss: Rect
    loss_after: Rect
    after: Rect                          # ProbabilitiesAfter
    grads: dict[int, tuple[WeightCells, ...]]
    input_gradient: list[Rect]
    sheets: list[SheetPlan]              # the learning sheets, in book order
    kernels: list                        # PickableLayer of each kernel with a block per unit (One weight, Magnifier)


def emit_learning(book: Book, network: Network, flows: list[tuple[Cells, Cells]], params: dict[int, Params],
                  input_sheet: SheetPlan, inputs: InputCells, output: SheetPlan, verdict: OutputCells,
                  thing: str) -> LearnCells:
    """`flows[i]`: (input, output) cells of op i+1 in the forward pass; `params[i]`: its weights."""
    first_new = len(book.sheets)
    target, rate = _controls(output, verdict, inputs)
    grads, input_grad = _backward(book, network, flows, params, verdict, target)
    saliency = _saliency(input_sheet, inputs, input_grad)
    updated = _step(book, network, params, grads, rate)
    after = _forward_again(book, network, inputs, updated)
    loss, loss_after, after_probs = _before_after(output, verdict, target, after, thing)
    after_sheet = next(k for k, s in enumerate(book.sheets) if s.title == "After the step")
    kernels = pickable_layers(network, params, grads, updated)
    emit_worked_weight(book, kernels, rate, loss, loss_after, after_sheet)
    return LearnCells(target, rate, loss, loss_after, after_probs, grads, saliency, book.sheets[first_new:], kernels)


WHAT = {"backward": "the gradient of each value and weight, flowing backwards", "weights": "the gradient of "
        "each weight, laid out like the weights", "step": "new weights: old − LearningRate × gradient",
        "layer": "the forward pass again, with the new weights",
        "worked": "one weight you pick: new = old − rate × gradient, with its numbers"}


def learning_rows(sheets: list[SheetPlan]) -> list[list]:
    """One row per learning sheet for the Guide's table (sheet, layer, type, what, shape, parameters, formulas)."""
    def kind(s: SheetPlan) -> str:
        return "worked" if s.title == WORKED_TITLE else s.kind

    return [[s.title, "learning", {"backward": "backward", "weights": "gradients", "step": "step",
                                   "layer": "after", "worked": "one weight"}.get(kind(s), kind(s)),
             WHAT.get(kind(s), ""), "", 0, s.formula_count()] for s in sheets]


# --- Output: the controls ------------------------------------------------------------------------

PANEL = 6   # column F: the learning panel and the probabilities after the step


def _controls(sheet: SheetPlan, verdict: OutputCells, inputs: InputCells) -> tuple[Rect, Rect]:
    """Target (starts as the true label; type any class) and LearningRate, both yellow."""
    row, here = verdict.verdict_row, sheet.title
    sheet.put(row, PANEL, "Target", "heading")
    first = sheet.cells[(verdict.classes.row, verdict.classes.col)]
    first = getattr(first, "value", first)
    start = formula_string(first) if isinstance(first, str) else str(first)
    if inputs.label is not None:
        label = inputs.label.ref(here, absolute=True)
        sheet.formula(row, PANEL + 1, f'IF({label}="",{start},{label})')
    else:
        sheet.put(row, PANEL + 1, first)
    target = sheet.block(sheet.rect(row, PANEL + 1, 1, 1), CONTROL)
    sheet.put(row, PANEL + 2, "← the class the network should say: it starts as the true label; "
              "type any class", "note")
    sheet.put(row + 1, PANEL, "LearningRate", "heading")
    sheet.put(row + 1, PANEL + 1, DEFAULT_RATE)
    rate = sheet.block(sheet.rect(row + 1, PANEL + 1, 1, 1), CONTROL)
    sheet.put(row + 1, PANEL + 2, "← the size of the step: every weight becomes old − rate × gradient", "note")
    sheet.names["Target"], sheet.names["LearningRate"] = target, rate
    return target, rate


# --- Backward: from the loss to the input ----------------------------------------------------------

def _backward(book, network, flows, params, verdict: OutputCells, target: Rect):
    count = len(network.ops)
    grads: dict[int, tuple[WeightCells, ...]] = {}
    grad = None
    for index in range(count, 0, -1):
        op, (x, out) = network.ops[index - 1], flows[index - 1]
        sheet = book.add_sheet(f"Back {index} {op.name}", "backward")
        sheet.layer = (op.name, op.title)           # whose sheet it is, for messages (limits.py)
        sheet.line(f"Layer {index}: {op.name} ({op.title}) ← backward: how the loss changes with each value",
                   "title")
        if grad is None:
            grad = _loss_gradient(sheet, out, verdict, target)
        else:
            following = network.ops[index]
            sheet.line(f"It reads ∂loss/∂output from sheet 'Back {index + 1} {following.name}' (the gradient "
                       "of the next layer's input).", "note", skip=1)
        arrays = params.get(index, Params())
        grad, weight_grads = op.emit_backward(sheet, x, out, grad, arrays, book)
        _check_lined_up(op, index, arrays.arrays, weight_grads)
        grads[index] = tuple(weight_grads)
        for k, cells in enumerate(weight_grads, start=1):
            _sheet(book, cells.sheet).names[f"Grad_{index}_{k}"] = cells.areas
        sheet.freeze = (2, 1)
    return grads, grad


def _loss_gradient(sheet: SheetPlan, probs: Flat, verdict: OutputCells, target: Rect) -> Flat:
    """∂loss/∂(values before the softmax) = probability − (1 for the Target class, else 0)."""
    sheet.line(f"{loss_words('the Target')}. Its gradient for the values before the softmax is simply: "
               "chance − 1 for the Target class, the chance itself for every other class.", "note")
    sheet.line("Negative: raising that value lowers the loss; positive: raising it raises the loss.", "note", skip=1)
    here = sheet.title
    grad = like(sheet, probs, "chance − (1 for the Target)")
    t = target.ref(here, absolute=True)
    for k in range(probs.size):
        name = verdict.classes.cell_ref(k, 0, here, absolute=True)
        sheet.formula(*grad.position(k), f"{probs.flat_ref(k, here)}-IF({name}={t},1,0)")
    return grad


def _check_lined_up(op: Op, index: int, weights: tuple[WeightCells, ...], grads) -> None:
    shapes = [[(a.rows, a.cols) for a in cells.areas] for cells in weights]
    if shapes != [[(a.rows, a.cols) for a in cells.areas] for cells in grads]:
        raise AssertionError(f"layer {index} {op.name}: its gradients are not laid out like its weights")


def _sheet(book: Book, title: str) -> SheetPlan:
    return next(s for s in book.sheets if s.title == title)


def _saliency(sheet: SheetPlan, inputs: InputCells, grad: Cells) -> list[Rect]:
    """∂loss/∂input beside the network input on the Input sheet, one grid per Canvas: which
    pixels would make the network surer (orange: negative) or less sure (blue: positive) of the Target."""
    x = inputs.network_input
    grids = list(x.grids) if not isinstance(x, Flat) else [x.block]
    shift = max(g.right for g in grids) + 2 - grids[0].col
    here = sheet.title
    sheet.put(grids[0].row - 1, grids[0].col + shift, f"Saliency (the gradient of each pixel): {SALIENCY}",
              "heading")
    pictures = [sheet.block(Rect(here, g.row, g.col + shift, g.rows, g.cols), GRADIENTS) for g in grids]
    size = x.size if isinstance(x, Flat) else x.height * x.width * x.channels
    for i in range(size):
        row, col = x.position(i)
        sheet.formula(row, col + shift, grad.flat_ref(i, here))
    for k, rect in enumerate(pictures):
        sheet.names["InputGradient" if len(pictures) == 1 else f"InputGradient_{k + 1}"] = rect
    return pictures


# --- One step of gradient descent ------------------------------------------------------------------

def _step(book, network, params, grads, rate: Rect) -> dict[int, Params]:
    """New weights w − rate × ∂loss/∂w, laid out like the weights (trainable arrays only); a kernel
    of more than SHOWN_AT_MOST weights that its layer can read as SteppedWeights gets words instead."""
    sheet = book.add_sheet("Step", "step")
    sheet.line("One step of learning: every weight becomes old − LearningRate × gradient", "title")
    sheet.line("Each cell below is a weight after the step: its old value minus the learning rate times its "
               "gradient (from the Back sheets). The 'After the step' sheet runs the network with them.", "note",
               skip=1)
    updated = {}
    for index, op in enumerate(network.ops, start=1):
        arrays = params.get(index, Params())
        if not arrays.arrays:
            continue
        sheet.line(f"Layer {index}: {op.name} ({op.title})", "heading")
        new = []
        for k, ((label, _), weights, grad) in enumerate(zip(op.weight_arrays(), arrays.arrays, grads[index])):
            if label in NOT_TRAINED:
                sheet.line(f"{label}: not trained (Keras' SGD leaves it as it is)", "note")
                new.append(weights)
            elif op.reads_stepped(k) and _size(weights) > SHOWN_AT_MOST:
                new.append(_step_in_the_sums(book, sheet, op, label, weights, grad, rate))
            else:
                cells = place_weights(weights, sheet, f"new {label}", WEIGHTS, NOUNS.get(op.title, "part"))
                _fill_step(sheet, cells, weights, grad, rate)
                new.append(cells)
        sheet.next_row += 1
        updated[index] = Params(tuple(new), arrays.switches)
    sheet.freeze = (2, 1)
    return updated


def _fill_step(sheet: SheetPlan, cells: WeightCells, weights: WeightCells, grad: WeightCells, rate: Rect) -> None:
    """cells[idx] = weights[idx] − rate × grad[idx]. Relative references: where an area of `cells`
    lines up with whole areas of the weights and gradients, its rows are one formula (faster)."""
    order = list(_indices(weights.shape))
    at = [cells.position(idx) for idx in order]
    one = [Rect(weights.sheet, *weights.position(idx), 1, 1) for idx in order]
    step = [Rect(grad.sheet, *grad.position(idx), 1, 1) for idx in order]
    formula_templates(sheet, [r for r, _ in at], [c for _, c in at], [f"{mark('w')}-{mark('rate')}*{mark('g')}"],
                      None, {"w": one, "rate": rate, "g": step})


def _step_in_the_sums(book: Book, sheet: SheetPlan, op, label: str, weights: WeightCells, grad: WeightCells,
                      rate: Rect) -> SteppedWeights:
    """A big kernel (a Dense layer's 800 × 64 = 51,200 weights) is not copied: the pass after the
    step applies w − rate × g inside each unit's sum. The sheet says so, with one unit as an example."""
    size = _size(weights)
    sheet.line(f"new {label}: its {size:,} weights are not repeated here (they would double the work of every "
               "recalculation).", "note")
    outer = book.outer_product(grad)
    if outer is None:
        sheet.line(f"The step is applied where they are used: on 'After the step', each unit computes SUMPRODUCT("
                   f"inputs, weights on '{weights.sheet}') − LearningRate × SUMPRODUCT(inputs, gradients on "
                   f"'{grad.sheet}'), which is exactly Σ input × (w − LearningRate × ∂loss/∂w).", "note")
    else:
        sheet.line(f"The step is applied where they are used: each gradient on '{grad.sheet}' is (input of the weight) × "
                   "δ of its unit, so on 'After the step' each unit computes SUMPRODUCT(inputs, weights on "
                   f"'{weights.sheet}') − LearningRate × δ × SUMPRODUCT(inputs, inputs before the step), which is "
                   "exactly Σ input × (w − LearningRate × ∂loss/∂w).", "note")
    sheet.line(f"Any new weight is the cell on '{weights.sheet}' − LearningRate × the same cell on '{grad.sheet}'. "
               "For example, the first unit after the step:", "note")
    first = _first_unit(weights)
    if first is not None:
        cells = place_weights(first, sheet, f"new {label}, unit 1", WEIGHTS, "unit")
        _fill_step(sheet, cells, first, _first_unit(grad), rate)
    return SteppedWeights(weights, grad, rate, book.outer_product(grad))


def _first_unit(cells: WeightCells) -> WeightCells | None:
    """Unit 1's weights (kernel[..., 0]) as a WeightCells of their own, when the areas that hold them
    hold nothing else; else None."""
    import numpy as np

    mine = sorted(set(cells.area_index[..., 0].ravel().tolist()))
    if np.isin(cells.area_index[..., 1:], mine).any():
        return None
    renumber = np.zeros(len(cells.areas), dtype=cells.area_index.dtype)
    renumber[mine] = np.arange(len(mine))
    return WeightCells(cells.sheet, tuple(cells.areas[m] for m in mine), renumber[cells.area_index[..., 0]],
                       cells.offsets[..., 0, :])


def _size(cells: WeightCells) -> int:
    import numpy as np

    return int(np.prod(cells.shape))


def _indices(shape):
    import numpy as np

    return np.ndindex(*shape)


def _forward_again(book, network, inputs: InputCells, updated: dict[int, Params]) -> Cells:
    """The forward pass once more, every layer on one sheet, reading the new weights."""
    sheet = book.add_sheet("After the step", "layer")
    sheet.line("After the step: the same picture through the network with the new weights", "title")
    big = any(isinstance(a, SteppedWeights) for p in updated.values() for a in p.arrays)
    sheet.line("Every layer again, top to bottom, each reading its new weights from the Step sheet" +
               (" (a big Dense kernel: its old weights and their gradients, as the Step sheet explains)"
                if big else "") + "; filter switches are the same cells as before.", "note", skip=1)
    x = inputs.network_input
    for index, op in enumerate(network.ops, start=1):
        sheet.line(f"Layer {index}: {op.name} ({op.title})", "heading")
        x = op.emit(sheet, x, book, params=updated.get(index, Params()))
        sheet.next_row += 1
    sheet.freeze = (2, 1)
    return x


# --- Output: before and after ----------------------------------------------------------------------

def _before_after(sheet: SheetPlan, verdict: OutputCells, target: Rect, after: Flat, thing: str):
    """Loss before and after, the probabilities after the step beside the ones before."""
    here, row = sheet.title, verdict.verdict_row
    probs, count = verdict.probabilities, verdict.probabilities.rows
    top = probs.row
    after_probs = sheet.rect(top, PANEL, count, 1)
    names, t = verdict.classes.ref(here, absolute=True), target.ref(here, absolute=True)

    def loss(p: Rect) -> str:
        p_t = f"INDEX({p.ref(here, absolute=True)},MATCH({t},{names},0))"
        return f'IF(ISNUMBER(MATCH({t},{names},0)),IF({p_t}>0,-LN({p_t}),"infinite"),"not a class")'

    sheet.put(row + 2, PANEL, loss_words("the Target"), "heading")
    sheet.formula(row + 2, PANEL + 1, loss(probs), "loss")
    sheet.put(row + 3, PANEL, "Loss after one step", "heading")
    sheet.formula(row + 3, PANEL + 1, loss(after_probs), "loss")
    before, later = (sheet.rect(row + r, PANEL + 1, 1, 1) for r in (2, 3))
    sheet.rules.append((later, f"AND(ISNUMBER({later.ref(here, True)}),{later.ref(here, True)}<"
                               f"{before.ref(here, True)})", "good"))
    sheet.rules.append((later, f"AND(ISNUMBER({later.ref(here, True)}),{later.ref(here, True)}>"
                               f"{before.ref(here, True)})", "bad"))
    a = after_probs.ref(here, absolute=True)
    sheet.put(row + 4, PANEL, "Prediction after", "heading")
    sheet.formula(row + 4, PANEL + 1, f"INDEX({names},MATCH(MAX({a}),{a},0))", "answer")
    b, l = before.ref(here, True), later.ref(here, True)
    sheet.formula(row + 5, PANEL, f'IF(AND(ISNUMBER({b}),ISNUMBER({l})),"one step on this picture: loss "&'
                                  f'{shown(b)}&" → "&{shown(l)},"")', "heading")   # never "loss 0 → 0"
    header = top - 1
    sheet.put(header, PANEL, "after one step", "heading")
    sheet.put(header, PANEL + 1, "how sure after", "heading")
    for k in range(count):
        sheet.formula(top + k, PANEL, after.flat_ref(k, here), "probability")
        sheet.formula(top + k, PANEL + 1, f"{column(PANEL)}{top + k}")
        sheet.formula(top + k, PANEL + 2, f'IF(A{top + k}={t},"◀ Target","")', "marker")
    sheet.block(sheet.rect(top, PANEL + 1, count, 1), BARS)
    sheet.rules.append((sheet.rect(top, PANEL, count, 1), f"${column(PANEL)}{top}=MAX({a})", "highlight"))
    bars = sheet.wide_columns.get(3, 44)        # the same width as "how sure": bars compare
    sheet.wide_columns.update({5: 3, PANEL: 36, PANEL + 1: bars, PANEL + 2: 60})
    names_after = {"Loss": before, "LossAfter": later, "ProbabilitiesAfter": after_probs,
                   "PredictionAfter": sheet.rect(row + 4, PANEL + 1, 1, 1)}
    sheet.names.update(names_after)
    return before, later, after_probs


def column(col: int) -> str:
    from ..layout import column_letter

    return column_letter(col)
