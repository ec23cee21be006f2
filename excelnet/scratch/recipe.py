"""`excelnet build --from-scratch`: the data, the split, the initial weights and a float64 NumPy
reference of the very SGD the workbook writes out as formulas.

The network: Conv 3×3, 4 filters, valid, ReLU → flatten 144 (filter by filter, row by row) →
Dense 10 → softmax, trained by plain mini-batch SGD on the 8×8 UCI digits (pixels 0–16, fed
in as 0–1). Everything here is NumPy: no TensorFlow or scikit-learn at build time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..assets import UCI_DIGITS

SIDE, KERNEL, FILTERS, CLASSES = 8, 3, 4, 10
OUT = SIDE - KERNEL + 1                 # 6: a valid 3×3 convolution of an 8×8 picture
FLAT = FILTERS * OUT * OUT              # 144
HELD_OUT = 300
DEFAULT_SEED, DEFAULT_RATE, DEFAULT_STEPS, DEFAULT_BATCH = 0, 0.3, 75, 16
DECIMALS = 4                            # initial weights are written (and used) rounded: readable constants


@dataclass(frozen=True)
class Recipe:
    seed: int = DEFAULT_SEED
    rate: float = DEFAULT_RATE
    steps: int = DEFAULT_STEPS
    batch: int = DEFAULT_BATCH
    held_out: int = HELD_OUT            # fewer only for small test workbooks (the formulas library)
    whole_data: bool = True             # False: the Data sheet holds only the pictures used (small tests)


@dataclass
class Weights:
    filters: np.ndarray      # (4, 3, 3)
    filter_bias: np.ndarray  # (4,)
    dense: np.ndarray        # (144, 10): row j = flattened activation j, column k = class k
    dense_bias: np.ndarray   # (10,)

    def copy(self) -> "Weights":
        return Weights(*(a.copy() for a in (self.filters, self.filter_bias, self.dense, self.dense_bias)))


@dataclass
class Plan:
    """The pictures of a run: which are held out and which each step trains on."""

    pixels: np.ndarray       # (1797, 8, 8) float64, 0–1
    labels: np.ndarray       # (1797,) int
    held_out: np.ndarray     # picture numbers (0-based) never trained on
    batches: np.ndarray      # (steps, batch) picture numbers, in training order
    initial: Weights = field(repr=False, default=None)
    on_data: np.ndarray = field(repr=False, default=None)   # the pictures on the Data sheet, in order
    slot: np.ndarray = field(repr=False, default=None)      # picture number -> its place on Data (-1: absent)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 UCI digits scikit-learn ships: pixels 0–1 (stored 0–16) and labels."""
    with np.load(UCI_DIGITS) as data:
        return data["x"].astype(np.float64) / 16.0, data["y"].astype(np.int64)


def problems(recipe: Recipe) -> list[str]:
    """Every reason a recipe cannot be built, in words for the command line."""
    found = []
    if not np.isfinite(recipe.rate):
        found.append(f"the learning rate must be a number, not {recipe.rate}")
    if recipe.seed < 0:
        found.append(f"the seed must be 0 or more, not {recipe.seed}")
    if not 1 <= recipe.batch <= 64:
        found.append(f"the batch must be 1 to 64 pictures, not {recipe.batch}")
    most = (1797 - HELD_OUT) // max(recipe.batch, 1)
    if not 1 <= recipe.steps <= most:
        found.append(f"the steps must be 1 to {most} ({recipe.batch} new pictures each), not {recipe.steps}")
    if not 1 <= recipe.held_out <= HELD_OUT:
        found.append(f"the held-out pictures must be 1 to {HELD_OUT}, not {recipe.held_out}")
    return found


def plan(recipe: Recipe) -> Plan:
    """Split by the seed (300 held out, the rest for training, shuffled) and draw the initial
    weights: He-uniform filters, Glorot-uniform dense kernel, zero biases."""
    pixels, labels = load_digits()
    rng = np.random.default_rng(recipe.seed)
    order = rng.permutation(len(labels))
    # the training pictures are always the same 1,497 of the seed: a smaller held-out set (tests) is a
    # part of the 300, so it changes nothing else
    held_out, training = order[:recipe.held_out], order[HELD_OUT:]
    needed = recipe.steps * recipe.batch
    if needed > len(training):
        raise ValueError(f"{recipe.steps} steps of {recipe.batch} pictures need {needed} training pictures; "
                         f"there are {len(training)}")
    batches = training[:needed].reshape(recipe.steps, recipe.batch)
    conv_limit = np.sqrt(6.0 / (KERNEL * KERNEL))
    dense_limit = np.sqrt(6.0 / (FLAT + CLASSES))
    initial = Weights(np.round(rng.uniform(-conv_limit, conv_limit, (FILTERS, KERNEL, KERNEL)), DECIMALS),
                      np.zeros(FILTERS),
                      np.round(rng.uniform(-dense_limit, dense_limit, (FLAT, CLASSES)), DECIMALS),
                      np.zeros(CLASSES))
    on_data = np.arange(len(labels)) if recipe.whole_data else np.sort(np.concatenate([held_out, batches.reshape(-1)]))
    slot = np.full(len(labels), -1)
    slot[on_data] = np.arange(len(on_data))
    return Plan(pixels, labels, held_out, batches, initial, on_data, slot)


@dataclass
class Forward:
    activations: np.ndarray  # (n, 144) after ReLU
    logits: np.ndarray       # (n, 10)
    top: np.ndarray          # (n,) max logit
    exps: np.ndarray         # (n, 10) EXP(z − max)
    total: np.ndarray        # (n,) Σ exps
    losses: np.ndarray       # (n,) max + LN(Σ) − z_label
    guesses: np.ndarray      # (n,) first arg-max


def forward(weights: Weights, pixels: np.ndarray, labels: np.ndarray) -> Forward:
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (KERNEL, KERNEL), axis=(1, 2))  # (n, 6, 6, 3, 3)
    conv = np.einsum("npquv,fuv->nfpq", windows, weights.filters) + weights.filter_bias[None, :, None, None]
    activations = np.maximum(conv, 0.0).reshape(len(pixels), FLAT)
    logits = activations @ weights.dense + weights.dense_bias
    top = logits.max(axis=1)
    exps = np.exp(logits - top[:, None])
    total = exps.sum(axis=1)
    losses = top + np.log(total) - logits[np.arange(len(labels)), labels]
    return Forward(activations, logits, top, exps, total, losses, logits.argmax(axis=1))


@dataclass
class Step:
    """One step of SGD on one batch: what the batch saw, its gradients and the weights after."""

    forward: Forward
    deltas: np.ndarray       # (batch, 10) p − onehot: ∂ own loss / ∂ logits
    conv_deltas: np.ndarray  # (batch, 144) ∂ own loss / ∂ convolution output (0 where ReLU is off)
    after: Weights


def sgd_step(weights: Weights, pixels: np.ndarray, labels: np.ndarray, rate: float) -> Step:
    """w − rate × the mean over the batch of ∂loss/∂w."""
    seen = forward(weights, pixels, labels)
    n = len(labels)
    deltas = seen.exps / seen.total[:, None]
    deltas[np.arange(n), labels] -= 1.0
    conv_deltas = (deltas @ weights.dense.T) * (seen.activations > 0)
    per_filter = conv_deltas.reshape(n, FILTERS, OUT, OUT)
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (OUT, OUT), axis=(1, 2))  # (n, 3, 3, 6, 6)
    filter_grad = np.einsum("nuvpq,nfpq->fuv", windows, per_filter) / n
    after = Weights(weights.filters - rate * filter_grad,
                    weights.filter_bias - rate * per_filter.sum(axis=(0, 2, 3)) / n,
                    weights.dense - rate * (seen.activations.T @ deltas) / n,
                    weights.dense_bias - rate * deltas.sum(axis=0) / n)
    return Step(seen, deltas, conv_deltas, after)


@dataclass
class Run:
    plan: Plan
    steps: list[Step]
    final: Weights
    held_out: Forward

    @property
    def losses(self) -> np.ndarray:
        """Mean batch loss of each step (before its update), as TrainLoss shows."""
        return np.array([s.forward.losses.mean() for s in self.steps])

    @property
    def accuracies(self) -> np.ndarray:
        return np.array([np.mean(s.forward.guesses == self.plan.labels[b])
                         for s, b in zip(self.steps, self.plan.batches)])

    @property
    def held_out_accuracy(self) -> float:
        return float(np.mean(self.held_out.guesses == self.plan.labels[self.plan.held_out]))


def train(recipe: Recipe, initial: Weights | None = None) -> Run:
    """The float64 reference: the same batches in the same order from the same weights."""
    chosen = plan(recipe)
    weights = (initial or chosen.initial).copy()
    steps = []
    for batch in chosen.batches:
        step = sgd_step(weights, chosen.pixels[batch], chosen.labels[batch], recipe.rate)
        steps.append(step)
        weights = step.after
    held = forward(weights, chosen.pixels[chosen.held_out], chosen.labels[chosen.held_out])
    return Run(chosen, steps, weights, held)
