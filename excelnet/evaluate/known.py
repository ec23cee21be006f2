"""Formula blocks whose references the planner already knows (SheetPlan.formula_block).

Reading the references back out of 10^5 formula texts with a regular expression was most of
what `excelnet build --learn` waited for. An emitter that writes many formulas of one shape
at once hands over each member's references as arrays; the evaluator then parses only the
first member's text for the shape of the formula. Whether the arrays say what the text says
is checked on the first and the last member; a block that disagrees is read from its text
like any other (the values stay right; tests check that no shipped emitter disagrees)."""

from __future__ import annotations

import numpy as np

from ..sheet import Formula, KnownBlock
from .engine import Group, Slot
from .parse import SLOT, fast_slots_agree, parse, read_reference, shape_key


def _references(sheet: str, expression: str) -> list[tuple[str, int, int, int, int]]:
    """(sheet, top, left, height, width) of each reference in the text, as the evaluator reads them."""
    return [read_reference(match, sheet) for match in SLOT.finditer(expression)]


def members(keys: np.ndarray, blocks: list[KnownBlock]) -> np.ndarray:
    """Which of a sheet's cells (keys: (n, 2) rows and columns) belong to one of the blocks."""
    rows = np.concatenate([b.rows for b in blocks])
    cols = np.concatenate([b.cols for b in blocks])
    width = int(max(keys[:, 1].max(initial=0), cols.max(initial=0))) + 1
    return np.isin(keys[:, 0] * width + keys[:, 1], rows * width + cols)


def known_group(sheet: str, block: KnownBlock, cells: dict) -> "Group | None":
    """The evaluator's group for a block; None when its first or last member's text does not say
    what the block lists (one shape, the same references), so that the text is read instead."""
    if not len(block.rows):
        return None
    texts = []
    for k in (0, len(block.rows) - 1):
        value = cells.get((int(block.rows[k]), int(block.cols[k])))
        if type(value) is not Formula or _references(sheet, value.expression) != [
                (r.sheet, int(r.rows[k]), int(r.cols[k]), r.height, r.width) for r in block.references]:
            return None
        texts.append(value.expression)
    tree, spans = parse(texts[0])
    if shape_key(texts[0]) != shape_key(texts[1]) or not fast_slots_agree(texts[0], spans):
        return None
    return Group(sheet, block.rows, block.cols, tree,
                 [Slot(r.sheet, r.rows, r.cols, r.height, r.width) for r in block.references], texts[0])


def without_typed(group: Group, typed: "set | None") -> "Group | None":
    """The group without the members whose values every run types in (Evaluator's `given`)."""
    if not typed:
        return group
    keep = np.fromiter(((r, c) not in typed for r, c in zip(group.rows.tolist(), group.cols.tolist())),
                       bool, len(group.rows))
    return group.subset(keep) if keep.any() else None


def merged(groups: list[Group]) -> list[Group]:
    """Groups of one shape on one sheet, whose references read blocks of the same sizes on the
    same sheets, as one group (a convolution's filters are blocks of one shape each): fewer,
    bigger NumPy steps, as the text path makes them."""
    by_key: dict[tuple, list[Group]] = {}
    for group in groups:
        key = (group.sheet, shape_key(group.expression), tuple((s.sheet, s.height, s.width) for s in group.slots))
        by_key.setdefault(key, []).append(group)
    out = []
    for same in by_key.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        first = same[0]
        slots = [Slot(s.sheet, np.concatenate([g.slots[j].rows for g in same]),
                      np.concatenate([g.slots[j].cols for g in same]), s.height, s.width)
                 for j, s in enumerate(first.slots)]
        out.append(Group(first.sheet, np.concatenate([g.rows for g in same]), np.concatenate([g.cols for g in same]),
                         first.tree, slots, first.expression))
    return out
