"""The Guide sheet of the from-scratch workbook: what it is, where to look, what to try."""

from __future__ import annotations

from ..sheet import SheetPlan
from .recipe import HELD_OUT, Recipe, Run


def experiments(recipe: Recipe) -> list[str]:
    """The experiments, as the Guide words them (docs/teaching.md performs them)."""
    return [
        "Rate 0.01 (type it into Training!B3): the loss crawls down; after all the steps the network still guesses badly.",
        f"Rate {recipe.rate:g} (the default): the loss falls fast and the held-out accuracy ends near 90%.",
        "Rate 1: faster at first, then the loss jumps about.",
        "Rate 5: the loss spikes, the ReLUs die (their activations stay 0) and the accuracy falls to chance (about 10%).",
        "Rate 0: nothing changes: every step's weights equal the Start sheet's.",
        "All-zero initial weights (clear the Start sheet's filters and kernel, type 0): every filter stays 0 "
        "for ever, because a ReLU that is never on passes no gradient back.",
        "Another seed: excelnet build --from-scratch --seed 3 draws other weights and other batches.",
    ]


def emit_guide(sheet: SheetPlan, recipe: Recipe, run: Run) -> None:
    sheet.put(1, 1, "A network that learns from nothing, in plain formulas", "title")
    lines = [
        ("heading", "What this is"),
        ("text", "A small convolutional network starts from random weights (sheet Start) and learns to read "
                 "8×8 handwritten digits by mini-batch gradient descent. Every step is a sheet of ordinary formulas: "
                 f"{recipe.batch} pictures forward, their loss, the gradients backwards, and new weights = previous − "
                 f"rate × the mean gradient. {recipe.steps} steps, no macros."),
        ("text", "The network: convolution 3×3 with 4 filters (valid, ReLU) → 144 values → dense 10 → softmax."),
        ("text", "Loss of a picture: max z + LN(Σ EXP(z − max z)) − z(label): the same as −ln p(label), but no "
                 "rate you type makes it an error value."),
        ("heading", "Where to look"),
        ("text", "Training (the tab after the steps; the workbook opens on it): the learning rate (yellow, TrainRate), the loss of each step (TrainLoss) and its chart, "
                 "the batch accuracy (TrainAccuracy), the filters at the start, the middle and the end, and a "
                 "step's pictures with the network's guesses (type a step into Show step)."),
        ("text", f"Held out: the final weights on {HELD_OUT} pictures never trained on; its accuracy is "
                 "HeldOutAccuracy on Training."),
        ("text", "Step 1 … Step N: one row per picture (forward pass, loss, δ = p − onehot), then the new weights, "
                 "then the gradients that made them."),
        ("text", "Data: the 1,797 digits of the UCI Optical Recognition of Handwritten Digits set."),
        ("heading", "Experiments"),
        *[("text", f"• {line}") for line in experiments(recipe)],
        ("heading", "This workbook"),
        ("text", f"excelnet build --from-scratch --seed {recipe.seed} --rate {recipe.rate:g}: seed {recipe.seed}, "
                 f"{recipe.steps} steps of {recipe.batch} pictures. A float64 reference of the same training ends "
                 f"with held-out accuracy {100 * run.held_out_accuracy:.1f}%."),
    ]
    for row, (look, text) in enumerate(lines, start=3):
        sheet.put(row, 1, text, look)
    sheet.wide_columns[1] = 150
