"""Turn a ModelSpec into a Network of Ops, checking every layer before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedModelError
from ..reader.spec import ModelSpec
from . import convolution, core, elementwise, pooling  # noqa: F401  (they register converters)
from .base import CONVERTERS, IDENTITY_LAYERS, Context, Op, Unsupported, supported_layers

REFUSED_WHY = {
    "Lambda": "runs arbitrary Python code, which a spreadsheet cannot (and excelnet never executes)",
    "Add": "merges branches; only single chains of layers are supported",
    "Concatenate": "merges branches; only single chains of layers are supported",
}


@dataclass(frozen=True)
class Network:
    name: str
    input_shape: tuple[int, ...]
    ops: tuple[Op, ...]
    skipped: tuple[tuple[str, str], ...]     # (name, class) of layers that are identity at inference
    spec: ModelSpec

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.ops[-1].output_shape if self.ops else self.input_shape

    def predict(self, x: np.ndarray) -> np.ndarray:
        """NumPy forward pass of one example, in float64: the reference the workbook must match."""
        x = np.asarray(x, dtype=np.float64).reshape(self.input_shape)
        for op in self.ops:
            x = op.reference(x)
        return x

    def trace(self, x: np.ndarray) -> list[np.ndarray]:
        """Every op's output, to find which layer a mismatch starts in."""
        outputs, x = [], np.asarray(x, dtype=np.float64).reshape(self.input_shape)
        for op in self.ops:
            x = op.reference(x)
            outputs.append(x)
        return outputs


def build_network(spec: ModelSpec) -> Network:
    """Check every layer; raise one UnsupportedModelError listing all problems."""
    context = Context(spec.keras_version)
    problems, ops, skipped = [], [], []
    shape: tuple[int, ...] | None = tuple(spec.input_shape)
    if len(shape) not in (1, 2, 3):
        problems.append(f"input shape {shape}: only vectors (N,), grayscale (H, W) and images (H, W, C)")
        shape = None
    for layer in spec.layers:
        label = f"layer '{layer.name}' ({layer.class_name})"
        if layer.class_name in IDENTITY_LAYERS:
            skipped.append((layer.name, layer.class_name))
            continue
        convert = CONVERTERS.get(layer.class_name)
        if convert is None:
            why = REFUSED_WHY.get(layer.class_name, "is not a layer excelnet can write as formulas")
            problems.append(f"{label}: {why}")
            shape = None
            continue
        try:
            op = convert(layer, shape, context)
        except Unsupported as error:
            problems.append(f"{label}: unsupported {'; '.join(error.reasons)}")
            shape = None
            continue
        except (IndexError, ValueError, TypeError, KeyError) as error:
            problems.append(f"{label}: its weights or config do not fit ({error})")
            shape = None
            continue
        if op is not None:
            ops.append(op)
            shape = op.output_shape
    if not problems and not ops:
        problems.append("the model has no layers that compute anything")
    if problems:
        raise UnsupportedModelError(problems, supported_layers())
    return Network(spec.name, tuple(spec.input_shape), tuple(ops), tuple(skipped), spec)
