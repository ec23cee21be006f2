"""The Guide sheet: what this is, how to use it, the network in a table, the colours."""

from __future__ import annotations

from ..sheet import ACTIVATIONS, BARS, CONTROL, GRADIENTS, PICTURE, WEIGHTS, SheetPlan
from .words import GLOSSARY, SALIENCY, loss_words

STEPS = [
    "1. Go to the Input sheet. Type a number into the yellow Sample box to load a real test {thing}.",
    "2. Draw your own: type 1 into cells of the yellow Canvas for ink (delete them to go back to the sample), "
    "or type a few strokes (from row, column to row, column) next to it.",
    "3. Walk through the layer sheets, tab by tab: every cell is a plain formula. Click one to read it.",
    "4. The Output sheet shows how sure the network is of each class, its prediction, and whether it is right.",
    "5. Experiment: change a weight, or switch a filter off (its yellow 'on' cell to 0) and watch the prediction.",
    "6. Explain sheet: type a layer, channel, row and column to see how that one cell is computed.",
    "7. Magnifier sheet: any one picture in big print, for a projector: type a group from its list and a "
    "picture number.",
    "If nothing updates, press F9 (Excel) or Ctrl+Shift+F9 (LibreOffice) to recalculate.",
]

NO_SAMPLES_STEP = "1. Go to the Input sheet. There are no sample pictures for this model: the yellow Canvas is the input."

# (tab kind, what it is, how its colours read, example values coloured like that)
LEGEND = [
    ("guide", "Guide", "grey: this Guide", None, []),
    ("input", "Input", "pictures: white = 0 (paper), black = 1 (ink)", PICTURE, [0, 0.5, 1]),
    ("layer", "Layers", "white = 0, blue = positive, orange = negative; each picture has its own scale "
     "(its bluest cell may be 1.2, another's 8.5)", ACTIVATIONS, [-1, 0, 1]),
    ("weights", "Weights", "weights, the same colours: orange = negative, white = zero, blue = positive (each "
     "block has its own scale); you may edit every weight", WEIGHTS, [-1, 0, 1]),
    ("output", "Output", "probabilities as bars; the predicted class is highlighted", BARS, [0.1, 0.5, 0.9]),
    ("explain", "Yellow", "yellow = type here: Sample, Canvas, strokes, filter switches, the Explain sheet's "
     "cells (the Explain and Magnifier tabs are dark yellow)", CONTROL, [1]),
]
# the learning workbook's tabs (--learn)
LEARNING_LEGEND = [
    ("backward", "Back", "red tabs: the backward pass, from the loss to the input; its gradients in the same "
     "orange / white / blue colours", GRADIENTS, [-1, 0, 1]),
    ("step", "Step", "teal tabs: one step of learning (Step, One weight); 'After the step' is a blue layer tab",
     WEIGHTS, [-1, 0, 1]),
]
DATA_LEGEND = ("data", "Samples", "light grey: the sample pictures and their true labels", None, [])
# what green and red mean, and only that
RIGHT_WRONG = "green = right (or better after the step), red = wrong (or worse): never a sign or a size"

LEARNING = [
    "This workbook also shows how the network learns: one step of gradient descent, in formulas.",
    "1. Output sheet: the yellow Target is the class the network should say (it starts as the true label; type "
    "any class). {loss}: near 0 when the network is sure of the Target, large when it is not.",
    "2. Back sheets (red tabs), from the last layer to the first: the backward pass. Each value's gradient "
    "says how much the loss would grow if that value grew a little. The last layer starts it: "
    "chance − 1 for the Target, the chance itself for every other class.",
    "3. Each layer passes the gradient on to its input: a weighted sum passes it back through the same weights, "
    "relu passes it only where its output was positive, max pooling only to the largest value of each window.",
    "4. The gradient of a weight is (the input it multiplied) × (the gradient of what it fed). The gradients are "
    "laid out exactly like the weights and coloured the same way: orange negative, blue positive.",
    "5. Input sheet: the saliency picture is the gradient of each pixel: {saliency}.",
    "6. Step sheet: every weight becomes old − LearningRate × gradient, a small move downhill. Switched-off "
    "filters get no gradient, so they do not change. A big Dense kernel is not copied there: the pass after the "
    "step applies old − LearningRate × gradient inside each unit's sum (the Step sheet explains it). The One "
    "weight sheet shows the rule for one weight you pick, with its numbers.",
    "7. After the step sheet: the same picture through the network with the new weights. The Output sheet shows "
    "the probabilities and the loss before and after side by side.",
    "Experiment: type a wrong Target and watch the step move the probabilities towards it. Then try bigger "
    "LearningRates: a step can overshoot. With Sample 1 (a 7) and Target 3, rate 0.01 takes the loss from 18 "
    "to about 0.94, but rate 0.1 overshoots to about 64 (lesson, Experiment 7).",
]

TABLE_HEADER = ["sheet", "layer", "type", "what each cell computes", "output shape", "parameters", "formula cells"]
WIDTHS = {1: 22, 2: 24, 3: 20, 4: 96, 5: 14, 6: 12, 7: 13}


def emit_guide(sheet: SheetPlan, model_name: str, rows: list[list], source: str, sha256: str,
               skipped: list[tuple[str, str]], thing: str | None = "picture", learn: bool = False,
               normalize: str = "", counts: list[tuple[str, int, int]] = (), explain: bool = True,
               notes: list[str] = (), magnifier: bool = True) -> None:
    """`rows`: one per sheet of the network, in data-flow order, laid out as TABLE_HEADER.
    `thing`: what the samples are in a word ("digit"), None when there are none to pick.
    `explain`, `magnifier`: whether the workbook has those sheets; `notes`: lines to show (e.g. why not)."""
    sheet.gridlines = False
    sheet.line("excelnet: a neural network made of spreadsheet formulas", "title")
    sheet.line(f"This workbook is the trained model '{model_name}'. It looks at a picture and says which class "
               "it shows, using only additions, multiplications, MAX and EXP.", "note")
    sheet.line("No macros: every number you see is either a weight, an input pixel, or a formula you can read.",
               "note", skip=1)
    sheet.line("How to use it", "heading")
    steps = STEPS if thing else [NO_SAMPLES_STEP] + STEPS[1:]
    for step in steps:
        if (explain or "Explain" not in step) and (magnifier or "Magnifier" not in step):
            sheet.line(step.format(thing=thing), "text")
    for note in notes:
        sheet.line(f"Note: {note}.", "note")
    sheet.next_row += 1
    if learn:
        sheet.line("How the network learns", "heading")
        for step in LEARNING:
            sheet.line(step.format(loss=loss_words("the Target"), saliency=SALIENCY), "text")
        sheet.next_row += 1
    _network_table(sheet, rows)
    emit_counts_note(sheet, list(counts))
    if skipped:
        names = ", ".join(f"{name} ({cls})" for name, cls in skipped)
        sheet.line(f"Not shown: {names}; they do nothing once the network is trained.", "note", skip=1)
    _legend(sheet, learn, magnifier)
    emit_glossary(sheet)
    row = sheet.line("model file", "label")
    sheet.put(row, 2, source, "label")
    sheet.names["ModelSource"] = sheet.rect(row, 2, 1, 1)
    row = sheet.line("model SHA-256", "label")
    sheet.put(row, 2, sha256, "label")
    sheet.names["ModelSHA256"] = sheet.rect(row, 2, 1, 1)
    if normalize:      # verify puts the same step in front of the model
        row = sheet.line("input normalised", "label")
        sheet.put(row, 2, normalize, "label")
        sheet.put(row, 3, "mean/std per channel: the first layer computes (x − mean) / std", "note")
        sheet.names["InputNormalize"] = sheet.rect(row, 2, 1, 1)
    sheet.wide_columns = dict(WIDTHS)
    sheet.freeze = (2, 1)


def _network_table(sheet: SheetPlan, rows: list[list]) -> None:
    sheet.line("The network, in the order the data flows (click a sheet name to go there)", "heading")
    header = sheet.next_row
    for k, title in enumerate(TABLE_HEADER):
        sheet.put(header, 1 + k, title, "table-header")
    for r, row in enumerate(rows, start=header + 1):
        for k, value in enumerate(row):
            sheet.put(r, 1 + k, value, "link" if k == 0 else "table")
        sheet.links[(r, 1)] = row[0]
    total = header + len(rows) + 1
    sheet.put(total, 1, "total", "table-total")
    for k in range(1, len(TABLE_HEADER)):
        sheet.put(total, 1 + k, sum(row[k] for row in rows) if k >= 5 else "", "table-total")
    sheet.next_row = total + 2


def _legend(sheet: SheetPlan, learn: bool = False, magnifier: bool = True) -> None:
    sheet.line("Colours (the tabs at the bottom are coloured the same way)", "heading")
    for kind, name, text, role, examples in LEGEND + (LEARNING_LEGEND if learn else []) + [DATA_LEGEND]:
        if not magnifier:
            text = text.replace("the Explain and Magnifier tabs are", "the Explain tab is")
        row = sheet.line(name, f"tab-{kind}")
        sheet.put(row, 2, text, "text")
        for k, value in enumerate(examples):
            sheet.put(row, 5 + k, value)
        if examples:
            sheet.block(sheet.rect(row, 5, 1, len(examples)), role)
        sheet.next_row = row + 1
    sheet.line(RIGHT_WRONG, "note")
    sheet.next_row += 1


def emit_glossary(sheet: SheetPlan) -> None:
    """Plain word, then the Keras term, then what it means."""
    sheet.line("Words (plain word first, the word programmers use after)", "heading")
    for plain, term, meaning in GLOSSARY:
        row = sheet.line(plain, "text")
        sheet.put(row, 2, term, "text")
        sheet.put(row, 4, meaning, "text")
    sheet.next_row += 1


def emit_counts_note(sheet: SheetPlan, helpers: list[tuple[str, int, int]]) -> None:
    """Why a convolution sheet holds more formulas than it has output cells."""
    for title, outputs, copies in helpers:
        sheet.line(f"{title}: {outputs:,} output cells + {copies:,} copies of the input, cut into bands laid "
                   "out like the filters, so that one formula multiplies a whole window at once (that makes it "
                   "several times faster).", "note")
    if helpers:
        sheet.next_row += 1


# The experiments of docs/teaching.md in short form (tests/test_teaching.py keeps them in step).
EXPERIMENTS = [
    ("Experiment 1: pick a digit", "Sample = 1 → Prediction 7; Sample = 3 → Prediction 1"),
    ("Experiment 2: draw a digit, then draw it badly",
     "Sample = 0, Stroke_1 = 5, 14, 24, 14 → 1; the same line at the edge, 5, 3, 24, 3 → 6"),
    ("Experiment 3: switch a filter off", "Sample = 3, Switch_conv1_3 = 0 → channel 3 of conv1 turns white, "
     "Prediction 8"),
    ("Experiment 4: change one weight", "Sample = 1, the bias '7 chances'!E8 = 20 → Prediction 3"),
    ("Experiment 5: follow one cell through the Explain sheet",
     "Sample = 1, Explain layer 3, channel 1, row 4, column 6 → 1.018255, same"),
    ("Experiment 6: read the loss", "Sample = 1 → loss 0.0000; Sample = 63 (a 9 read as a 5) → loss 1.27"),
    ("Experiment 7: take one step of learning", "mnist_cnn_learn.xlsx: Sample = 63, Target = 9, "
     "LearningRate = 0.1 → LossAfter < Loss"),
    ("Experiment 8: follow one weight through the step", "mnist_cnn_learn.xlsx, One weight sheet: Sample = 1, "
     "Target = 3, weight 7, 4, 1, 31 → 0.2149 − 0.01 × (−6.525) = 0.2801"),
]


def emit_experiments(sheet: SheetPlan) -> None:
    """The lesson's experiments in one line each, for the shipped model's workbook."""
    sheet.next_row += 1
    sheet.line("A 45-minute lesson: eight experiments (the full text is docs/teaching.md)", "heading")
    for title, short in EXPERIMENTS:
        row = sheet.line(title.split(": ", 1)[1], "text")
        sheet.put(row, 4, short, "text")
