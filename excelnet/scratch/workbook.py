"""`excelnet build --from-scratch`: a workbook that trains a small CNN from random weights by
mini-batch SGD, every forward pass, gradient and update a plain formula.

Sheets, in tab order: Guide, Start (the initial weights: constants to edit), Step 1 .. Step N (one
SGD step each, see layout.py), Held out (the final weights on 300 pictures never trained on),
Training (rate, loss per step and its chart, held-out accuracy, the filters as they learn, a
step's pictures; the workbook opens on it), Data (the 1,797 digits). The cached value of each formula is the float64 reference's (recipe.py), so a
viewer that does not calculate shows the same numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..layout import quote_sheet
from ..sheet import ACTIVATIONS, CONTROL, GRADIENTS, PICTURE, WEIGHTS, SheetPlan
from .layout import (ACTS, BLOCK_COL, DATA_PIXELS, DATA_STRIDE, DATA_TOP, DELTAS, DENSE_BIAS, EXPS, GUESS, LABEL,
                     LOGITS, LOSS, MAX, NUMBER, RIGHT, TOP, TOTAL, StepLayout, activation, col, data_row)
from .recipe import CLASSES, FILTERS, FLAT, KERNEL, OUT, SIDE, Recipe, Run, Weights, train

RATE_CELL = "Training!$B$3"
SHOW_STEP = (5, 2)                 # Training!B5: the step whose pictures are shown
TABLE = 9                          # Training: first step row (step 0 is not a row: it has no loss)
AVERAGE_OVER = 10                  # the moving average of the loss spans this many steps
CHART_COL = 6                      # Training: the chart's left column (F)
BATCH_COL = 84                     # Training: picture numbers of each step (CF..), then guesses: right of the pictures


def step_title(step: int) -> str:
    return "Start" if step == 0 else f"Step {step}"


@dataclass
class Formulas:
    """A sheet's formulas with the reference's value of each, added block by block."""

    rows: list = field(default_factory=list)
    cols: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    values: list = field(default_factory=list)

    def add(self, rows, cols, texts, values) -> None:
        self.rows += np.asarray(rows).reshape(-1).tolist()
        self.cols += np.asarray(cols).reshape(-1).tolist()
        self.texts += list(texts)
        self.values += [float(v) for v in np.asarray(values, np.float64).reshape(-1)]
        assert len(self.rows) == len(self.cols) == len(self.texts) == len(self.values)

    def into(self, sheet: SheetPlan, style: str | None = None) -> tuple[list, list, list]:
        sheet.insert_formulas(np.array(self.rows, np.int64), np.array(self.cols, np.int64), self.texts, style)
        return self.rows, self.cols, self.values


@dataclass
class FromScratch:
    sheets: list[SheetPlan]
    values: dict[str, tuple[list, list, list]]
    run: Run
    formula_cells: int


def plan_workbook(recipe: Recipe, run: Run | None = None) -> FromScratch:
    run = run or train(recipe)
    layout = StepLayout(recipe.batch)
    values: dict[str, tuple] = {}
    guide = SheetPlan("Guide", "guide")
    training = SheetPlan("Training", "output")
    start = SheetPlan("Start", "weights")
    _weights_sheet(start, layout, run.plan.initial)
    steps = []
    for s in range(1, recipe.steps + 1):
        sheet = SheetPlan(step_title(s), "step")
        values[sheet.title] = _step_sheet(sheet, layout, run, s).into(sheet)
        steps.append(sheet)
    held = SheetPlan("Held out", "layer")
    values[held.title] = _held_out_sheet(held, layout, run, recipe.steps).into(held)
    data = SheetPlan("Data", "input")
    _data_sheet(data, run)
    values[training.title] = _training_sheet(training, layout, run, recipe).into(training)
    from .guide import emit_guide
    emit_guide(guide, recipe, run)
    # LibreOffice recalculates sheet by sheet in tab order: with Training before the steps, its
    # first cell would recurse down all 75 steps (measured: a full recalculation ~1.3x slower).
    # So the steps come first, and the workbook opens on Training (add_chart).
    sheets = [guide, start, *steps, held, training, data]
    return FromScratch(sheets, values, run, sum(len(v[0]) for v in values.values()))


# --- the weights -----------------------------------------------------------------------------------

def _weights_sheet(sheet: SheetPlan, layout: StepLayout, weights: Weights) -> None:
    """Start: the initial weights as constants, at the addresses every step sheet uses."""
    sheet.put(1, 1, "Start: the weights before any learning (random; type your own)", "title")
    sheet.put(2, 1, "Every step sheet reads the previous one's weights at these same addresses. "
                    "Try all zeros: the filters never learn.", "note")
    _weight_captions(sheet, layout)
    for f in range(FILTERS):
        for u in range(KERNEL):
            for v in range(KERNEL):
                sheet.put(*layout.filter_cell(f, u, v), float(weights.filters[f, u, v]))
        sheet.put(*layout.filter_bias_cell(f), float(weights.filter_bias[f]))
    for k in range(CLASSES):
        sheet.put(layout.dense_row(k), DENSE_BIAS, float(weights.dense_bias[k]))
        for j in range(FLAT):
            sheet.put(layout.dense_row(k), ACTS + j, float(weights.dense[j, k]))
    _weight_blocks(sheet, layout, WEIGHTS)


def _weight_captions(sheet: SheetPlan, layout: StepLayout, title: str = "") -> None:
    sheet.put(layout.weights, 1, f"{title}Filters (3×3 each; bias below)", "heading")
    for f in range(FILTERS):
        sheet.put(layout.weights, layout.filter_cell(f, 0, 0)[1], f"filter {f + 1}", "label")
    sheet.put(layout.weights, DENSE_BIAS, "bias", "label")
    sheet.put(layout.weights, ACTS, "Dense kernel: one row per class, one column per activation above", "heading")
    for k in range(CLASSES):
        sheet.put(layout.dense_row(k), DENSE_BIAS - 1, f"class {k}", "label")


def _weight_blocks(sheet: SheetPlan, layout: StepLayout, role: str) -> None:
    for f in range(FILTERS):
        top, left = layout.filter_cell(f, 0, 0)
        sheet.block(sheet.rect(top, left, KERNEL, KERNEL), role)
    sheet.block(sheet.rect(layout.dense_row(0), ACTS, CLASSES, FLAT), role)


# --- one step ----------------------------------------------------------------------------------------

def _step_sheet(sheet: SheetPlan, layout: StepLayout, run: Run, s: int) -> Formulas:
    step = run.steps[s - 1]
    batch = run.plan.batches[s - 1]
    previous = quote_sheet(step_title(s - 1)) + "!"
    n = layout.batch
    out = Formulas()
    sheet.put(1, 1, f"Step {s}: {n} pictures forward and back, then new weights", "title")
    sheet.put(2, 1, "Batch loss", "heading")
    sheet.put(3, 1, "Batch accuracy", "heading")
    out.add([2], [3], [f"AVERAGE({col(LOSS)}{TOP}:{col(LOSS)}{layout.last})"], [step.forward.losses.mean()])
    out.add([3], [3], [f"AVERAGE({col(RIGHT)}{TOP}:{col(RIGHT)}{layout.last})"],
            [np.mean(step.forward.guesses == run.plan.labels[batch])])
    sheet.styles[(2, 3)], sheet.styles[(3, 3)] = "loss", "probability"
    _picture_table(sheet, out, layout, run, batch, step.forward, previous, with_deltas=True, deltas=step.deltas)
    _backward(sheet, out, layout, step, previous)
    _update(sheet, out, layout, batch, step, previous, run.plan.slot)
    sheet.freeze = (TOP, ACTS)
    sheet.wide_columns.update(TABLE_WIDTHS)
    return out


# the picture table's first columns (number .. Σ e) and the class captions hold words and numbers
TABLE_WIDTHS = {NUMBER: 13, LABEL: 6, GUESS: 6, RIGHT: 6, LOSS: 8, MAX: 7, TOTAL: 7}


def _picture_table(sheet: SheetPlan, out: Formulas, layout_rows, run: Run, pictures: np.ndarray, seen,
                   weights: str, with_deltas: bool, deltas: np.ndarray | None = None) -> None:
    """One row per picture: the forward pass from `weights` (a sheet prefix), and on a step
    sheet the loss and δ = p − onehot."""
    labels = run.plan.labels[pictures]
    first, count = TOP, len(pictures)
    rows = np.arange(first, first + count)
    last = rows[-1]
    w = StepLayout(layout_rows.batch)
    for caption, c in (("picture", NUMBER), ("label", LABEL), ("guess", GUESS), ("right?", RIGHT),
                       ("loss", LOSS), ("max z", MAX), ("Σ e", TOTAL), ("logits z →", LOGITS),
                       ("e = EXP(z − max) →", EXPS), ("δ = p − onehot →", DELTAS),
                       ("ReLU(filter · window + bias): filter 1 (36), 2, 3, 4 →", ACTS)):
        if with_deltas or c not in (LOSS, TOTAL, EXPS, DELTAS):
            sheet.put(TOP - 1, c, caption, "heading")
    for i, picture in enumerate(pictures.tolist()):
        sheet.put(first + i, NUMBER, picture + 1)
        sheet.put(first + i, LABEL, int(labels[i]))
    # activations: ReLU of each 3×3 window times its filter (the text per filter and per window made once)
    filter_parts = [f",{weights}{w.filter_range(f)})+{weights}${col(w.filter_bias_cell(f)[1])}${w.filter_bias_cell(f)[0]})"
                    for f in range(FILTERS)]
    spots = [activation(j) for j in range(FLAT)]
    window_cols = [(col(DATA_PIXELS + q), col(DATA_PIXELS + q + KERNEL - 1)) for q in range(OUT)]
    texts = []
    for picture in pictures.tolist():
        top = data_row(run.plan.slot[picture])
        windows = [f"MAX(0,SUMPRODUCT(Data!{a}{top + p}:{b}{top + p + KERNEL - 1}" for p in range(OUT)
                   for a, b in window_cols]
        texts += [windows[p * OUT + q] + filter_parts[f] for f, p, q in spots]
    rr = np.repeat(rows, FLAT)
    cc = np.tile(np.arange(ACTS, ACTS + FLAT), count)
    out.add(rr, cc, texts, seen.activations)
    acts = f"${col(ACTS)}{{r}}:${col(ACTS + FLAT - 1)}{{r}}"
    z_span = f"${col(LOGITS)}{{r}}:${col(LOGITS + CLASSES - 1)}{{r}}"
    logit = [f"SUMPRODUCT({acts},{weights}${col(ACTS)}${w.dense_row(k)}:${col(ACTS + FLAT - 1)}${w.dense_row(k)})"
             f"+{weights}${col(DENSE_BIAS)}${w.dense_row(k)}" for k in range(CLASSES)]
    grid_r, grid_k = np.meshgrid(rows, np.arange(CLASSES), indexing="ij")
    out.add(grid_r, LOGITS + grid_k, [logit[k].format(r=r) for r in rows.tolist() for k in range(CLASSES)],
            seen.logits)
    out.add(rows, np.full(count, GUESS), [f"MATCH(MAX({z_span}),{z_span},0)-1".format(r=r) for r in rows.tolist()],
            seen.guesses)
    out.add(rows, np.full(count, RIGHT), [f"IF({col(GUESS)}{r}={col(LABEL)}{r},1,0)" for r in rows.tolist()],
            seen.guesses == labels)
    sheet.block(sheet.rect(first, ACTS, count, FLAT), ACTIVATIONS)
    if not with_deltas:
        return
    out.add(rows, np.full(count, MAX), [f"MAX({z_span})".format(r=r) for r in rows.tolist()], seen.top)
    out.add(grid_r, EXPS + grid_k, [f"EXP({col(LOGITS + k)}{r}-${col(MAX)}{r})" for r in rows.tolist()
                                    for k in range(CLASSES)], seen.exps)
    out.add(rows, np.full(count, TOTAL), [f"SUM({col(EXPS)}{r}:{col(EXPS + CLASSES - 1)}{r})" for r in rows.tolist()],
            seen.total)
    out.add(rows, np.full(count, LOSS), [f"{col(MAX)}{r}+LN({col(TOTAL)}{r})-INDEX({z_span},1,{col(LABEL)}{r}+1)"
                                         .format(r=r) for r in rows.tolist()], seen.losses)
    out.add(grid_r, DELTAS + grid_k, [f"{col(EXPS + k)}{r}/${col(TOTAL)}{r}-IF(${col(LABEL)}{r}={k},1,0)"
                                      for r in rows.tolist() for k in range(CLASSES)], deltas)
    sheet.block(sheet.rect(first, DELTAS, count, CLASSES), GRADIENTS)


def _backward(sheet: SheetPlan, out: Formulas, layout: StepLayout, step, previous: str) -> None:
    """δ transposed, then ∂loss/∂conv = (activation > 0) × Σ_k kernel[k, j] δ[k] per picture."""
    n = layout.batch
    t = layout.transposed
    sheet.put(t - 1, 1, "δ again, one column per picture (so a kernel column meets it in one SUMPRODUCT)", "heading")
    for k in range(CLASSES):
        sheet.put(t + k, 2, f"class {k}", "label")
    kk, ii = np.meshgrid(np.arange(CLASSES), np.arange(n), indexing="ij")
    out.add(t + kk, BLOCK_COL + ii, [f"{col(DELTAS + k)}{TOP + i}" for k in range(CLASSES) for i in range(n)], step.deltas.T)
    sheet.block(sheet.rect(t, BLOCK_COL, CLASSES, n), GRADIENTS)
    sheet.put(layout.conv - 1, 1, "∂loss/∂(convolution): one 6×6 block per picture (rows) and filter (columns); "
                                  "0 where the ReLU was off", "heading")
    kernels = [f"{previous}{col(ACTS + j)}${layout.dense_row(0)}:{col(ACTS + j)}${layout.dense_row(CLASSES - 1)}"
               for j in range(FLAT)]
    places = [layout.conv_cell(0, *activation(j)) for j in range(FLAT)]
    texts, rr, cc = [], [], []
    for i in range(n):
        delta = f",{col(BLOCK_COL + i)}${t}:{col(BLOCK_COL + i)}${t + CLASSES - 1}),0)"
        texts += [f"IF({col(ACTS + j)}{TOP + i}>0,SUMPRODUCT({kernels[j]}{delta}" for j in range(FLAT)]
        rr += [r + OUT * i for r, _ in places]
        cc += [c for _, c in places]
        sheet.put(layout.conv + OUT * i, 1, f"picture {i + 1}", "label")
    vals = step.conv_deltas
    out.add(rr, cc, texts, vals)
    for f in range(FILTERS):
        sheet.block(sheet.rect(layout.conv, BLOCK_COL + (OUT + 1) * f, OUT * n, OUT), GRADIENTS)


def _update(sheet: SheetPlan, out: Formulas, layout: StepLayout, batch: np.ndarray, step, previous: str,
            slots: np.ndarray) -> None:
    """Each new weight: previous − rate × (Σ over the batch of its gradient) / batch."""
    n = layout.batch
    after = step.after
    _weight_captions(sheet, layout, f"New weights = previous − rate × (Σ over the {n} pictures) / {n}. ")
    rate = f"{RATE_CELL}*"
    # dense kernel: Σ_i activation[i, j] δ[i, k]
    kk, jj = np.meshgrid(np.arange(CLASSES), np.arange(FLAT), indexing="ij")
    columns = [col(ACTS + j) for j in range(FLAT)]
    inputs = [f"SUMPRODUCT({c}${TOP}:{c}${layout.last}," for c in columns]
    deltas = [f"${col(DELTAS + k)}${TOP}:${col(DELTAS + k)}${layout.last})/{n}" for k in range(CLASSES)]
    texts = [f"{previous}{c}{layout.dense_row(k)}-{rate}{i}{deltas[k]}"
             for k in range(CLASSES) for c, i in zip(columns, inputs)]
    out.add(layout.weights + 1 + kk, ACTS + jj, texts, after.dense.T)
    out.add([layout.dense_row(k) for k in range(CLASSES)], [DENSE_BIAS] * CLASSES,
            [f"{previous}{col(DENSE_BIAS)}{layout.dense_row(k)}-{rate}SUM({col(DELTAS + k)}${TOP}:"
             f"{col(DELTAS + k)}${layout.last})/{n}" for k in range(CLASSES)], after.dense_bias)
    # filters: Σ_i SUMPRODUCT(picture i's 6×6 window shifted by (u, v), its ∂loss/∂conv block)
    texts, rr, cc, vals = [], [], [], []
    for f in range(FILTERS):
        for u in range(KERNEL):
            for v in range(KERNEL):
                terms = []
                for i, picture in enumerate(batch.tolist()):
                    top = data_row(slots[picture]) + u
                    window = f"Data!{col(DATA_PIXELS + v)}{top}:{col(DATA_PIXELS + v + OUT - 1)}{top + OUT - 1}"
                    r0, c0 = layout.conv_cell(i, f, 0, 0)
                    terms.append(f"SUMPRODUCT({window},${col(c0)}${r0}:${col(c0 + OUT - 1)}${r0 + OUT - 1})")
                r, c = layout.filter_cell(f, u, v)
                texts.append(f"{previous}{col(c)}{r}-{rate}({'+'.join(terms)})/{n}")
                rr.append(r)
                cc.append(c)
                vals.append(after.filters[f, u, v])
        r, c = layout.filter_bias_cell(f)
        r0, c0 = layout.conv_cell(0, f, 0, 0)
        r1, c1 = layout.conv_cell(n - 1, f, OUT - 1, OUT - 1)
        texts.append(f"{previous}{col(c)}{r}-{rate}SUM(${col(c0)}${r0}:${col(c1)}${r1})/{n}")
        rr.append(r)
        cc.append(c)
        vals.append(after.filter_bias[f])
    out.add(rr, cc, texts, vals)
    _weight_blocks(sheet, layout, WEIGHTS)


# --- held out, data, training ------------------------------------------------------------------------

def _held_out_sheet(sheet: SheetPlan, layout: StepLayout, run: Run, steps: int) -> Formulas:
    out = Formulas()
    sheet.put(1, 1, f"Held out: the final weights (Step {steps}) on {len(run.plan.held_out)} pictures "
                    "never trained on", "title")
    sheet.put(2, 1, "Accuracy", "heading")
    last = TOP + len(run.plan.held_out) - 1
    out.add([2], [3], [f"AVERAGE({col(RIGHT)}{TOP}:{col(RIGHT)}{last})"], [run.held_out_accuracy])
    _picture_table(sheet, out, layout, run, run.plan.held_out, run.held_out, quote_sheet(step_title(steps)) + "!",
                   with_deltas=False)
    sheet.freeze = (TOP, ACTS)
    sheet.wide_columns.update(TABLE_WIDTHS)
    return out


def _data_sheet(sheet: SheetPlan, run: Run) -> None:
    sheet.put(1, 1, "picture", "heading")
    sheet.put(1, 2, "label", "heading")
    sheet.put(1, 3, "pixels (0–16 ink, as 0–1), one 8×8 block per picture", "heading")
    pixels, labels = run.plan.pixels, run.plan.labels
    held = set(run.plan.held_out.tolist())
    for place, m in enumerate(run.plan.on_data.tolist()):
        top = data_row(place)
        sheet.put(top, 1, m + 1)
        sheet.put(top, 2, int(labels[m]))
        if m in held:
            sheet.put(top, 2 + 1 + SIDE, "held out", "label")
        for y in range(SIDE):
            for x in range(SIDE):
                sheet.cells[(top + y, DATA_PIXELS + x)] = float(pixels[m, y, x])
    sheet.block(sheet.rect(DATA_TOP, DATA_PIXELS, DATA_STRIDE * len(run.plan.on_data), SIDE), PICTURE)
    sheet.freeze = (2, 1)
    sheet.wide_columns.update({1: 8, 2: 6})


def _training_sheet(sheet: SheetPlan, layout: StepLayout, run: Run, recipe: Recipe) -> Formulas:
    out = Formulas()
    steps = recipe.steps
    sheet.put(1, 1, "Training: a CNN learns to read digits from random weights", "title")
    sheet.put(3, 1, "Learning rate", "heading")
    sheet.put(3, 2, float(recipe.rate), CONTROL)
    sheet.names["TrainRate"] = sheet.rect(3, 2, 1, 1)
    sheet.put(4, 1, "Held-out accuracy", "heading")
    out.add([4], [2], [f"'Held out'!C2"], [run.held_out_accuracy])
    sheet.styles[(4, 2)] = "probability"
    sheet.names["HeldOutAccuracy"] = sheet.rect(4, 2, 1, 1)
    sheet.put(SHOW_STEP[0], 1, "Show step", "heading")
    sheet.put(*SHOW_STEP, steps, CONTROL)
    sheet.validations.append((sheet.rect(*SHOW_STEP, 1, 1), 1, steps))
    sheet.put(3, 3, "← type a rate (0.01 crawls, 5 blows up)", "note")
    sheet.put(5, 3, f"← 1 to {steps}: its {recipe.batch} pictures, labels and guesses (below the filters)", "note")
    for c, caption in enumerate(("step", "batch loss", "batch accuracy", f"loss, average of {AVERAGE_OVER}"), 1):
        sheet.put(TABLE - 1, c, caption, "heading")
    rows = np.arange(TABLE, TABLE + steps)
    for s in range(1, steps + 1):
        sheet.put(TABLE + s - 1, 1, s)
    losses, accuracies = run.losses, run.accuracies
    out.add(rows, np.full(steps, 2), [f"{quote_sheet(step_title(s))}!$C$2" for s in range(1, steps + 1)], losses)
    out.add(rows, np.full(steps, 3), [f"{quote_sheet(step_title(s))}!$C$3" for s in range(1, steps + 1)], accuracies)
    out.add(rows, np.full(steps, 4), [f"AVERAGE(B{max(TABLE, r - AVERAGE_OVER + 1)}:B{r})" for r in rows.tolist()],
            [losses[max(0, s - AVERAGE_OVER + 1):s + 1].mean() for s in range(steps)])
    for r in rows.tolist():
        sheet.styles[(r, 2)] = sheet.styles[(r, 4)] = "score"
        sheet.styles[(r, 3)] = "probability"
    sheet.names["TrainLoss"] = sheet.rect(TABLE, 2, steps, 1)
    sheet.names["TrainAccuracy"] = sheet.rect(TABLE, 3, steps, 1)
    sheet.wide_columns.update({1: 18, 2: 12, 3: 14, 4: 20})
    _filters_over_time(sheet, out, layout, run, steps)
    _shown_step(sheet, out, run, recipe)
    return out


FILTERS_TOP = 26        # Training: the filters at step 0, middle and end (rows), beside the table


def _filters_over_time(sheet: SheetPlan, out: Formulas, layout: StepLayout, run: Run, steps: int) -> None:
    moments = [0, steps // 2, steps]
    sheet.put(FILTERS_TOP - 2, CHART_COL, "The 4 filters as they learn (orange negative, blue positive)", "heading")
    for m, s in enumerate(moments):
        top = FILTERS_TOP + m * (KERNEL + 1)
        sheet.put(top, CHART_COL, "start" if s == 0 else f"after step {s}", "label")
        weights = run.plan.initial if s == 0 else run.steps[s - 1].after
        for f in range(FILTERS):
            left = CHART_COL + 2 + f * (KERNEL + 1)
            if m == 0:
                sheet.put(FILTERS_TOP - 1, left, f"filter {f + 1}", "label")
            rr, cc, texts = [], [], []
            for u in range(KERNEL):
                for v in range(KERNEL):
                    r, c = layout.filter_cell(f, u, v)
                    rr.append(top + u)
                    cc.append(left + v)
                    texts.append(f"{quote_sheet(step_title(s))}!{col(c)}{r}")
            out.add(rr, cc, texts, weights.filters[f])
            sheet.block(sheet.rect(top, left, KERNEL, KERNEL), WEIGHTS)
    for c in range(CHART_COL + 2, CHART_COL + 2 + FILTERS * (KERNEL + 1)):
        sheet.wide_columns[c] = 4.5


SHOWN_TOP = 40          # Training: the shown step's pictures


def _shown_step(sheet: SheetPlan, out: Formulas, run: Run, recipe: Recipe) -> None:
    """The pictures of the step in Show step, their labels and guesses (INDEX into Data and into
    a table of every step's picture numbers and guesses, far right)."""
    steps, n = recipe.steps, recipe.batch
    batches = run.plan.batches
    sheet.put(TABLE - 1, BATCH_COL, "pictures of each step (their place on Data) →", "heading")
    sheet.put(TABLE - 1, BATCH_COL + n + 1, "guesses of each step →", "heading")
    guesses = np.array([s.forward.guesses for s in run.steps])
    texts, rr, cc = [], [], []
    for s in range(steps):
        for i in range(n):
            sheet.put(TABLE + s, BATCH_COL + i, int(run.plan.slot[batches[s, i]]) + 1)
            texts.append(f"{quote_sheet(step_title(s + 1))}!{col(GUESS)}{TOP + i}")
            rr.append(TABLE + s)
            cc.append(BATCH_COL + n + 1 + i)
    out.add(rr, cc, texts, guesses)
    numbers = f"${col(BATCH_COL)}${TABLE}:${col(BATCH_COL + n - 1)}${TABLE + steps - 1}"
    guessed = f"${col(BATCH_COL + n + 1)}${TABLE}:${col(BATCH_COL + n * 2)}${TABLE + steps - 1}"
    last_data = data_row(len(run.plan.on_data) - 1) + SIDE - 1
    pixels = f"Data!${col(DATA_PIXELS)}${DATA_TOP}:${col(DATA_PIXELS + SIDE - 1)}${last_data}"
    labels = f"Data!$B${DATA_TOP}:$B${last_data}"
    show = f"${col(SHOW_STEP[1])}${SHOW_STEP[0]}"
    shown = batches[recipe.steps - 1]
    sheet.put(SHOWN_TOP - 2, CHART_COL, "The pictures of the step in Show step: label (top) and the network's guess "
                                "at that step (bottom)", "heading")
    per_row = 8
    texts, rr, cc, vals = [], [], [], []
    for i in range(n):
        top = SHOWN_TOP + (i // per_row) * (SIDE + 4)
        left = CHART_COL + (i % per_row) * (SIDE + 1)
        number = f"INDEX({numbers},{show},{i + 1})"
        for y in range(SIDE):
            for x in range(SIDE):
                texts.append(f"INDEX({pixels},{DATA_STRIDE}*({number}-1)+{y + 1},{x + 1})")
                rr.append(top + y)
                cc.append(left + x)
                vals.append(run.plan.pixels[shown[i], y, x])
        texts += [f"INDEX({labels},{DATA_STRIDE}*({number}-1)+1)", f"INDEX({guessed},{show},{i + 1})"]
        rr += [top + SIDE, top + SIDE + 1]
        cc += [left, left]
        vals += [run.plan.labels[shown[i]], guesses[-1, i]]
        sheet.put(top + SIDE, left + 1, "label", "label")
        sheet.put(top + SIDE + 1, left + 1, "guess", "label")
        sheet.block(sheet.rect(top, left, SIDE, SIDE), PICTURE)
    out.add(rr, cc, texts, vals)
    for c in range(CHART_COL, CHART_COL + per_row * (SIDE + 1)):
        sheet.wide_columns.setdefault(c, 2.86)


def add_chart(workbook, steps: int) -> None:
    """A native line chart of the loss per step, beside the table (no macros)."""
    from openpyxl.chart import LineChart, Reference

    ws = workbook["Training"]
    chart = LineChart()
    chart.title = "Batch loss per step"
    chart.y_axis.title = "loss"
    chart.x_axis.title = "step"
    chart.height, chart.width = 7.5, 16
    chart.legend = None
    chart.add_data(Reference(ws, min_col=2, min_row=TABLE - 1, max_row=TABLE + steps - 1), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=TABLE, max_row=TABLE + steps - 1))
    ws.add_chart(chart, f"{col(CHART_COL)}3")
    for sheet in workbook.worksheets:      # open on Training, with no other tab selected too
        sheet.sheet_view.tabSelected = sheet is ws
    workbook.active = ws


def build_from_scratch(output: str | Path, recipe: Recipe = Recipe()) -> FromScratch:
    """Write the workbook (atomically, as every build)."""
    from ..writer import write_workbook

    planned = plan_workbook(recipe)
    write_workbook(planned.sheets, output, values=lambda: planned.values,
                   decorate=lambda workbook: add_chart(workbook, recipe.steps))
    return planned
