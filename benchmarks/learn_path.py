"""The cells one Canvas pixel edit recalculates on its way to ProbabilitiesAfter, counted per sheet.

    .venv/bin/python benchmarks/learn_path.py [--pixel 14,14] [--model PATH]

Plans the learning workbook (excelnet build --learn, nothing written), then follows the formulas
with excelnet's own evaluator: a cell is on the path when it reads (directly or not) the edited
Canvas cell AND ProbabilitiesAfter reads it (directly or not). For each sheet: the formula cells
on the path, the cells they read (the sum of every reference's size: what SUMPRODUCT and friends
walk) and the formula groups (formulas of one shape) they belong to. The work LibreOffice does for
the edit grows with both counts (benchmarks/recalc_cost.py fits the constants); the cells that
only copy another cell are listed apart: they add a step and a cell to each path they are on."""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from common import header, print_table


def covered(slot, members: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean grid of `shape`: the cells that the chosen members of a slot read."""
    edges = np.zeros((shape[0] + 1, shape[1] + 1), np.int64)
    rows, cols = slot.rows[members], slot.cols[members]
    for dr, dc, sign in ((0, 0, 1), (slot.height, 0, -1), (0, slot.width, -1), (slot.height, slot.width, 1)):
        np.add.at(edges, (np.minimum(rows + dr, shape[0]), np.minimum(cols + dc, shape[1])), sign)
    return edges.cumsum(axis=0).cumsum(axis=1)[:-1, :-1] > 0


def reads_any(slot, marked: np.ndarray) -> np.ndarray:
    """Per member of a slot: whether its window holds a marked cell (a summed-area table)."""
    table = np.zeros((marked.shape[0] + 1, marked.shape[1] + 1), np.int64)
    table[1:, 1:] = marked.cumsum(axis=0).cumsum(axis=1)
    top, left = slot.rows, slot.cols
    bottom = np.minimum(top + slot.height, marked.shape[0])
    right = np.minimum(left + slot.width, marked.shape[1])
    top, left = np.minimum(top, marked.shape[0]), np.minimum(left, marked.shape[1])
    return (table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]) > 0


def on_path(book, start: tuple[str, int, int], ends: list) -> list[tuple[object, np.ndarray]]:
    """(group, members on the path) for every group of the evaluator's order with any."""
    changed = {name: np.zeros(grid.num.shape, bool) for name, grid in book.grids.items()}
    changed[start[0]][start[1], start[2]] = True
    forward = []
    for group in book.order:                          # in order: what a group reads is settled
        hit = np.zeros(len(group.rows), bool)
        for slot in group.slots:
            hit |= reads_any(slot, changed[slot.sheet])
        changed[group.sheet][group.rows[hit], group.cols[hit]] = True
        forward.append(hit)
    needed = {name: np.zeros(grid.num.shape, bool) for name, grid in book.grids.items()}
    for rect in ends:
        needed[rect.sheet][rect.row:rect.row + rect.rows, rect.col:rect.col + rect.cols] = True
    book.dependents = {}           # every cell the edit marks out of date (sheet -> count), on the path or not
    for group, hit in zip(book.order, forward):
        book.dependents[group.sheet] = book.dependents.get(group.sheet, 0) + int(hit.sum())
    path = []
    for group, hit in zip(reversed(book.order), reversed(forward)):   # backwards: who is read
        wanted = hit & needed[group.sheet][group.rows, group.cols]
        if wanted.any():
            for slot in group.slots:
                needed[slot.sheet] |= covered(slot, wanted, needed[slot.sheet].shape)
            path.append((group, wanted))
    return path[::-1]


def is_copy(group) -> bool:
    """A formula that is one plain reference to one cell (=B7, ='Sheet'!$C$3)."""
    slots = group.slots
    return group.tree.kind == "slot" and len(slots) == 1 and slots[0].height == slots[0].width == 1


def count(path) -> dict[str, dict[str, int]]:
    per = defaultdict(lambda: defaultdict(int))
    for group, wanted in path:
        n = int(wanted.sum())
        row = per[group.sheet]
        row["cells"] += n
        row["read"] += n * sum(s.height * s.width for s in group.slots)
        row["groups"] += 1
        if is_copy(group):
            row["copies"] += n
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pixel", default="14,14", help="row,col of the Canvas cell (0-based, as learn.py)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--groups", type=int, default=0, metavar="N",
                        help="also list the N formula groups on the path that read the most cells")
    args = parser.parse_args()
    from excelnet.convert import plan_for
    from excelnet.evaluate import Evaluator

    plan, _ = plan_for(args.model, None, None, None, True, None, True)
    names = {name: rect for sheet in plan.sheets for name, rect in sheet.names.items()}
    canvas, after = names["Canvas"], names["ProbabilitiesAfter"]
    canvas = canvas[0] if isinstance(canvas, (list, tuple)) else canvas
    after = after[0] if isinstance(after, (list, tuple)) else after
    r, c = (int(v) for v in args.pixel.split(","))
    book = Evaluator(plan.sheets)
    path = on_path(book, (canvas.sheet, canvas.row + r, canvas.col + c), [after])
    per = count(path)
    order = [s.title for s in plan.sheets if s.title in per]
    order = [s.title for s in plan.sheets if s.title in per or book.dependents.get(s.title)]
    rows = [[title, f"{book.dependents.get(title, 0):,}", f"{per[title]['cells']:,}", f"{per[title]['copies']:,}",
             f"{per[title]['read']:,}", f"{per[title]['groups']:,}"] for title in order]
    total = {k: sum(per[t][k] for t in order) for k in ("cells", "copies", "read", "groups")}
    rows.append(["all", f"{sum(book.dependents.values()):,}", f"{total['cells']:,}", f"{total['copies']:,}",
                 f"{total['read']:,}", f"{total['groups']:,}"])
    header(f"One Canvas pixel ({r},{c}) -> ProbabilitiesAfter: the formula cells on the path")
    print_table("Per sheet", ["sheet", "cells out of date", "cells on the path", "of them copies of one cell", "cells they read",
                              "formula groups"], rows)
    if args.groups:
        biggest = sorted(path, key=lambda p: -int(p[1].sum()) * sum(s.height * s.width for s in p[0].slots))
        print_table(f"The {args.groups} groups that read the most", ["sheet", "cells", "cells read", "one formula"],
                    [[g.sheet, f"{int(w.sum()):,}", f"{int(w.sum()) * sum(s.height * s.width for s in g.slots):,}",
                      g.expression[:90]] for g, w in biggest[:args.groups]])


if __name__ == "__main__":
    main()
