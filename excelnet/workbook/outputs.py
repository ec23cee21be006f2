"""The Output sheet: one row per class with a bar, the prediction, and how right it was."""

from __future__ import annotations

from dataclasses import dataclass

from ..layout import Flat, Planar, Rect
from ..sheet import PROBABILITIES, SheetPlan


@dataclass
class OutputCells:
    probabilities: Rect
    prediction: Rect


def emit_output_sheet(sheet: SheetPlan, last: Flat | Planar, class_names: list,
                      label: Rect | None, is_probability: bool) -> OutputCells:
    here = sheet.title
    sheet.line("Output: what the network thinks it sees", "title")
    if is_probability:
        sheet.line("Softmax probabilities: how sure the network is of each class. They add up to 1.", "note", skip=1)
    else:
        sheet.line("The model's last layer is not a softmax: these are its raw outputs, not probabilities. "
                   "The prediction is the class with the largest output.", "note", skip=1)
    header = sheet.line("class", "heading")
    sheet.put(header, 2, "probability" if is_probability else "output", "heading")
    top = header + 1
    count = len(class_names)
    for k, name in enumerate(class_names):
        sheet.put(top + k, 1, name, "class")
        sheet.formula(top + k, 2, last.flat_ref(k, here), "probability")
    probs = sheet.block(sheet.rect(top, 2, count, 1), PROBABILITIES)
    classes = sheet.rect(top, 1, count, 1)
    p, names = probs.ref(here, absolute=True), classes.ref(here, absolute=True)
    sheet.next_row = top + count + 1
    row = sheet.line("Prediction", "heading")
    sheet.formula(row, 2, f"INDEX({names},MATCH(MAX({p}),{p},0))", "prediction")
    prediction = sheet.rect(row, 2, 1, 1)
    sheet.names["Prediction"] = prediction
    sheet.names["Probabilities"] = probs
    if label is not None:
        true = label.ref(here, absolute=True)
        row = sheet.line("True label", "heading")
        sheet.formula(row, 2, true, "prediction")
        row = sheet.line("Correct?", "heading")
        sheet.formula(row, 2, f'IF({true}="","",IF({prediction.ref(here, True)}={true},"yes","no"))', "prediction")
        if is_probability:
            row = sheet.line("Loss −ln p(true)", "heading")
            sheet.formula(row, 2, f'IF({true}="","",-LN(INDEX({p},MATCH({true},{names},0))))', "prediction")
    sheet.wide_columns = {1: 16, 2: 14, 3: 40}
    sheet.freeze = (top, 1)
    return OutputCells(probs, prediction)
