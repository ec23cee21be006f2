"""The Output sheet: the verdict on top (prediction, true label, right or wrong, loss),
then one row per class with its probability and a bar."""

from __future__ import annotations

from dataclasses import dataclass

from ..layout import Flat, Planar, Rect
from ..sheet import BARS, RAW_BARS, SheetPlan
from .words import loss_words

WIDTHS = {1: 36, 2: 14, 3: 44, 4: 24}   # A: 'Loss = −ln(chance of the true label)' in full


@dataclass
class OutputCells:
    probabilities: Rect
    prediction: Rect
    classes: Rect          # the class names, one per row beside the probabilities
    verdict_row: int       # the first row of the verdict (Prediction ...)


LEARN_ROWS = 6             # rows the learning panel needs beside the verdict (excelnet build --learn)


def emit_output_sheet(sheet: SheetPlan, last: Flat | Planar, class_names: list,
                      label: Rect | None, activation: str, description: str, learn: bool = False) -> OutputCells:
    """`activation`: what the last layer applies (softmax: probabilities that add up to 1, with a loss;
    sigmoid: each between 0 and 1; anything else: raw scores). `description` says so in a sentence.
    `learn`: leave room beside the verdict for the learning panel (workbook/learning.py)."""
    here = sheet.title
    is_probability = activation == "softmax"
    in_unit_range = activation in ("softmax", "sigmoid")
    sheet.gridlines = False
    sheet.line("Output: what the network thinks it sees", "title")
    sheet.line(description, "note", skip=1)
    verdict = sheet.next_row
    rows = 1 if label is None else (4 if is_probability else 3)
    rows = max(rows, LEARN_ROWS) if learn else rows
    header = verdict + rows + (2 if label is not None else 1)
    top, count = header + 1, len(class_names)
    probs = sheet.rect(top, 2, count, 1)
    classes = sheet.rect(top, 1, count, 1)
    p, names = probs.ref(here, absolute=True), classes.ref(here, absolute=True)

    sheet.put(verdict, 1, "Prediction", "heading")
    # One output (a sigmoid): its name. IronCalc answers MATCH over one cell with #N/A.
    sheet.formula(verdict, 2, names if count == 1 else f"INDEX({names},MATCH(MAX({p}),{p},0))", "big")
    sheet.merges.append(sheet.rect(verdict, 2, 1, 2))
    prediction = sheet.rect(verdict, 2, 1, 1)
    guess = prediction.ref(here, absolute=True)
    true = None
    if label is not None:
        true = sheet.rect(verdict + 1, 2, 1, 1).ref(here, absolute=True)
        sheet.put(verdict + 1, 1, "True label", "heading")
        sheet.formula(verdict + 1, 2, label.ref(here, absolute=True), "answer")
        sheet.put(verdict + 2, 1, "Correct?", "heading")
        sheet.formula(verdict + 2, 2, f'IF({true}="","",IF({guess}={true},"yes","no"))', "answer")
        correct = sheet.rect(verdict + 2, 2, 1, 1)
        sheet.rules.append((correct, f'{correct.ref(here, True)}="yes"', "good"))
        sheet.rules.append((correct, f'{correct.ref(here, True)}="no"', "bad"))
        if is_probability:
            p_true = f"INDEX({p},MATCH({true},{names},0))"
            sheet.put(verdict + 3, 1, loss_words("the true label"), "heading")
            sheet.formula(verdict + 3, 2, f'IF({true}="","",IF({p_true}>0,-LN({p_true}),"infinite"))', "loss")
            sheet.put(verdict + 3, 3, "0 when the network is sure and right; large when it is wrong", "note")
        sheet.put(verdict + rows, 1, "The true label belongs to the chosen Sample: drawing on the Canvas "
                  "does not change it.", "note")
    sheet.row_heights[verdict] = 40

    sheet.put(header, 1, "class", "heading")
    sheet.put(header, 2, "probability" if in_unit_range else "output", "heading")
    sheet.put(header, 3, "how sure" if in_unit_range else "compared", "heading")
    for k, name in enumerate(class_names):
        row = top + k
        sheet.put(row, 1, name, "class")
        sheet.formula(row, 2, last.flat_ref(k, here), "probability" if in_unit_range else "score")
        sheet.formula(row, 3, f"B{row}")
        mark = f'IF(A{row}={guess},"◀ prediction","")'
        if true is not None:
            mark = (f'IF(A{row}={guess},IF(A{row}={true},"◀ prediction = true label","◀ prediction"),'
                    f'IF(A{row}={true},"◀ true label",""))')
        sheet.formula(row, 4, mark, "marker")
        sheet.row_heights[row] = 21
    sheet.block(sheet.rect(top, 3, count, 1), BARS if in_unit_range else RAW_BARS)
    sheet.rules.append((sheet.rect(top, 1, count, 4), f"$B{top}=MAX({p})", "highlight"))
    sheet.next_row = top + count + 1
    if is_probability:
        _total_row(sheet, top + count, probs)
    sheet.names["Prediction"] = prediction
    sheet.names["Probabilities"] = probs
    sheet.wide_columns = dict(WIDTHS)
    sheet.freeze = (top, 1)
    return OutputCells(probs, prediction, classes, verdict)


def _total_row(sheet: SheetPlan, row: int, probs: Rect) -> None:
    """The probabilities add up to 100%: show it, and why the rounded ones may not."""
    sheet.put(row, 1, "all together", "heading")
    sheet.formula(row, 2, f"SUM({probs.ref(sheet.title)})", "probability")
    sheet.put(row, 3, "each line is rounded to 2 decimals, so the lines may add up to 99.99% or 100.01%", "note")
    sheet.next_row = row + 2
