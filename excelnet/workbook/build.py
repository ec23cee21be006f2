"""From a Network to the plans of every sheet, in the order a student reads them."""

from __future__ import annotations

import re

import numpy as np
from dataclasses import dataclass, field

from ..errors import ExcelnetError, SpreadsheetLimitError
from ..layout import Cells
from ..ops import Network
from ..ops.base import Book, Params
from ..ops.cells import shape_text
from ..sheet import SWITCH, SheetPlan
from ..text import safe_name
from .explain import LayerCells, emit_explain
from .guide import emit_experiments, emit_guide
from .limits import check_limits
from .inputs import Samples, emit_digits, emit_input_sheet, matching
from .naming import SheetNamer
from .class_labels import label_last_layer
from .words import make_plain
from .learning import check_learnable, emit_learning, learning_rows
from .magnifier import TITLE as MAGNIFIER, emit_magnifier, kernel_pictures, picture_groups
from .words import student_questions
from .outputs import emit_output_sheet



@dataclass
class WorkbookPlan:
    sheets: list[SheetPlan]
    network: Network
    params: dict[int, Params] = field(default_factory=dict)   # layer number -> where its weights are
    outputs: dict[int, tuple[str, Cells]] = field(default_factory=dict)  # layer number -> (its sheet, its output)
    notes: list[str] = field(default_factory=list)   # one line each, e.g. a teaching sheet left out and why

    @property
    def formula_cells(self) -> int:
        return sum(sheet.formula_count() for sheet in self.sheets)


def class_names(network: Network, labels: list[str] | None) -> list:
    count = network.output_shape[0] if len(network.output_shape) == 1 else 0
    if count == 0:
        raise ExcelnetError(f"the model's output {network.output_shape} is not a vector of class scores")
    if labels is None:
        return list(range(count))
    if len(labels) != count:
        raise ExcelnetError(f"--labels gives {len(labels)} names but the model has {count} outputs")
    return [int(l) if l.isdigit() and l.isascii() else safe_name(l) for l in labels]


def name_switches(sheet: SheetPlan, layer: str) -> None:
    """Give each filter's on/off cell a defined name, Switch_<layer>_<k> (k from 1), so a teacher
    (or a test) can find it from the Name Box."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", layer)
    switches = [rect for rect, role in sheet.blocks if role == SWITCH]
    for k, rect in enumerate(switches, start=1):
        sheet.names[f"Switch_{safe}_{k}"] = rect


def merge_params(recorded: list[Params]) -> Params:
    return Params(tuple(c for p in recorded for c in p.arrays), tuple(s for p in recorded for s in p.switches))


def name_weights(book: Book, index: int, params: Params) -> None:
    """Weights_<i>_<k>: layer i's k-th weight array (Keras' get_weights() order, k from 1), one
    area per block a student sees, in the order WeightCells lists them."""
    sheets = {sheet.title: sheet for sheet in book.sheets}
    for k, cells in enumerate(params.arrays, start=1):
        sheets[cells.sheet].names[f"Weights_{index}_{k}"] = cells.areas


def helper_counts(title: str, op, formulas: int) -> list[tuple[str, int, int]]:
    """(sheet, output cells, helper copies) of a convolution whose sheet holds copies."""
    if op.title != "Conv2D":
        return []
    outputs = int(np.prod(op.output_shape)) * (2 if op.activation.uses_input > 1 else 1)
    return [(title, outputs, formulas - outputs)] if formulas > outputs else []


def weight_sheet_rows(sheets: list[SheetPlan], op) -> list[list]:
    """A row in the Guide's table for each sheet that holds a layer's weights (counted on the layer's row)."""
    return [[made.title, op.name, "weights", f"the weights of {op.name}: one block per unit, you may edit them",
             "", 0, 0] for made in sheets]


def is_shipped(network: Network) -> bool:
    """The shipped MNIST model: the lesson's experiments (docs/teaching.md) fit its workbook."""
    from ..assets import DEFAULT_MODEL
    import hashlib

    return network.spec.sha256 == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()


def point_to_explain(sheet: SheetPlan, index: int) -> tuple[SheetPlan, int]:
    """A line on a layer's sheet that leads to Explain; returns where it is (taken out with Explain)."""
    row = sheet.line(f"To see how one cell is computed, go to the Explain sheet and type {index} as the layer, "
                     "then the cell's channel, row and column.", "note")
    return sheet, row


def add_explain_sheet(book: Book, layers: list[LayerCells]) -> SheetPlan:
    """The Explain sheet, after Output: pick any cell of any layer and see it computed step by step."""
    sheet = book.add_sheet("Explain", "explain")
    emit_explain(sheet, layers)
    return sheet


def add_magnifier(book: Book, network: Network, params: dict[int, Params], learned: list, after: SheetPlan) \
        -> tuple[SheetPlan | None, str | None]:
    """The Magnifier sheet, right after `after` (Explain, or Output): any one picture big, for a
    projector. None when no picture has two cells or more; (None, why) when it would break a
    spreadsheet limit (a teaching sheet never blocks the network)."""
    groups, left_out = picture_groups(book.sheets, kernel_pictures(network, params, learned))
    if not groups:
        return None, None
    sheet = book.add_sheet(MAGNIFIER, "magnifier")
    book.sheets.insert(book.sheets.index(after) + 1, book.sheets.pop())
    layer_sheets = {s.title for s in book.sheets if s.kind == "layer"}
    default = next((n for n, g in enumerate(groups, start=1) if g.sheet in layer_sheets), 1)
    emit_magnifier(sheet, groups, default, left_out)
    why_not = left_out_if_too_big(book, sheet)
    return (None, why_not) if why_not else (sheet, None)


def left_out_if_too_big(book: Book, sheet: SheetPlan) -> str | None:
    """None when a teaching sheet fits Excel's limits; else it is taken out of the book and one
    line says why: a teaching sheet never blocks the network (no formula of it grows with the
    model, so this is a safety net)."""
    try:
        check_limits([sheet])
    except SpreadsheetLimitError as error:
        book.sheets.remove(sheet)
        reason = str(error).split("\n  - ", 1)[-1].replace(f"sheet '{sheet.title}' has", "it would have")
        return f"the {sheet.title} sheet was left out: {reason}; the network is complete without it"
    return None


def explain_or_why_not(book: Book, layers: list[LayerCells], pointers: list[tuple[SheetPlan, int]]) \
        -> tuple[SheetPlan | None, str | None]:
    """The Explain sheet, or (None, one line saying why it was left out) when it would break a
    spreadsheet limit: a teaching sheet never blocks the network (no formula of it grows with the
    model, so this is a safety net). The layer sheets' lines that lead to it go with it."""
    sheet = add_explain_sheet(book, layers)
    why_not = left_out_if_too_big(book, sheet)
    if why_not:
        for layer_sheet, row in pointers:
            layer_sheet.erase(row, 1)
        return None, why_not
    return sheet, None


def plan_workbook(network: Network, samples: Samples | None = None,
                  labels: list[str] | None = None, learn: bool = False,
                  maps_side_by_side: bool | None = None, teaching: bool = True,
                  check: bool = True) -> WorkbookPlan:
    """`learn`: add the backward pass, one gradient-descent step and the forward pass after it.
    `maps_side_by_side`: Flatten's layout (ops/base.py, Book); by default what `learn` needs.
    `teaching` False (--network-only): no Explain sheet and no lesson on the Guide; the Guide's
    table and its record of the model (verify reads it) stay. `check` False: skip the final check
    of Excel's limits (verify re-plans a workbook that exists)."""
    names = class_names(network, labels)
    if learn:
        check_learnable(network)
    samples = matching(samples, network.input_shape)
    book = Book(SheetNamer(), learn if maps_side_by_side is None else maps_side_by_side)
    guide = book.add_sheet("Guide", "guide")
    input_sheet = book.add_sheet("Input", "input")
    data = digits = None
    if samples is not None:
        data = book.add_sheet("Samples", "data")
        digits = emit_digits(data, samples, names, network.input_shape)
    thing = "digit" if names == list(range(10)) and network.input_shape in ((28, 28, 1), (28, 28)) else "picture"
    inputs = emit_input_sheet(input_sheet, network.input_shape, samples, digits, thing)
    for k, rect in enumerate(inputs.canvas):
        input_sheet.names["Canvas" if len(inputs.canvas) == 1 else f"Canvas_{k + 1}"] = rect
    if inputs.sample is not None:
        input_sheet.names["Sample"] = inputs.sample
        input_sheet.names["Label"] = inputs.label
    x = inputs.network_input
    params: dict[int, Params] = {}
    explained: list[LayerCells] = []
    counts: list[tuple[str, int, int]] = []
    outputs: dict[int, tuple[str, Cells]] = {}
    flows = []                                  # (input, output) cells of each op, for the backward pass
    pointers: list[tuple[SheetPlan, int]] = []   # the layer sheets' lines that lead to Explain
    notes: list[str] = []
    layer_rows = [[input_sheet.title, "input", "Input", "the picture the network reads: a sample, or your drawing",
                   shape_text(network.input_shape), 0, input_sheet.formula_count()]]
    for index, op in enumerate(network.ops, start=1):
        sheet = book.add_sheet(f"{index} {op.name}", "layer")
        sheet.line(f"Layer {index}: {op.name} ({op.title}) → output {shape_text(op.output_shape)}", "title")
        if teaching:
            pointers.append(point_to_explain(sheet, index))
        else:            # the same rows either way: verify's trace plans the layer sheets with it
            sheet.next_row += 1
        for question in student_questions(op):
            sheet.line(question, "note")
        sheet.next_row += 1
        before, recorded = len(book.sheets), len(book.params)
        x_in, x = x, op.emit(sheet, x, book)
        flows.append((x_in, x))
        outputs[index] = (sheet.title, x)
        name_switches(sheet, op.name)
        params[index] = merge_params(book.params[recorded:])
        name_weights(book, index, params[index])
        explained.append(LayerCells(index, op, sheet.title, x_in, x, params[index]))
        for made in [sheet] + book.sheets[before:]:       # the layer's sheet and its weight sheets
            made.freeze = made.freeze or (2, 1)
            made.layer = (op.name, op.title)               # whose sheet it is, for messages (limits.py)
        formulas = sum(s.formula_count() for s in [sheet] + book.sheets[before:])
        layer_rows.append([sheet.title, op.name, op.title, op.describe(), shape_text(op.output_shape),
                           op.parameter_count(), formulas])
        layer_rows.extend(weight_sheet_rows(book.sheets[before:], op))
        counts.extend(helper_counts(sheet.title, op, formulas))
    output = book.add_sheet("Output", "output")
    verdict = emit_output_sheet(output, x, names, inputs.label, network.output_activation,
                                network.output_description, learn)
    explain = None
    if teaching:                                       # right after Output, before any learning sheets
        explain, left_out = explain_or_why_not(book, explained, pointers)
        notes += [left_out] if left_out else []
    learning = None
    if learn:
        learning = emit_learning(book, network, flows, params, input_sheet, inputs, output, verdict, thing)
    magnifier = None
    if teaching:
        magnifier, left_out = add_magnifier(book, network, params, learning.kernels if learning else [],
                                            explain or output)
        notes += [left_out] if left_out else []
    layer_rows.append([output.title, "output", "Output", "probability of each class, prediction, loss",
                       shape_text(network.output_shape), 0, output.formula_count()])
    if learning is not None:
        layer_rows += learning_rows(learning.sheets)
    if explain is not None:
        layer_rows.append([explain.title, "explain", "Explain", "how one cell of any layer is computed, step by step",
                           "", 0, explain.formula_count()])
    if magnifier is not None:
        layer_rows.append([magnifier.title, "magnifier", "Magnifier", "any one picture in big print, for a projector",
                           "", 0, magnifier.formula_count()])
    if data is not None:
        layer_rows.append([data.title, "samples", "data", "the sample pictures and their true labels",
                           f"{len(samples.labels)} pictures", 0, 0])
    last = len(network.ops)
    label_last_layer(book.sheets, last, network.ops[-1].name, names)   # "class 3", not "unit 4"
    make_plain([s for s in book.sheets if s is not guide])   # the Guide's glossary keeps the symbols
    spec = network.spec
    emit_guide(guide, network.name, layer_rows, spec.source, spec.sha256, list(network.skipped),
               thing if samples is not None else None, learn=learn,
               normalize=str(spec.extra.get("normalize", "")), counts=counts, explain=explain is not None,
               notes=notes, magnifier=magnifier is not None)
    if teaching and is_shipped(network):
        emit_experiments(guide)
    sheets = [s for s in book.sheets if s is not data] + ([data] if data else [])  # data last
    if check:
        check_limits(sheets)
    return WorkbookPlan(sheets, network, params, outputs, notes)
