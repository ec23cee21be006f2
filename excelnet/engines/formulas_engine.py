"""Evaluate a workbook with the `formulas` library (pure Python, no spreadsheet program).

Loading is slow, so the workbook is loaded once and reused for every input. Each input
is one `calculate(inputs=canvas cells, outputs=Probabilities)`: on the default workbook
that takes seconds, where compiling it into a function first took many minutes."""

from __future__ import annotations

import functools
import importlib
import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..layout import address
from .names import read_public_cells


@contextmanager
def _quiet(formulas):
    """The library draws its own progress bar (tqdm) while loading; excelnet shows its own."""
    module = importlib.import_module("formulas.excel").tqdm
    original = module.tqdm
    module.tqdm = functools.partial(original, disable=True)
    try:
        with _no_dispatch_log():
            yield
    finally:
        module.tqdm = original


@contextmanager
def _no_dispatch_log():
    """The library cannot represent a multi-area defined name (Weights_<i>_<k> of a layer whose
    weights are several blocks, in workbooks written before each block got its own name) and logs a
    traceback for it, although no formula reads the name: keep the log quiet."""
    log = logging.getLogger("schedula")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


class FormulasWorkbook:
    def __init__(self, path: str | Path):
        import formulas  # slow to import; only needed here

        self.path = Path(path)
        self.public = read_public_cells(self.path)
        with _quiet(formulas):
            self._model = formulas.ExcelModel().loads(str(self.path)).finish()
        self._inputs = [self._key(rng.sheet, r, c) for rng in self.public.canvases for r, c in rng.cells()]
        self._outputs = [self._key(self.public.probabilities.sheet, r, c)
                         for r, c in self.public.probabilities.cells()]

    def _key(self, sheet: str, row: int, col: int) -> str:
        return f"'[{self.path.name}]{sheet.upper()}'!{address(row, col)}"

    def canvas_order(self, x: np.ndarray) -> list[float]:
        """Values for the canvas cells from one input in the model's shape (H, W, C) or (N,)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 3:   # channel k fills Canvas_k
            return [float(v) for k in range(x.shape[2]) for v in x[:, :, k].reshape(-1)]
        return [float(v) for v in x.reshape(-1)]

    def cells(self, x: np.ndarray, wanted: list[tuple[str, int, int]]) -> list:
        """The values of `wanted` cells (sheet, row, col) after typing `x` into the canvas."""
        values = dict(zip(self._inputs, self.canvas_order(x)))
        keys = [self._key(*cell) for cell in wanted]
        with _no_dispatch_log():
            solution = self._model.calculate(inputs=values, outputs=keys)
        out = []
        for key in keys:
            found = solution.get(key)
            value = None if found is None else np.asarray(found.value).reshape(-1)[0]
            out.append(value.item() if isinstance(value, np.generic) else value)
        return out

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The Probabilities cells after typing `x` into the canvas."""
        values = dict(zip(self._inputs, self.canvas_order(x)))
        with _no_dispatch_log():
            solution = self._model.calculate(inputs=values, outputs=self._outputs)
        return np.array([float(np.asarray(solution[key].value).reshape(-1)[0]) for key in self._outputs])

    def read_ranges(self, x: np.ndarray, ranges, typed: dict | None = None) -> list[np.ndarray]:
        """Values of arbitrary ranges (NamedRange-like: sheet, top, left, bottom, right) after typing
        `x` into the canvas and `typed` {(sheet, row, col): value} into other cells (Target, ...)."""
        values = dict(zip(self._inputs, self.canvas_order(x)))
        for (sheet, row, col), value in (typed or {}).items():
            values[self._key(sheet, row, col)] = value
        keys = [[[self._key(r.sheet, row, col) for col in range(r.left, r.right + 1)]
                 for row in range(r.top, r.bottom + 1)] for r in ranges]
        wanted = [key for area in keys for row in area for key in row]
        with _no_dispatch_log():
            solution = self._model.calculate(inputs=values, outputs=wanted)
        return [np.array([[np.asarray(solution[key].value).reshape(-1)[0] for key in row] for row in area],
                         dtype=object) for area in keys]
