"""The Input sheet: pick a real digit (Sample), draw over it (Canvas), see what the network gets.

No macros: each network-input cell is =IF(canvas="", sample pixel, canvas), so typing
into the canvas overrides a pixel and clearing it brings the sample back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExcelnetError
from ..layout import Flat, Planar, Rect, flat_width
from ..ops.cells import rulers
from ..sheet import CANVAS, CONTROL, PICTURE, SheetPlan, Text
from .strokes import emit_strokes


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


@dataclass(frozen=True)
class DigitStore:
    """Where the sample images live on the Samples sheet, and how a formula reads one value.

    Whole-number pixels (0-255) are stored as text, one image row per cell, three digits
    per value ("000128255..."): 28 cells per digit instead of 784, which keeps the
    workbook small and fast to write. Other values get one numeric cell each."""

    rect: Rect           # one row per sample: the true class, then the data cells
    per_cell: int        # values packed in one text cell; 0 = one number per cell

    def classes(self, here: str) -> str:
        return self.rect.sub_ref(0, 0, self.rect.rows, 1, here, True)

    def value(self, flat: int, sample: str, here: str) -> str:
        """Formula for value number `flat` (Keras order) of the sample chosen in `sample`."""
        cell, position = divmod(flat, self.per_cell) if self.per_cell else (flat, 0)
        column = self.rect.sub_ref(0, 1 + cell, self.rect.rows, 1, here, True)
        if not self.per_cell:
            return f"INDEX({column},{sample})"
        return f"VALUE(MID(INDEX({column},{sample}),{3 * position + 1},3))"


def _packable(images: np.ndarray) -> bool:
    return bool(np.all(images == np.round(images)) and images.min() >= 0 and images.max() <= 999)


def emit_digits(data: SheetPlan, samples: Samples, class_names: list, shape: tuple[int, ...]) -> DigitStore:
    """The sample images, one per row: the true class, then the values."""
    count, size = samples.images.shape
    per_cell = min(size // shape[0] if len(shape) > 1 else size, 10_000) if _packable(samples.images) else 0
    data.put(1, 1, "true class", "label")
    data.put(1, 2, "one picture row per cell, 3 characters per pixel (000 … 255)" if per_cell else "values", "label")
    if per_cell:          # every pixel as 3 digits, for all pictures at once
        pixels = samples.images.astype(np.int64)
        digits = (np.stack([pixels // 100, pixels // 10 % 10, pixels % 10], axis=-1) + ord("0")).astype(np.uint8)
        texts = [row.tobytes().decode("ascii") for row in digits.reshape(count, -1)]
    for k in range(count):
        data.put(2 + k, 1, class_names[int(samples.labels[k])])
        values = samples.images[k]
        if per_cell:
            text = texts[k]
            for j in range(0, size, per_cell):
                data.put(2 + k, 2 + j // per_cell, Text(text[3 * j:3 * (j + per_cell)]))   # digits: safe as they are
        else:
            for j, value in enumerate(values.tolist()):
                data.put(2 + k, 2 + j, value)
    columns = -(-size // per_cell) if per_cell else size
    data.freeze = (2, 2)
    return DigitStore(data.rect(2, 1, count, columns + 1), per_cell)


def emit_input_sheet(sheet: SheetPlan, shape: tuple[int, ...], samples: Samples | None,
                     digits: "DigitStore | None", thing: str = "picture") -> InputCells:
    """Sample picture | Canvas | Network input, side by side (one row of grids per channel).

    `thing`: what the samples are, in a word ("digit" for MNIST)."""
    rows, cols, count = _grids(shape)
    sheet.line(f"Input: pick a real {thing}, or draw your own" if samples is not None
               else "Input: draw your own", "title")
    if samples is None:
        sheet.line("No sample pictures for this model's input, so there is no Sample to pick: "
                   "type numbers into the yellow Canvas.", "note")
        sheet.line("The network reads the Canvas directly; an empty cell counts as 0.", "note", skip=1)
    else:
        bright = _bright(samples)
        sheet.picture_range = (0.0, float(bright))
        sheet.line(f"1. Type a number from 1 to {len(samples.labels)} into the yellow Sample box to load a real "
                   "test picture (0 = a blank page).", "note")
        sheet.line(f"2. Draw on the yellow Canvas: type {bright:g} for ink, 0 for paper, or anything between. "
                   "Delete a cell to bring the sample pixel back.", "note")
        sheet.line("   Faster: type a few strokes (a line from a row and column to another) under 'Your strokes'.",
                   "note")
        sheet.line("3. The Network input is what the network reads: your drawing where you typed, "
                   "the sample everywhere else.", "note", skip=1)
    sample = label = divisor = None
    if samples is not None:
        sample, label, divisor = _picker(sheet, samples)
    heading_row = sheet.next_row
    top = heading_row + 1
    drawable = count == 1 and len(shape) >= 2
    titles = (([] if samples is None else ["Sample picture"]) + ["Canvas: type here to draw"]
              + (["Your strokes"] if drawable else []) + ["Network input: what the network sees"])
    for k, title in enumerate(titles):
        sheet.put(heading_row, 2 + k * (cols + 1), title, "heading")
    column = {title: 2 + k * (cols + 1) for k, title in enumerate(titles)}
    canvases, pictures, inputs = [], [], []
    for g in range(count):
        row = top + g * (rows + 2)
        if count > 1:
            sheet.put(row - (0 if g == 0 else 1), 1, f"channel {g + 1}", "label")
        if samples is not None:
            pictures.append(sheet.block(sheet.rect(row, column["Sample picture"], rows, cols), PICTURE))
        canvases.append(sheet.block(sheet.rect(row, column["Canvas: type here to draw"], rows, cols), CANVAS))
        inputs.append(sheet.block(sheet.rect(row, column[titles[-1]], rows, cols), PICTURE))
    if samples is not None:
        _fill_label(sheet, label, sample, digits)
    if drawable:
        rulers(sheet, canvases[0], "label")
    ink = emit_strokes(sheet, sheet.rect(top, column["Your strokes"], rows, cols), top + rows + 1) if drawable else None
    _fill_network_input(sheet, shape, canvases, pictures, inputs, sample, divisor, digits, ink)
    sheet.freeze = (top, 1)
    sheet.wide_columns = {1: LABEL_WIDTH}
    if len(shape) == 1:
        return InputCells(Flat(tuple(shape), inputs[0]), canvases, sample, label)
    sheet.pictures.append(("input picture", tuple(inputs), "what the network reads"))   # the Magnifier offers it
    return InputCells(Planar(tuple(shape), tuple(inputs)), canvases, sample, label)


LABEL_WIDTH = 14   # column A: the labels of the controls


def _bright(samples: Samples) -> float:
    return float(samples.images.max()) / samples.divisor


def _picker(sheet: SheetPlan, samples: Samples) -> tuple[Rect, Rect, Rect]:
    """Sample (a whole number, validated), its true label, and the divisor of the raw pixels."""
    row = sheet.line("Sample", "heading")
    sheet.put(row, 2, 1)
    sample = sheet.block(sheet.rect(row, 2, 1, 1), CONTROL)
    sheet.merges.append(sheet.rect(row, 2, 1, 3))
    sheet.validations.append((sample, 0, len(samples.labels)))
    sheet.put(row, 6, f"← a number from 1 to {len(samples.labels)}; 0 = blank", "note")
    sheet.row_heights[row] = 24
    row = sheet.line("True label", "heading")
    label = sheet.rect(row, 2, 1, 1)
    sheet.merges.append(sheet.rect(row, 2, 1, 3))
    sheet.row_heights[row] = 22
    row = sheet.line("Pixels ÷", "heading", skip=1)
    sheet.put(row, 2, float(samples.divisor), "text")
    divisor = sheet.rect(row, 2, 1, 1)
    sheet.merges.append(sheet.rect(row, 2, 1, 3))
    raw = "whole numbers 0 … 255 (as in a photo file)" if samples.divisor == 255 else "raw values"
    sheet.put(row, 6, f"the sample pictures are stored as {raw}; the network reads them divided by this, "
              "so every picture here goes from 0 (white) to 1 (black)", "note")
    return sample, label, divisor


def _fill_label(sheet: SheetPlan, label: Rect, sample: Rect, digits: DigitStore) -> None:
    here, s = sheet.title, sample.ref(sheet.title, absolute=True)
    classes = digits.classes(here)
    sheet.formula(label.row, label.col, f'IF({s}=0,"",INDEX({classes},{s}))', "class")


def _fill_network_input(sheet, shape, canvases, pictures, inputs, sample, divisor, digits, ink=None) -> None:
    """Network input = the canvas where something is typed, else the sample pixel (or 0), darkened by
    the strokes' ink where there is any.

    Every input cell refers to single canvas cells, so an engine can feed the canvas cell by cell."""
    here = sheet.title
    for g, (canvas, network) in enumerate(zip(canvases, inputs)):
        for r in range(canvas.rows):
            for c in range(canvas.cols):
                fallback = "0"
                if pictures:
                    s, d = sample.ref(here, absolute=True), divisor.ref(here, absolute=True)
                    value = digits.value(_flat_index(shape, g, r, c), s, here)
                    picture = pictures[g]
                    sheet.formula(picture.row + r, picture.col + c, f"IF({s}=0,0,{value}/{d})")
                    fallback = picture.cell_ref(r, c, here)
                if ink is not None:
                    fallback = f"MAX({fallback},{ink.cell_ref(r, c, here)})"
                drawn = canvas.cell_ref(r, c, here)
                sheet.formula(network.row + r, network.col + c, f'IF({drawn}="",{fallback},{drawn})')
