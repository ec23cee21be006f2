"""The spreadsheet functions the evaluator knows, each for many cells at once.

Adding one: write `def name(n, *args)` taking values (arrays of n, or Areas) and returning
an array of n, and register it with @function("NAME"). A formula that uses a function
missing here fails with FormulaError naming it, so a new sheet cannot slip through."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .parse import FormulaError
from .values import (BLANK, DIV0, NA, NUM, NUMBER, REF, TEXT, VALUE, Area, XLError, compare, constant, first,
                     numbers, pack, scalar, to_text)

FUNCTIONS: dict[str, Callable] = {}


def function(*names: str):
    def register(f: Callable) -> Callable:
        for name in names:
            if name in FUNCTIONS:
                raise ValueError(f"two definitions of {name}")
            FUNCTIONS[name] = f
        return f
    return register


def call(name: str, n: int, args: list):
    f = FUNCTIONS.get(name)
    if f is None:
        raise FormulaError(f"the evaluator does not know the function {name} (add it to excelnet/evaluate/functions.py)")
    return f(n, *args)


def _each(n: int, f: Callable, *columns) -> np.ndarray:
    """Apply f to each cell's values (for text functions and other rare, small groups)."""
    out = np.empty(n, dtype=object)
    out[:] = [f(*row) for row in zip(*columns)] if columns else [f() for _ in range(n)]
    return out


def _objects(value, n: int) -> np.ndarray:
    value = scalar(value, n)
    return value if value.dtype == object else value.astype(object)


# --- aggregates over areas and single values --------------------------------------------


def _collect(n: int, args) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(values (n, k), which count (n, k), first error per cell) over every argument: numbers
    in areas count; text, blanks and logicals in areas are skipped, as Excel does."""
    values, masks, errors = [], [], []
    for arg in args:
        if isinstance(arg, Area):
            values.append(arg.num.reshape(n, -1))
            masks.append(arg.numbers_mask().reshape(n, -1))
            errors.append(arg.first_error())
        else:
            x, e = numbers(arg, n)
            values.append(x.reshape(n, 1))
            masks.append(np.ones((n, 1), bool))
            errors.append(e)
    return np.concatenate(values, axis=1), np.concatenate(masks, axis=1), first(*errors)


@function("SUM")
def sum_(n, *args):
    x, mask, errors = _collect(n, args)
    return pack(np.where(mask, x, 0.0).sum(axis=1), errors)


def _extreme(kind):
    def extreme(n, *args):
        x, mask, errors = _collect(n, args)
        fill = -np.inf if kind == "MAX" else np.inf
        found = np.where(mask, x, fill)
        result = found.max(axis=1) if kind == "MAX" else found.min(axis=1)
        return pack(np.where(mask.any(axis=1), result, 0.0), errors)
    return extreme


FUNCTIONS["MAX"], FUNCTIONS["MIN"] = _extreme("MAX"), _extreme("MIN")


@function("AVERAGE")
def average(n, *args):
    x, mask, errors = _collect(n, args)
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, x, 0.0).sum(axis=1) / count
    return pack(mean, first(errors, np.where(count == 0, DIV0, None)), DIV0)


@function("COUNT")
def count(n, *args):
    _, mask, _ = _collect(n, args)
    return mask.sum(axis=1).astype(np.float64)


def _kth(kind):
    def kth(n, area, k):
        x, mask, errors = _collect(n, [area])
        k, kerr = numbers(k, n)
        out = np.empty(n, dtype=object)
        for i in range(n):
            found = np.sort(x[i][mask[i]])
            j = int(math.ceil(k[i])) if math.isfinite(k[i]) else 0
            if not 1 <= j <= len(found):
                out[i] = NUM
            else:
                out[i] = float(found[-j] if kind == "LARGE" else found[j - 1])
        return _settle(pack_errors(out, first(errors, kerr)))
    return kth


FUNCTIONS["LARGE"], FUNCTIONS["SMALL"] = _kth("LARGE"), _kth("SMALL")


@function("SUMPRODUCT")
def sumproduct(n, *areas):
    areas = [a if isinstance(a, Area) else _as_area(a, n) for a in areas]
    if len({a.shape for a in areas}) != 1:
        return constant(VALUE, n)
    factors = (a.num if a.kind is None else np.where(a.kind == NUMBER, a.num, 0.0) for a in areas)
    product = next(factors) * 1.0        # text, blanks and logicals count as 0; a copy, multiplied in place:
    for factor in factors:              # a convolution's windows are 10^7 numbers
        product *= factor
    return pack(product.sum(axis=(1, 2)), first(*(a.first_error() for a in areas)))


@function("COUNTIF")
def countif(n, area, criterion):
    """COUNTIF(range, number): how many numbers in the range equal it. That is the only form
    excelnet writes (the global max pool's backward counts tied maxima); text criteria such as
    ">0" are not supported."""
    area = area if isinstance(area, Area) else _as_area(area, n)
    x, errors = numbers(criterion, n)
    hits = (area.num.reshape(n, -1) == x.reshape(n, 1)) & area.numbers_mask().reshape(n, -1)
    return pack(hits.sum(axis=1).astype(np.float64), first(errors, area.first_error()))


def _as_area(value, n: int) -> Area:
    x, _ = numbers(value, n)
    return Area(x.reshape(n, 1, 1), None, lambda: x.astype(object).reshape(n, 1, 1))


def pack_errors(out: np.ndarray, errors: np.ndarray | None) -> np.ndarray:
    if errors is not None:
        has = np.array([e is not None for e in errors])
        out[has] = errors[has]
    return out


def _settle(out: np.ndarray) -> np.ndarray:
    """An object array that holds only floats becomes float64 again (the fast path)."""
    if all(isinstance(v, float) for v in out):
        return out.astype(np.float64)
    return out


# --- maths, one value per cell ----------------------------------------------------------


def _unary(name: str, f: Callable, valid: Callable | None = None):
    def apply(n, value):
        x, errors = numbers(value, n)
        with np.errstate(all="ignore"):
            y = f(x)
        if valid is not None:
            y = np.where(valid(x), y, np.nan)
        return pack(y, errors)
    FUNCTIONS[name] = apply


_unary("EXP", np.exp)
_unary("LN", np.log, lambda x: x > 0)
_unary("LOG10", np.log10, lambda x: x > 0)
_unary("SQRT", np.sqrt, lambda x: x >= 0)
_unary("ABS", np.abs)
_unary("TANH", np.tanh)
_unary("INT", np.floor)
_unary("SIGN", np.sign)
_unary("ERF", np.vectorize(math.erf, otypes=[np.float64]))


@function("POWER")
def power(n, a, b):
    from .engine import arithmetic
    return arithmetic("^", n, a, b)


@function("MOD")
def mod(n, a, b):
    x, ex = numbers(a, n)
    y, ey = numbers(b, n)
    with np.errstate(all="ignore"):
        out = x - y * np.floor(x / y)
    return pack(np.where(y == 0, np.nan, out), first(ex, ey, np.where(y == 0, DIV0, None)), DIV0)


@function("ROUND")
def round_(n, a, digits):
    x, ex = numbers(a, n)
    d, ed = numbers(digits, n)
    scale = 10.0 ** np.trunc(d)
    return pack(np.sign(x) * np.floor(np.abs(x) * scale + 0.5) / scale, first(ex, ed))


# --- logic --------------------------------------------------------------------------------


def truth(value, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A condition per cell: numbers are true when non-zero; text is #VALUE!."""
    value = scalar(value, n)
    if value.dtype == bool:
        return value, None
    if value.dtype != object:
        return value != 0, None
    flags, errors = np.zeros(n, bool), np.full(n, None, dtype=object)
    for i, v in enumerate(value):
        if isinstance(v, XLError):
            errors[i] = v
        elif isinstance(v, str):
            errors[i] = VALUE
        else:
            flags[i] = bool(v) if v is not BLANK else False
    return flags, (errors if any(e is not None for e in errors) else None)


@function("IF")
def if_(n, condition, yes=True, no=False):
    flags, errors = truth(condition, n)
    yes = scalar(yes, n) if not isinstance(yes, bool) else constant(yes, n)
    no = scalar(no, n) if not isinstance(no, bool) else constant(no, n)
    if yes.dtype == no.dtype and yes.dtype != object:
        out = np.where(flags, yes, no)
    else:
        out = np.where(flags, yes.astype(object), no.astype(object))
        out = np.array([0.0 if v is BLANK else v for v in out] if out.size else [], dtype=object)
    return pack_errors(out.astype(object), errors) if errors is not None else out


def _logic(kind):
    def logic(n, *args):
        flags, errors = [], []
        for arg in args:
            if isinstance(arg, Area):
                arg = scalar(arg, n) if arg.shape == (1, 1) else np.where(arg.num.reshape(n, -1) != 0, 1.0, 0.0).max(axis=1)
            f, e = truth(arg, n)
            flags.append(f)
            errors.append(e)
        result = np.all(flags, axis=0) if kind == "AND" else np.any(flags, axis=0)
        return pack_errors(result.astype(object), first(*errors)) if any(e is not None for e in errors) else result
    return logic


FUNCTIONS["AND"], FUNCTIONS["OR"] = _logic("AND"), _logic("OR")


@function("NOT")
def not_(n, value):
    flags, errors = truth(value, n)
    return pack_errors((~flags).astype(object), errors) if errors is not None else ~flags


@function("IFERROR")
def iferror(n, value, fallback):
    value, fallback = _objects(value, n), _objects(fallback, n)
    return _settle(np.array([f if isinstance(v, XLError) else v for v, f in zip(value, fallback)], dtype=object))


@function("ISNUMBER")
def isnumber(n, value):
    value = scalar(value, n)
    if value.dtype != object:
        return np.full(n, value.dtype != bool)
    return np.array([isinstance(v, float) and not isinstance(v, bool) for v in value])


@function("ISBLANK")
def isblank(n, value):
    value = scalar(value, n)
    return np.array([v is BLANK for v in value]) if value.dtype == object else np.zeros(n, bool)


@function("ISTEXT")
def istext(n, value):
    value = scalar(value, n)
    return np.array([isinstance(v, str) for v in value]) if value.dtype == object else np.zeros(n, bool)


# --- lookups ------------------------------------------------------------------------------


@function("INDEX")
def index(n, area, row, col=None):
    if not isinstance(area, Area):
        area = _as_area(area, n)
    h, w = area.shape
    r, er = numbers(row, n)
    c, ec = (np.ones(n), None) if col is None else numbers(col, n)
    if col is None and h == 1 and w > 1:        # INDEX(row of cells, k): the k-th across
        r, c = np.ones(n), r
    r, c = r.astype(np.int64) - 1, c.astype(np.int64) - 1
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    rr, cc, at = np.where(inside, r, 0), np.where(inside, c, 0), np.arange(n)
    if area.kind is None or not area.kind[at, rr, cc].any():
        out = area.num[at, rr, cc]
        return out if inside.all() else pack(np.where(inside, out, np.nan), None, REF)
    out = area.objects()[at, rr, cc].copy()
    out[~inside] = REF
    return pack_errors(out, first(er, ec))


@function("MATCH")
def match(n, lookup, area, how=1.0):
    if not isinstance(area, Area) or 1 not in area.shape:
        return constant(NA, n)
    lookup = _objects(lookup, n)
    how, _ = numbers(how, n)
    cells = area.objects().reshape(n, -1)
    return _settle(_each(n, _match_one, lookup, cells, how))


def _match_one(value, cells, how):
    if isinstance(value, XLError):
        return value
    if how == 0:
        for k, cell in enumerate(cells):
            if cell is not BLANK and compare("=", cell, value) is True:
                return float(k + 1)
        return NA
    found = NA                     # approximate: the last position before the order breaks
    for k, cell in enumerate(cells):
        if cell is BLANK or isinstance(cell, XLError):
            continue
        if compare("<=" if how > 0 else ">=", cell, value) is True:
            found = float(k + 1)
        else:
            break
    return found


@function("CHOOSE")
def choose(n, which, *options):
    k, errors = numbers(which, n)
    options = [_objects(o, n) for o in options]
    out = np.array([options[int(j) - 1][i] if 1 <= int(j) <= len(options) else VALUE
                    for i, j in enumerate(k)], dtype=object)
    return _settle(pack_errors(out, errors))


# --- functions that evaluate only what they pick -------------------------------------------
# A spreadsheet computes only the branch an IF takes and the option a CHOOSE picks. Where every
# cell of a group picks the same one, so does the evaluator: an Explain block that is not shown,
# or a strokes picture with no strokes, then costs its condition alone (building the default
# workbook evaluated the strokes formulas in 64 ms, for zeros). `walk` evaluates an argument.


def lazy_if(n: int, args: list, walk: Callable) -> np.ndarray:
    condition = walk(args[0])
    flags, errors = truth(condition, n)
    taken = 1 if flags.all() else 2 if not flags.any() else None
    if errors is None and taken is not None and taken < len(args):
        branch = walk(args[taken])
        return if_(n, condition, branch, branch)
    return if_(n, condition, *[walk(a) for a in args[1:]])


def lazy_choose(n: int, args: list, walk: Callable) -> np.ndarray:
    which = walk(args[0])
    k, errors = numbers(which, n)
    if errors is None and np.isfinite(k).all():
        picked = np.trunc(k)
        if (picked == picked[0]).all() and 1 <= picked[0] < len(args):
            return _settle(_objects(walk(args[int(picked[0])]), n))
    return choose(n, which, *[walk(a) for a in args[1:]])


LAZY = {"IF": lazy_if, "CHOOSE": lazy_choose}


def _size(kind):
    def size(n, area):
        return np.full(n, float(area.shape[0 if kind == "ROWS" else 1]))
    return size


FUNCTIONS["ROWS"], FUNCTIONS["COLUMNS"] = _size("ROWS"), _size("COLUMNS")


# --- text ---------------------------------------------------------------------------------


@function("MID")
def mid(n, text, start, length):
    def one(t, s, k):
        t, s, k = to_text(t), _int(s), _int(k)
        for v in (t, s, k):
            if isinstance(v, XLError):
                return v
        return VALUE if s < 1 or k < 0 else t[s - 1:s - 1 + k]
    return _each(n, one, _objects(text, n), _objects(start, n), _objects(length, n))


def _int(v):
    from .values import _to_number
    x = _to_number(v)
    return x if isinstance(x, XLError) else int(x)


@function("VALUE")
def value(n, text):
    from .values import _to_number
    def one(v):
        if isinstance(v, str):
            return _to_number(v)
        return VALUE if v is BLANK else _to_number(v)
    return _settle(_each(n, one, _objects(text, n)))


@function("FIXED")
def fixed(n, number, decimals, no_commas):
    """FIXED(x, d, TRUE): x rounded to d decimals (as ROUND) as text with d digits after the point,
    no thousands separators. A rounded number shown this way reads the same in every engine, where
    Gnumeric writes ROUND(x, 4)&"" with 20 digits."""
    from .values import _to_number

    def one(x, d, plain):
        x, d, plain = _to_number(x), _int(d), _to_number(plain)
        for v in (x, d, plain):
            if isinstance(v, XLError):
                return v
        if d < 0:
            return VALUE
        scale = 10.0 ** d
        rounded = math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x) + 0.0   # + 0.0: never "-0.00"
        return f"{rounded:.{d}f}" if plain else f"{rounded:,.{d}f}"
    return _each(n, one, _objects(number, n), _objects(decimals, n), _objects(no_commas, n))


@function("LEN")
def len_(n, text):
    return _settle(_each(n, lambda t: t if isinstance(t := to_text(t), XLError) else float(len(t)),
                         _objects(text, n)))


@function("CONCATENATE")
def concatenate(n, *parts):
    from .engine import concat
    out = constant("", n)
    for part in parts:
        out = concat(n, out, part)
    return out


__all__ = ["FUNCTIONS", "function", "call", "TEXT", "NUM"]
