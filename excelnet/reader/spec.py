"""The model as read from a file: plain, frozen, NumPy-only, no Keras objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class LayerSpec:
    """One Keras layer: its class name, config and weights (in Keras order)."""

    class_name: str
    name: str
    config: Mapping[str, Any]
    weights: tuple[np.ndarray, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)   # module, registered_name: who defines it


@dataclass(frozen=True)
class ModelSpec:
    """A single-chain model: an input shape (no batch axis) and its layers in order."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    source: str = ""
    sha256: str = ""
    keras_version: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
