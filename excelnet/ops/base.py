"""The converter's middle: one Op per spreadsheet step, registered by Keras class name."""

from __future__ import annotations

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


def check_channels_last(config: dict, reasons: list[str]) -> None:
    fmt = config.get("data_format") or "channels_last"
    if fmt != "channels_last":
        reasons.append(f"data_format={fmt!r} is not supported (only channels_last)")


def finish(reasons: list[str], shape: "Shape | None") -> bool:
    """Raise with the collected reasons; True when the op can be built."""
    if reasons:
        raise Unsupported(*reasons)
    return shape is not None
