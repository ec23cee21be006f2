"""Spreadsheet values, many cells at a time.

A formula shape is evaluated for all its cells at once, so every value here is a NumPy
array with one entry per cell: float64 when every entry is a number (the fast path:
almost every cell of a network), bool for comparisons, else dtype object holding
float, str, bool, BLANK or an XLError. A reference to a block is an `Area`: (cells,
rows, cols) arrays of the numbers, and of each cell's kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUMBER, BLANK_KIND, TEXT, LOGICAL, ERROR = 0, 1, 2, 3, 4


class _Blank:
    """An empty cell: 0 in arithmetic, "" next to text."""

    def __repr__(self) -> str:
        return "BLANK"


BLANK = _Blank()


@dataclass(frozen=True)
class XLError:
    code: str            # "#DIV/0!", "#VALUE!", ...

    def __str__(self) -> str:
        return self.code


DIV0, VALUE, NUM, NA, REF = (XLError(c) for c in ("#DIV/0!", "#VALUE!", "#NUM!", "#N/A", "#REF!"))


class Area:
    """The cells of one reference, for each of n cells: `num` (n, h, w) float64, `kind` (n, h, w)
    int8 or None when all are numbers, and `objects()` for their Python values (text, ...)."""

    def __init__(self, num: np.ndarray, kind: np.ndarray | None, objects):
        self.num, self.kind, self._objects = num, kind, objects

    @property
    def shape(self) -> tuple[int, int]:
        return self.num.shape[1], self.num.shape[2]

    def objects(self) -> np.ndarray:
        """(n, h, w) object array of Python values (floats where numbers)."""
        return self._objects()

    def numbers_mask(self) -> np.ndarray:
        return np.ones(self.num.shape, bool) if self.kind is None else self.kind == NUMBER

    def first_error(self) -> np.ndarray | None:
        """Per cell: the first error value in its area, or None (an object array), or None if no errors."""
        if self.kind is None or not (self.kind == ERROR).any():
            return None
        objects = self.objects().reshape(len(self.num), -1)
        kinds = self.kind.reshape(len(self.num), -1)
        out = np.full(len(self.num), None, dtype=object)
        for i in np.flatnonzero((kinds == ERROR).any(axis=1)):
            out[i] = objects[i][np.argmax(kinds[i] == ERROR)]
        return out


def scalar(value, n: int) -> np.ndarray:
    """One value per cell: an Area of one cell becomes its value (a block is #VALUE!)."""
    if isinstance(value, Area):
        if value.shape != (1, 1):
            return np.full(n, VALUE, dtype=object)
        if value.kind is None or not value.kind.any():
            return value.num[:, 0, 0]
        return value.objects()[:, 0, 0]
    return value


def constant(value, n: int) -> np.ndarray:
    if isinstance(value, float):
        return np.full(n, value)
    out = np.empty(n, dtype=object)
    out[:] = [value] * n
    return out


def _to_number(v):
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (float, int)):
        return float(v)
    if v is BLANK:
        return 0.0
    if isinstance(v, str):
        try:
            return float(v.strip()) if v.strip() else VALUE
        except ValueError:
            return VALUE
    return v                                   # an XLError


_REPEATED = frozenset((str, bool, _Blank, XLError))


def numbers(value, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Floats for arithmetic, and the per-cell error (object array) where one is, else None."""
    value = scalar(value, n)
    if value.dtype != object:
        return value.astype(np.float64, copy=False), None
    cells = value.tolist()
    # Each distinct text, blank, error or logical is converted once: a block often repeats one ""
    # or #VALUE! thousands of times. Not numbers: as keys, 0.0 and -0.0 would be one.
    table = {v: _to_number(v) for v in {v for v in cells if type(v) in _REPEATED}}
    converted = [v if type(v) is float else table[v] if type(v) in _REPEATED else _to_number(v) for v in cells]
    if not any(isinstance(v, XLError) for v in table.values()):     # only these convert to an error
        return np.array(converted, dtype=np.float64), None
    errors = np.array([v if isinstance(v, XLError) else None for v in converted], dtype=object)
    floats = np.array([0.0 if isinstance(v, XLError) else v for v in converted], dtype=np.float64)
    return floats, errors


def first(*errors: np.ndarray | None) -> np.ndarray | None:
    """Combine per-cell errors: the first operand's error wins, as in Excel."""
    out = None
    for e in errors:
        if e is None:
            continue
        if out is None:
            out = e.copy()
        else:
            missing = np.array([x is None for x in out])
            out[missing] = e[missing]
    return out


def pack(x: np.ndarray, errors: np.ndarray | None = None, bad: XLError = NUM) -> np.ndarray:
    """Numbers back into a value: non-finite results become `bad`, errors go where they are."""
    finite = np.isfinite(x)
    if errors is None and finite.all():
        return x
    out = x.astype(object)
    out[~finite] = bad
    if errors is not None:
        has = np.array([e is not None for e in errors])
        out[has] = errors[has]
    return out


def is_error(value: np.ndarray) -> np.ndarray:
    if value.dtype != object:
        return np.zeros(len(value), bool)
    return np.array([isinstance(v, XLError) for v in value])


def to_text(v) -> str | XLError:
    """A value as `&` shows it (Excel's General format for numbers)."""
    if isinstance(v, XLError):
        return v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if v is BLANK:
        return ""
    if isinstance(v, (float, int)):
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.15g}"
    return v


def _rank(v) -> tuple:
    """Excel's order for comparisons: numbers < text (case-insensitive) < logicals."""
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, str):
        return (1, v.lower())
    return (0, float(v))


def compare(op: str, a, b) -> bool | XLError:
    if isinstance(a, XLError):
        return a
    if isinstance(b, XLError):
        return b
    if a is BLANK:
        a = "" if isinstance(b, str) else (False if isinstance(b, bool) else 0.0)
    if b is BLANK:
        b = "" if isinstance(a, str) else (False if isinstance(a, bool) else 0.0)
    x, y = _rank(a), _rank(b)
    return {"=": x == y, "<>": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]


def python_value(v):
    """A stored cell value: numbers as float, a blank result as 0 (a formula never shows blank)."""
    if v is BLANK or v is None:
        return 0.0
    if isinstance(v, (np.floating, np.integer)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v
