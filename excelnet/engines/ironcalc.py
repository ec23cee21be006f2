"""Recalculate a workbook in IronCalc (the `ironcalc` package: a spreadsheet engine in Rust).

A second real engine beside LibreOffice, in-process and fast (the default workbook evaluates
in about 0.15 s). IronCalc's "raw" model evaluates only when asked: every read here follows an
evaluate() after the last edit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExcelnetError
from .names import NamedRange, read_public_cells

def unavailable_reason() -> str | None:
    """Why IronCalc cannot be used here, or None when it can."""
    try:
        import ironcalc  # noqa: F401
    except ImportError:
        return "the ironcalc package is not installed (pip install 'ironcalc>=0.9')"
    return None


@dataclass(frozen=True)
class FormulaCell:
    sheet: str
    row: int
    col: int
    formula: str
    value: object          # float, str, bool or None; an error as its text ("#VALUE!")
    error: bool


class IronCalcWorkbook:
    """One workbook loaded in IronCalc: type inputs, evaluate, read cells (1-based rows and columns)."""

    def __init__(self, path: str | Path):
        reason = unavailable_reason()
        if reason:
            raise ExcelnetError(reason)
        import ironcalc

        self.path = Path(path)
        self._public = None
        try:
            self.model = ironcalc.load_from_xlsx(str(self.path), "en", "UTC")
        except BaseException as error:      # a Rust panic arrives as a BaseException
            raise ExcelnetError(f"{self.path}: IronCalc cannot read it ({error})") from None
        self.sheets = [sheet["name"] for sheet in self.model.get_worksheets_properties()]
        self._index = {name: k for k, name in enumerate(self.sheets)}
        self.cached = self.formula_cells()      # as stored in the file: nothing is evaluated yet

    @property
    def public(self):
        """The public cells (Canvas, Sample, Probabilities), read when first asked: a workbook
        without them (the from-scratch one) can still be evaluated and compared."""
        if self._public is None:
            self._public = read_public_cells(self.path)
        return self._public

    def formula_cells(self) -> list[FormulaCell]:
        """Every formula cell with its current value."""
        import ironcalc

        model, cells, error = self.model, [], ironcalc.CellType.ErrorValue
        for sheet, row, col in model.get_all_cells():
            formula = model.get_cell_formula(sheet, row, col)
            if formula:
                cells.append(FormulaCell(self.sheets[sheet], row, col, formula, model.get_cell_value(sheet, row, col),
                                         model.get_cell_type(sheet, row, col) == error))
        return cells

    def evaluate(self) -> None:
        self.model.evaluate()

    def value(self, sheet: str, row: int, col: int):
        return self.model.get_cell_value(self._index[sheet], row, col)

    def read(self, where: NamedRange) -> np.ndarray:
        """The values of a rectangle as a 2-D object array (numbers, texts, None for an empty cell)."""
        return np.array([[self.value(where.sheet, row, col) for col in range(where.left, where.right + 1)]
                         for row in range(where.top, where.bottom + 1)], dtype=object)

    def set_value(self, sheet: str, row: int, col: int, value) -> None:
        """Type a number into a cell, or clear it (None) as a user deleting its content would."""
        sheet_index = self._index[sheet]
        if value is None:
            self.model.clear_cell_contents(sheet_index, row, col)
        else:
            self.model.update_cell_with_number(sheet_index, row, col, float(value))

    def type_canvas(self, x: np.ndarray | None) -> None:
        """Type one input (the model's shape) into the canvas cells; None clears them all."""
        for k, canvas in enumerate(self.public.canvases):
            for row, col in canvas.cells():
                value = None if x is None else _canvas_value(x, k, row - canvas.top, col - canvas.left, canvas)
                self.set_value(canvas.sheet, row, col, value)

    def set_sample(self, number: int) -> None:
        if self.public.sample is None:
            raise ExcelnetError(f"{self.path}: no Sample cell")
        self.set_value(self.public.sample.sheet, self.public.sample.top, self.public.sample.left, number)

    def probabilities(self) -> np.ndarray:
        """Evaluate, then read Probabilities (NaN where a cell is not a number)."""
        self.evaluate()
        values = self.read(self.public.probabilities).reshape(-1)
        return np.array([v if isinstance(v, float) else np.nan for v in values], dtype=np.float64)

    def errors(self) -> list[FormulaCell]:
        """The formula cells whose value is an error (#VALUE!, #REF!, ...)."""
        return [cell for cell in self.formula_cells() if cell.error]

    def differences(self, rtol: float = 1e-9, atol: float = 1e-12,
                    cells: list[FormulaCell] | None = None) -> list[tuple[FormulaCell, object]]:
        """(cell as stored in the file, IronCalc's value) for every formula cell whose evaluated value
        differs from the one the file stores: numbers beyond rtol/atol, anything else when unequal.
        `cells`: formula_cells() already read since the last evaluate (a second read of a big
        workbook's cells costs seconds)."""
        now = {(c.sheet, c.row, c.col): c.value for c in (cells if cells is not None else self.formula_cells())}
        different = []
        for cell in self.cached:
            value = now.get((cell.sheet, cell.row, cell.col))
            if not same_value(cell.value, value, rtol, atol):
                different.append((cell, value))
        return different


def _canvas_value(x: np.ndarray, channel: int, row: int, col: int, canvas: NamedRange) -> float:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        return float(x[row, col, channel])
    return float(x.reshape(canvas.shape)[row, col])


def same_value(stored, value, rtol: float, atol: float) -> bool:
    """Numbers within rtol/atol; an empty text and an empty cell alike; anything else equal."""
    if isinstance(stored, (int, float)) and not isinstance(stored, bool) and \
            isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isclose(stored, value, rel_tol=rtol, abs_tol=atol)
    if stored in ("", None) and value in ("", None):
        return True
    return stored == value
