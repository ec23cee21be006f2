"""Computing a node whose inputs are all constants (the Shape → Gather → Unsqueeze → Concat of
`x.view(x.size(0), -1)`, a Constant, a Cast, a transposed weight) within a budget.

onnx's reference evaluator computes one node at a time, and only for the operators below,
after the size of its output is worked out from its inputs: an Expand, Tile, ConstantOfShape
or Range that would make more than MAX_FOLD_VALUES numbers, a Loop that would run a billion
times (any node with a subgraph is refused before: reader/onnx_safety.py) or a chain of folds
that together make more than MAX_FOLD_TOTAL numbers or take MAX_FOLD_SECONDS is refused
instead of exhausting the machine."""

from __future__ import annotations

import math
import time

import numpy as np

MAX_FOLD_VALUES = 4 * 2**20        # one folded tensor (a real one is a shape or a weight)
MAX_FOLD_TOTAL = 16 * 2**20        # all folded tensors together
MAX_FOLD_SECONDS = 10.0
# operators whose output has at most as many values as their largest input
NOT_GROWING = {"Constant", "Identity", "Cast", "CastLike", "Shape", "Size", "Squeeze", "Unsqueeze", "Reshape",
               "Flatten", "Transpose", "Slice", "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Floor", "Ceil",
               "Relu", "Sigmoid", "Tanh", "Softmax", "ReduceProd", "ReduceSum", "ReduceMean", "ReduceMax",
               "ReduceMin", "Not", "Dropout"}
BROADCASTING = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "And", "Or", "Where", "Min", "Max"}
GROWING = {"Concat", "Gather", "Expand", "Tile", "ConstantOfShape", "Range"}
FOLDABLE = NOT_GROWING | BROADCASTING | GROWING


class FoldRefused(Exception):
    """A node that excelnet will not compute from its constants, and why."""


def output_values(op: str, inputs: list, attrs: dict) -> int:
    """How many numbers the node's output will hold, worked out without computing it."""
    present = [np.asarray(v) for v in inputs if v is not None]
    if op in NOT_GROWING:
        return max((v.size for v in present), default=1)
    if op == "Concat":
        return sum(v.size for v in present)
    if op in BROADCASTING:
        return math.prod(_broadcast([v.shape for v in present]))
    if op == "Gather":
        data, indices = present[0], present[1]
        axis = int(attrs.get("axis", 0))
        if data.ndim == 0 or not -data.ndim <= axis < data.ndim:
            raise FoldRefused(f"its axis {axis} does not fit its data of shape {list(data.shape)}")
        rest = math.prod(d for k, d in enumerate(data.shape) if k != axis % data.ndim)
        return rest * indices.size
    if op == "Expand":
        return math.prod(_broadcast([present[0].shape, tuple(_whole_numbers(present[1], "shape"))]))
    if op == "Tile":
        repeats = _whole_numbers(present[1], "repeats")
        if len(repeats) != present[0].ndim:
            raise FoldRefused(f"its {len(repeats)} repeats do not fit its data of shape {list(present[0].shape)}")
        return math.prod(d * r for d, r in zip(present[0].shape, repeats))
    if op == "ConstantOfShape":
        return math.prod(_whole_numbers(present[0], "shape")) if present else 1
    if op == "Range":
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) if np.size(v) == 1 else math.nan
                               for v in present[:3])
        if not all(math.isfinite(v) for v in (start, limit, delta)) or delta == 0:
            raise FoldRefused("its start, limit and delta must be finite single numbers, with delta not 0")
        return max(math.ceil((limit - start) / delta), 0)
    raise FoldRefused(f"excelnet computes only these operators from constants: {', '.join(sorted(FOLDABLE))}")


def _broadcast(shapes: list[tuple]) -> tuple:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise FoldRefused(f"its inputs' shapes {', '.join(str(list(s)) for s in shapes)} do not "
                          "broadcast together") from None


def _whole_numbers(value, what: str) -> list[int]:
    value = np.asarray(value)
    if value.ndim > 1 or value.dtype.kind not in "iu":
        raise FoldRefused(f"its {what} is not a list of whole numbers")
    numbers = [int(v) for v in value.reshape(-1)]
    if any(v < 0 for v in numbers):
        raise FoldRefused(f"its {what} {numbers} holds a negative size")
    return numbers


class FoldBudget:
    """What all folds of one model may use together."""

    def __init__(self):
        self.values = 0
        self.started = time.monotonic()

    def allow(self, op: str, inputs: list, attrs: dict) -> None:
        """Raise FoldRefused unless this node may be computed now."""
        if time.monotonic() - self.started > MAX_FOLD_SECONDS:
            raise FoldRefused(f"computing the model's constants took more than {MAX_FOLD_SECONDS:.0f} s")
        count = output_values(op, inputs, attrs)
        if count > MAX_FOLD_VALUES:
            raise FoldRefused(f"its output would hold {count:,} numbers, more than the {MAX_FOLD_VALUES:,} "
                              "excelnet computes from constants (no network that fits in a workbook needs so many)")
        if self.values + count > MAX_FOLD_TOTAL:
            raise FoldRefused(f"the model's constants would add up to more than {MAX_FOLD_TOTAL:,} numbers")
        self.values += count
