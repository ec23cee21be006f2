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
    ("surprise", "loss (cross-entropy)", "Loss = −ln(chance of the true label): 0 when sure and right, large "
     "when wrong"),
    ("gradient", "∂loss/∂w", "how much the loss grows when a number grows a little: negative means growing it "
     "lowers the loss"),
    ("delta", "δ = ∂loss/∂(sum)", "the gradient of a unit's weighted sum, before its activation"),
    ("slope of relu", "relu′", "1 where the sum was positive, 0 where relu turned it into 0"),
    ("one step of learning", "gradient descent", "every weight becomes old − learning rate × gradient: a small move downhill"),
]

# What the saliency picture's colours mean (the Input sheet's legend and the Guide say the same).
SALIENCY = ("orange = more ink here would raise the chance of the Target, blue = more ink here would lower it, "
            "white = no effect")


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


def loss_words(whose: str) -> str:
    """The loss's one label on every sheet of both workbooks: "Loss = −ln(chance of the Target)"."""
    return f"Loss = −ln(chance of {whose})"


# Symbols a 15-year-old cannot read, and the plain words that replace them in every text a student
# looks at (the Guide's glossary keeps the symbols, beside the words). Most specific first.
PLAIN_WORDS = [
    ("p − onehot(Target)", "chance − (1 for the Target, 0 for the others)"),
    ("−ln p(Target)", "−ln(chance of the Target)"),
    ("−ln p(true)", "−ln(chance of the true label)"),
    ("bias gradient ∂loss/∂b = δ", "bias gradient = delta of the unit"),
    ("∂loss/∂input", "gradient of the input"),
    ("∂loss/∂output", "gradient of the output"),
    ("∂loss/∂feature map", "gradient of the feature map"),
    ("∂loss/∂filters", "gradients of the filters"),
    ("∂loss/∂bias", "gradient of the bias"),
    ("∂loss/∂b ", "gradient of the bias b "),
    ("∂loss/∂w ", "gradient of the weight w "),
    ("∂loss/∂w", "gradient of the weight w"),
    ("∂loss/∂(weighted sum)", "gradient of the weighted sum"),
    ("∂loss/∂(each filter's sum)", "gradient of each filter's sum"),
    ("∂loss/∂(values before the softmax)", "gradient of the values before the softmax"),
    ("∂loss/∂(", "gradient of ("),
    ("∂loss/∂ ", "gradient of "),
    ("∂loss/∂", "gradient of "),
    ("× relu′ ×", "× slope of relu (1 or 0) ×"),
    ("relu′", "slope of relu (1 or 0)"),
    ("′", " slope"),
    ("δ of", "delta of"),
    ("δ", "delta"),
    ("onehot", "one-for-the-Target"),
    ("turned by 180°", "turned upside down and left to right"),
    ("turned 180°", "turned upside down and left to right"),
    ("180°", "upside down and left to right"),
]
NOT_PLAIN = ("∂", "δ", "onehot", "′", "180°")


def plain_words(text: str) -> str:
    for symbol, words in PLAIN_WORDS:
        text = text.replace(symbol, words)
    return text


def make_plain(sheets) -> None:
    """Every text cell of these sheets in plain words (the learning sheets' labels come from each
    layer's backward rule: one pass here keeps them all plain, whoever wrote them)."""
    from ..sheet import Text

    for sheet in sheets:
        for key, value in sheet.cells.items():
            if isinstance(value, Text) and any(s in value.value for s in NOT_PLAIN + ("ln p(",)):
                sheet.cells[key] = Text(plain_words(value.value))
