"""The Input sheet: pick a real digit (Sample), draw over it (Canvas), see what the network gets.

No macros: each network-input cell is =IF(canvas="", sample pixel, canvas), so typing
into the canvas overrides a pixel and clearing it brings the sample back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExcelnetError
from ..layout import Flat, Planar, Rect, flat_width
from ..sheet import ACTIVATIONS, PICTURE, SheetPlan

CANVAS = "canvas"


@dataclass(frozen=True)
class Samples:
    """Example inputs to choose from: raw values (e.g. 0-255 pixels) and their true classes."""

    images: np.ndarray      # (N, ...) raw values
    labels: np.ndarray      # (N,) class indices
    divisor: float = 255.0  # raw / divisor = the model's input units

    def model_inputs(self, input_shape: tuple[int, ...]) -> np.ndarray:
        """The inputs as the model sees them, float32 like Keras would be fed."""
        x = self.images.astype(np.float32) / np.float32(self.divisor)
        return x.reshape((len(x),) + tuple(input_shape))


def load_samples(path: str | Path, input_shape: tuple[int, ...], divisor: float) -> Samples:
    """Read an .npz with `x` (images) and `y` (labels) that fits the model's input."""
    try:
        with np.load(path) as data:
            images, labels = np.asarray(data["x"]), np.asarray(data["y"]).reshape(-1)
    except (OSError, ValueError, KeyError) as error:
        raise ExcelnetError(f"{path}: not a samples file with arrays 'x' and 'y' ({error})") from None
    size = int(np.prod(input_shape))
    if len(images) != len(labels) or images[0].size != size:
        raise ExcelnetError(f"{path}: {len(images)} images of {images[0].size} values and {len(labels)} "
                            f"labels do not fit the model's input {input_shape}")
    return Samples(images.reshape(len(images), -1), labels.astype(int), divisor)


def matching(samples: Samples | None, input_shape: tuple[int, ...]) -> Samples | None:
    """The samples if their images have the model's input size, else None."""
    if samples is None or samples.images[0].size != int(np.prod(input_shape)):
        return None
    return samples


@dataclass
class InputCells:
    network_input: Planar | Flat
    canvas: list[Rect]
    sample: Rect | None
    label: Rect | None


def _grids(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(rows, cols, count) of the pictures that show an input of this shape."""
    if len(shape) == 1:
        rows, cols = flat_width(shape)
        return rows, cols, 1
    return shape[0], shape[1], shape[2] if len(shape) == 3 else 1


def _flat_index(shape: tuple[int, ...], grid: int, r: int, c: int) -> int:
    if len(shape) == 1:
        return c
    channels = shape[2] if len(shape) == 3 else 1
    return (r * shape[1] + c) * channels + grid


def emit_digits(data: SheetPlan, samples: Samples, class_names: list) -> Rect:
    """The sample images, one per row: the true class, then every raw value."""
    data.put(1, 1, "true class", "label")
    count, size = samples.images.shape
    for j in range(size):
        data.put(1, 2 + j, f"value {j + 1}", "label")
    for k in range(count):
        data.put(2 + k, 1, class_names[int(samples.labels[k])])
        for j, value in enumerate(samples.images[k].tolist()):
            data.put(2 + k, 2 + j, value)
    return data.rect(2, 1, count, size + 1)


def emit_input_sheet(sheet: SheetPlan, shape: tuple[int, ...], samples: Samples | None,
                     digits: Rect | None) -> InputCells:
    rows, cols, count = _grids(shape)
    sheet.line("Input: pick a real digit, or draw your own", "title")
    if samples is None:
        sheet.line("No sample pictures for this model's input: type numbers into the Canvas.", "note")
        sheet.line("The network reads the Canvas directly; an empty cell counts as 0.", "note", skip=1)
    else:
        sheet.line(f"1. Type a number from 1 to {len(samples.labels)} into Sample to load a real test "
                   "picture (0 = blank).", "note")
        sheet.line("2. Type numbers into the Canvas to draw over it (0 = black, "
                   f"{_bright(samples)} = white). Delete a cell to bring the sample pixel back.", "note", skip=1)
    sample = label = divisor = None
    if samples is not None:
        sample, label, divisor = _picker(sheet, samples)
    heading_row = sheet.next_row
    top = heading_row + 1
    titles = ["Canvas (type here)"] + ([] if samples is None else ["Sample"]) + ["Network input"]
    for k, title in enumerate(titles):
        sheet.put(heading_row, 2 + k * (cols + 1), title, "heading")
    canvases, pictures, inputs = [], [], []
    for g in range(count):
        row = top + g * (rows + 2)
        if count > 1:
            sheet.put(row - (0 if g == 0 else 1), 1, f"channel {g + 1}", "label")
        canvases.append(sheet.block(sheet.rect(row, 2, rows, cols), CANVAS))
        if samples is not None:
            pictures.append(sheet.block(sheet.rect(row, 3 + cols, rows, cols), PICTURE))
        inputs.append(sheet.block(sheet.rect(row, 2 + (len(titles) - 1) * (cols + 1), rows, cols), PICTURE))
    if samples is not None:
        _fill_label(sheet, label, sample, digits)
    _fill_network_input(sheet, shape, canvases, pictures, inputs, sample, divisor, digits)
    sheet.freeze = (top, 1)
    if len(shape) == 1:
        return InputCells(Flat(tuple(shape), inputs[0]), canvases, sample, label)
    return InputCells(Planar(tuple(shape), tuple(inputs)), canvases, sample, label)


def _bright(samples: Samples) -> str:
    top = float(samples.images.max()) / samples.divisor
    return f"{top:g}"


def _picker(sheet: SheetPlan, samples: Samples) -> tuple[Rect, Rect, Rect]:
    row = sheet.line("Sample", "heading")
    sheet.put(row, 3, 1)
    sample = sheet.block(sheet.rect(row, 3, 1, 1), "control")
    sheet.validations.append((sample, 0, len(samples.labels)))
    sheet.put(row, 5, f"(0 – {len(samples.labels)})", "note")
    row = sheet.line("True label", "heading")
    label = sheet.rect(row, 3, 1, 1)
    row = sheet.line("Pixel values are divided by", "label", skip=1)
    sheet.put(row, 3, float(samples.divisor), "weight")
    divisor = sheet.block(sheet.rect(row, 3, 1, 1), "weights")
    return sample, label, divisor


def _fill_label(sheet: SheetPlan, label: Rect, sample: Rect, digits: Rect) -> None:
    here, s = sheet.title, sample.ref(sheet.title, absolute=True)
    classes = digits.sub_ref(0, 0, digits.rows, 1, here, True)
    sheet.formula(label.row, label.col, f'IF({s}=0,"",INDEX({classes},{s}))', "class")


def _fill_network_input(sheet, shape, canvases, pictures, inputs, sample, divisor, digits) -> None:
    """Network input = the canvas where something is typed, else the sample pixel (or 0).

    Every input cell refers to single canvas cells, so an engine can feed the canvas cell by cell."""
    here = sheet.title
    for g, (canvas, network) in enumerate(zip(canvases, inputs)):
        for r in range(canvas.rows):
            for c in range(canvas.cols):
                fallback = "0"
                if pictures:
                    s, d = sample.ref(here, absolute=True), divisor.ref(here, absolute=True)
                    column = digits.sub_ref(0, 1 + _flat_index(shape, g, r, c), digits.rows, 1, here, True)
                    picture = pictures[g]
                    sheet.formula(picture.row + r, picture.col + c, f"IF({s}=0,0,INDEX({column},{s})/{d})")
                    fallback = picture.cell_ref(r, c, here)
                drawn = canvas.cell_ref(r, c, here)
                sheet.formula(network.row + r, network.col + c, f'IF({drawn}="",{fallback},{drawn})')
