"""Many formulas of one shape, written from a template, with their references known.

A template is a formula with mark(name) where a reference goes; each member (a cell) says which
block each mark stands for. The formula text is put together here (the same text the emitter
would have written cell by cell), and the references are recorded as arrays on the sheet
(SheetPlan.known) so the evaluator need not read them back out of 10^5 texts.

    formula_templates(sheet, rows, cols, [template], None, {"x": [Rect, ...], "w": Rect})

    cells = Templates(sheet)                 # or collected cell by cell
    cells.add(row, col, template, x=Rect(...), w=Rect(...))
    cells.write()

A place is one Rect for every member (written absolute, $A$1), a list of Rects (one per member,
relative), Each(rects, absolute) or a Reference (arrays: the fastest to write)."""

from __future__ import annotations

from itertools import repeat

import numpy as np

from .layout import Rect, column_letter, quote_sheet
from .sheet import MARK, Each, Reference, SheetPlan


class _Column:
    """One mark's references for the members of one template: arrays when they all read blocks of
    one size on one sheet (then known), else only their texts."""

    def __init__(self, place: "Rect | list[Rect] | Each | Reference", members: np.ndarray):
        if isinstance(place, Rect):
            self.shared, self.absolute = place, True
            self.reference = Reference(place.sheet, np.full(len(members), place.row, np.int64),
                                       np.full(len(members), place.col, np.int64), place.rows, place.cols)
            return
        self.shared = None
        absolute = place.absolute if isinstance(place, Each) else False
        rects = place.rects if isinstance(place, Each) else place
        self.absolute = absolute
        if isinstance(rects, Reference):
            self.reference = Reference(rects.sheet, rects.rows[members], rects.cols[members], rects.height, rects.width)
            return
        chosen = [rects[m] for m in members.tolist()]
        if len({(r.sheet, r.rows, r.cols) for r in chosen}) == 1:
            first = chosen[0]
            self.reference = Reference(first.sheet, np.fromiter((r.row for r in chosen), np.int64, len(chosen)),
                                       np.fromiter((r.col for r in chosen), np.int64, len(chosen)),
                                       first.rows, first.cols)
        else:                   # blocks of several sizes or sheets: written, but read from the text
            self.reference, self.rects = None, chosen

    def text(self, here: str, count: int):
        if self.shared is not None:
            return repeat(self.shared.ref(here, absolute=True), count)
        if self.reference is None:
            return [r.ref(here, self.absolute) for r in self.rects]
        r = self.reference
        return _texts(r.sheet, r.rows, r.cols, r.height, r.width, here, self.absolute)


def _texts(sheet: str, rows: np.ndarray, cols: np.ndarray, height: int, width: int, here: str,
           absolute: bool) -> list[str]:
    """What layout.range_ref writes for each block, for many at once."""
    prefix = "" if sheet == here else f"{quote_sheet(sheet)}!"
    d = "$" if absolute else ""
    last = int(cols.max(initial=0)) + width
    letters = [column_letter(c) if c else "" for c in range(last + 1)]
    if height == 1 and width == 1:
        return [f"{prefix}{d}{letters[c]}{d}{r}" for r, c in zip(rows.tolist(), cols.tolist())]
    return [f"{prefix}{d}{letters[c]}{d}{r}:{d}{letters[c + width - 1]}{d}{r + height - 1}"
            for r, c in zip(rows.tolist(), cols.tolist())]


def _write_kind(sheet: SheetPlan, template: str, rows: np.ndarray, cols: np.ndarray, columns: dict) -> list[str]:
    """The texts of one template's members; their references recorded when all are known."""
    parts = template.split(MARK)
    pieces, references = [], []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            pieces.append(repeat(part, len(rows)))
            continue
        column = columns[part]
        pieces.append(column.text(sheet.title, len(rows)))
        references.append(column.reference)
    if all(r is not None for r in references):
        sheet.know(rows, cols, references)
    return list(map("".join, zip(*pieces)))


def formula_templates(sheet: SheetPlan, rows, cols, templates: list[str], which, places: dict,
                      style: str | None = None) -> None:
    """Formulas from templates, in the members' order: member m is templates[which[m]] (`which`
    None: all the first) with each mark(name) replaced by a reference to places[name]."""
    rows, cols = np.asarray(rows, np.int64).reshape(-1), np.asarray(cols, np.int64).reshape(-1)
    which = np.zeros(len(rows), np.int64) if which is None else np.asarray(which, np.int64).reshape(-1)
    texts: list = [None] * len(rows)
    for t, template in enumerate(templates):
        members = np.flatnonzero(which == t)
        if not len(members):
            continue
        names = template.split(MARK)[1::2]
        columns = {name: _Column(places[name], members) for name in dict.fromkeys(names)}
        for m, text in zip(members.tolist(), _write_kind(sheet, template, rows[members], cols[members], columns)):
            texts[m] = text
    sheet.insert_formulas(rows, cols, texts, style)


class Templates:
    """Formulas collected cell by cell (a template and the block each of its marks stands for),
    written at once by write(), in the order they were added: one formula block per template and
    sizes of its blocks. Names in `absolute` are written $A$1, the others relative."""

    def __init__(self, sheet: SheetPlan, absolute: tuple[str, ...] = ()):
        self.sheet, self.absolute = sheet, set(absolute)
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.kinds: dict[tuple, tuple[list[int], dict[str, list[Rect]]]] = {}

    def add(self, row: int, col: int, template: str, **places: Rect) -> None:
        key = (template,) + tuple((name, rect.rows, rect.cols) for name, rect in places.items())
        kind = self.kinds.get(key)
        if kind is None:
            kind = self.kinds[key] = ([], {name: [] for name in places})
        kind[0].append(len(self.rows))
        for name, rect in places.items():
            kind[1][name].append(rect)
        self.rows.append(row)
        self.cols.append(col)

    def write(self) -> None:
        rows, cols = np.array(self.rows, np.int64), np.array(self.cols, np.int64)
        texts: list = [None] * len(rows)
        for key, (members, places) in self.kinds.items():
            members = np.array(members, np.int64)
            everyone = np.arange(len(members))
            columns = {name: _Column(Each(rects, name in self.absolute), everyone) for name, rects in places.items()}
            for m, text in zip(members.tolist(), _write_kind(self.sheet, key[0], rows[members], cols[members], columns)):
                texts[m] = text
        if len(rows):
            self.sheet.insert_formulas(rows, cols, texts, None)
        self.rows, self.cols, self.kinds = [], [], {}
