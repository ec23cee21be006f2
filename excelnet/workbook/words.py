"""Plain words first, the Keras term after: what a 15-year-old reads on the sheets."""

from __future__ import annotations

from ..ops.base import Op

PLAIN = {
    "Conv2D": "pattern finder",
    "MaxPooling2D": "shrink: keep the strongest",
    "AveragePooling2D": "shrink: take the average",
    "GlobalMaxPooling2D": "one number per picture: its strongest",
    "GlobalAveragePooling2D": "one number per picture: its average",
    "Flatten": "line everything up",
    "Reshape": "re-shape",
    "Dense": "weighted vote of all inputs",
    "Activation": "squash each number",
    "Softmax": "scores into chances",
    "BatchNormalization": "rescale each channel",
    "Rescaling": "rescale",
}

# (plain word, the Keras term, what it means): the Guide's glossary.
GLOSSARY = [
    ("picture / channel", "feature map", "a grid of numbers; a layer makes one per filter, each shows where "
     "its pattern was found"),
    ("pattern finder", "Conv2D (convolution)", "slides a small filter over the pictures; each cell is the sum of "
     "window × filter, plus a bias"),
    ("filter", "kernel", "the small grid of weights a pattern finder slides over the pictures"),
    ("weight", "parameter", "a number the network learned during training; you may change it"),
    ("bias", "bias", "one extra number added to each sum, so a unit can be 'on' or 'off' by default"),
    ("negatives to 0", "relu", "relu(x) = MAX(0, x): negative sums become 0, the rest stay"),
    ("shrink", "MaxPooling2D (pooling)", "keeps the largest number of each 2×2 window: the picture gets half "
     "as wide"),
    ("step", "stride", "how many cells the window moves each time (1 = every cell, 2 = every other cell)"),
    ("no border", "padding 'valid'", "the window never sticks out of the picture, so the output is smaller "
     "(28 → 26 with a 3×3 window)"),
    ("line everything up", "Flatten", "the pictures become one long list of numbers"),
    ("weighted vote", "Dense (fully connected)", "each unit multiplies every input by its own weight and adds "
     "them up, plus a bias"),
    ("unit", "neuron", "one number computed by a weighted vote"),
    ("chances", "softmax", "turns the last 10 scores into probabilities that add up to 100%"),
    ("surprise", "loss (cross-entropy)", "−ln(chance given to the true answer): 0 when sure and right, large "
     "when wrong"),
]


def plain_name(op: Op) -> str:
    """What a layer does, in two or three plain words (its Keras class goes after, in brackets)."""
    if op.title == "Dense" and getattr(op, "act_name", "") == "softmax":
        return "weighted vote, then chances"
    return PLAIN.get(op.title, op.title)


def student_questions(op: Op) -> list[str]:
    """Short answers to what students ask on this layer's sheet, from the layer's own numbers."""
    lines = []
    shape_in, shape_out = op.input_shape, op.output_shape
    if op.title == "Conv2D":
        kh, kw = op.kernel.shape[:2]
        if op.padding == "valid" and op.strides == (1, 1) and shape_in[0] != shape_out[0]:
            lines.append(f"Why {shape_out[0]} and not {shape_in[0]}? A {kh}×{kw} window may not stick out of the "
                         f"picture, so it fits {shape_out[0]} times across {shape_in[0]} cells.")
        if op.activation.name == "relu":
            lines.append("Why are some pictures blank (all 0)? Their filter did not find its pattern anywhere in "
                         "this picture: relu turns every negative sum into 0. Try another Sample.")
        lines.append("Who chose the filters' numbers? Nobody by hand: training nudged them a little at a time "
                     "over thousands of example pictures (see the learning sheets: excelnet build --learn).")
    elif op.title.endswith("Pooling2D") and not op.title.startswith("Global"):
        (ph, pw), (sh, _) = op.pool, op.strides
        if shape_in[0] % sh and op.padding == "valid":
            lines.append(f"Why does {shape_in[0]} become {shape_out[0]}? {ph}×{pw} windows side by side fit "
                         f"{shape_out[0]} times into {shape_in[0]}; the last row and column are left over.")
        else:
            lines.append(f"Why does {shape_in[0]} become {shape_out[0]}? Each {ph}×{pw} window becomes one cell.")
    elif op.title == "Dense":
        lines.append("Who chose these weights? Nobody by hand: training nudged them over thousands of example pictures "
                     "(see the learning sheets: excelnet build --learn).")
    return lines
