"""Reading the from-scratch workbook back out of an engine, for tests and benchmarks: the public
cells and the final weights, in the reference's shapes (recipe.Weights).

IronCalc is loaded here directly (ironcalc's Python API), not through an engine module of the
project: tiny, and only what these checks need."""

from __future__ import annotations

from typing import Callable

import numpy as np

from excelnet.scratch.layout import ACTS, DENSE_BIAS, StepLayout
from excelnet.scratch.recipe import CLASSES, FILTERS, FLAT, KERNEL, Weights
from excelnet.scratch.workbook import SHOW_STEP, TABLE, step_title

# read(sheet, top, left, bottom, right) -> 2-D array of numbers (1-based, inclusive)
Reader = Callable[[str, int, int, int, int], np.ndarray]


def weights_at(read: Reader, step: int, batch: int = 16) -> Weights:
    """The weights after `step` (0: the Start sheet) as the workbook holds them."""
    layout, sheet = StepLayout(batch), step_title(step)
    dense = read(sheet, layout.dense_row(0), ACTS, layout.dense_row(CLASSES - 1), ACTS + FLAT - 1)
    dense_bias = read(sheet, layout.dense_row(0), DENSE_BIAS, layout.dense_row(CLASSES - 1), DENSE_BIAS)
    filters = np.array([read(sheet, *layout.filter_cell(f, 0, 0), *layout.filter_cell(f, KERNEL - 1, KERNEL - 1))
                        for f in range(FILTERS)])
    filter_bias = np.array([read(sheet, *layout.filter_bias_cell(f), *layout.filter_bias_cell(f))[0, 0]
                            for f in range(FILTERS)])
    return Weights(filters, filter_bias, dense.T.copy(), dense_bias.reshape(-1))


def public(read: Reader, steps: int) -> dict[str, np.ndarray]:
    """TrainLoss, TrainAccuracy and HeldOutAccuracy (the addresses the defined names give)."""
    return {"TrainLoss": read("Training", TABLE, 2, TABLE + steps - 1, 2).reshape(-1),
            "TrainAccuracy": read("Training", TABLE, 3, TABLE + steps - 1, 3).reshape(-1),
            "HeldOutAccuracy": read("Training", 4, 2, 4, 2).reshape(-1)}


RATE_CELL = ("Training", 3, 2)
SHOW_CELL = ("Training", *SHOW_STEP)


class IronCalcBook:
    """A workbook loaded into IronCalc: set numbers, evaluate, read rectangles."""

    def __init__(self, path):
        import ironcalc

        self.model = ironcalc.load_from_xlsx(str(path), "en", "UTC")
        self.index = {p["name"]: k for k, p in enumerate(self.model.get_worksheets_properties())}

    def evaluate(self) -> None:
        self.model.evaluate()

    def set_number(self, sheet: str, row: int, col: int, value: float) -> None:
        self.model.update_cell_with_number(self.index[sheet], row, col, float(value))

    def read(self, sheet: str, top: int, left: int, bottom: int, right: int) -> np.ndarray:
        k, get = self.index[sheet], self.model.get_cell_value
        return np.array([[get(k, r, c) for c in range(left, right + 1)] for r in range(top, bottom + 1)], dtype=object)

    def numbers(self, sheet: str, top: int, left: int, bottom: int, right: int) -> np.ndarray:
        return as_numbers(self.read(sheet, top, left, bottom, right), f"{sheet} R{top}C{left}:R{bottom}C{right}")


def as_numbers(values: np.ndarray, where: str) -> np.ndarray:
    """The values as float64, or a failure naming the first cell that is not a number."""
    for index, value in np.ndenumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssertionError(f"{where}: cell {index} holds {value!r}, not a number")
    return values.astype(np.float64)
