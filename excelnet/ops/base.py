"""The converter's middle: one Op per spreadsheet step, registered by Keras class name."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..layout import Cells
from ..reader.spec import LayerSpec
from ..sheet import SheetPlan

Shape = tuple[int, ...]


class Unsupported(Exception):
    """This layer, or one of its options, cannot become formulas. Carries every reason."""

    def __init__(self, *reasons: str):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@dataclass(frozen=True)
class Context:
    """Facts about the whole model that some converters need."""

    keras_version: str = ""

    @property
    def keras2(self) -> bool:
        return self.keras_version.startswith("2.")


class Op:
    """One layer of the network as the workbook computes it.

    Subclasses are frozen dataclasses with at least `name`, `input_shape`, `output_shape`."""

    name: str
    input_shape: Shape
    output_shape: Shape
    title = "layer"          # shown in the guide and sheet headers, e.g. "Conv2D"

    def reference(self, x: np.ndarray) -> np.ndarray:
        """What Keras computes for one example (no batch axis), in float64."""
        raise NotImplementedError

    def emit(self, sheet: SheetPlan, x: Cells, book: "Book") -> Cells:
        """Write this step's cells onto `sheet` (reading `x`) and return where its output lives."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the guide: what each cell of this layer computes."""
        return self.title

    def parameter_count(self) -> int:
        return 0


class Book:
    """What an emitter may ask of the workbook: another sheet (for big weight tables)."""

    def __init__(self, namer: Callable[[str], str]):
        self.sheets: list[SheetPlan] = []
        self._namer = namer

    def add_sheet(self, base_name: str, kind: str) -> SheetPlan:
        sheet = SheetPlan(self._namer(base_name), kind)
        self.sheets.append(sheet)
        return sheet


Converter = Callable[[LayerSpec, "Shape | None", Context], "Op | None"]
CONVERTERS: dict[str, Converter] = {}
IDENTITY_LAYERS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
                   "GaussianDropout", "AlphaDropout", "ActivityRegularization",
                   # data augmentation: only active while training
                   "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                   "RandomContrast", "RandomBrightness"}


def converter(*class_names: str):
    """Register a function that turns a LayerSpec into an Op.

    It receives the input shape, or None when an earlier layer already failed;
    then it still checks the layer's options so every problem is reported at once."""

    def register(function: Converter) -> Converter:
        for name in class_names:
            if name in CONVERTERS:
                raise ValueError(f"two converters for {name}")
            CONVERTERS[name] = function
        return function

    return register


def supported_layers() -> list[str]:
    return sorted(set(CONVERTERS) | IDENTITY_LAYERS | {"InputLayer"})


def option(config: dict, key: str, default: Any = None) -> Any:
    value = config.get(key, default)
    return default if value is None else value


LARGEST_SIZE = 2**20      # a window or size larger than this fits no sheet


def number(config: dict, key: str, default, reasons: list[str], optional: bool = False) -> float | None:
    """A finite number setting (JSON may hold NaN, Infinity, text or a list); None if absent
    and `optional`, or when it is wrong (the reason is added to `reasons`)."""
    value = config.get(key)
    if value is None:
        if optional:
            return None
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        reasons.append(f"{key}={value!r} is not a number")
        return None
    if not math.isfinite(value):
        reasons.append(f"{key}={value!r} is not a finite number")
        return None
    return float(value)


def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= LARGEST_SIZE


def whole(config: dict, key: str, default: int | None, reasons: list[str], minimum: int = 1) -> int | None:
    """A whole-number setting such as units or filters (None, and fine, when absent without a default)."""
    value = option(config, key, default)
    if value is None:
        return None
    if not _whole(value, minimum):
        reasons.append(f"{key}={value!r} is not a whole number from {minimum} to {LARGEST_SIZE:,}")
        return None
    return value


def whole_pair(config: dict, key: str, default, reasons: list[str]) -> tuple[int, int] | None:
    """A size per axis, such as kernel_size or strides: 3 or [3, 3] (None when absent without a default)."""
    value = option(config, key, default)
    if value is None:
        return None
    both = value if isinstance(value, (list, tuple)) else [value, value]
    if len(both) != 2 or not all(_whole(v, 1) for v in both):
        reasons.append(f"{key}={value!r} is not one or two whole numbers from 1 to {LARGEST_SIZE:,}")
        return None
    return both[0], both[1]


def check_channels_last(config: dict, reasons: list[str]) -> None:
    fmt = config.get("data_format") or "channels_last"
    if fmt != "channels_last":
        reasons.append(f"data_format={fmt!r} is not supported (only channels_last)")


def finish(reasons: list[str], shape: "Shape | None") -> bool:
    """Raise with the collected reasons; True when the op can be built."""
    if reasons:
        raise Unsupported(*reasons)
    return shape is not None
