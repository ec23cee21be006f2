"""The order in which groups of cells can be evaluated.

A group waits for every group whose cells it refers to. Where groups form a loop
(the same shape both feeding and reading itself: C1 = B1 where B1 is also a plain
reference), the loop's cells are ordered one by one by depth, and regrouped by depth
so each new group still runs at once. A real circular reference is an error."""

from __future__ import annotations

import numpy as np

from .engine import Grid, Group
from .parse import FormulaError
from ..layout import address


def owners(groups: list[Group], grids: dict[str, Grid]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per sheet: the group of each formula cell (-1 for others), and its index in that group."""
    owner = {name: np.full(grid.num.shape, -1, dtype=np.int32) for name, grid in grids.items()}
    member = {name: np.zeros(grid.num.shape, dtype=np.int32) for name, grid in grids.items()}
    for g, group in enumerate(groups):
        owner[group.sheet][group.rows, group.cols] = g
        member[group.sheet][group.rows, group.cols] = np.arange(len(group.rows))
    return owner, member


def dependencies(groups: list[Group], owner: dict[str, np.ndarray]) -> list[set[int]]:
    """The groups each group reads. Counted with bincount (one pass, no sort): np.unique sorted
    every reference of every slot and, on its first call, imported numpy.ma (30 ms)."""
    needs = []
    for group in groups:
        found: set[int] = set()
        for slot in group.slots:
            ids = owner[slot.sheet][_cells_read(slot)]      # -1 where a cell holds no formula
            found.update(np.flatnonzero(np.bincount(ids.ravel() + 1)[1:]).tolist())
        needs.append(found)
    return needs


def _cells_read(slot) -> tuple:
    """An index of the cells a slot's members read, each at least once: the members' windows
    overlap (a convolution's 3,872 windows of 24 x 3 cells cover a few thousand cells), so where
    that is cheaper the union is marked on the windows' bounding box (a 2-D difference array)."""
    rows, cols, height, width = slot.rows, slot.cols, slot.height, slot.width
    if slot.same_for_all():
        return slice(int(rows[0]), int(rows[0]) + height), slice(int(cols[0]), int(cols[0]) + width)
    top, left = int(rows.min()), int(cols.min())
    bottom, right = int(rows.max()) + height, int(cols.max()) + width
    if len(rows) * height * width <= 4 * (bottom - top) * (right - left):
        return (rows[:, None, None] + np.arange(height)[None, :, None],
                cols[:, None, None] + np.arange(width)[None, None, :])
    edges = np.zeros((bottom - top + 1, right - left + 1), np.int64)
    r, c = rows - top, cols - left
    for dr, dc, sign in ((0, 0, 1), (height, 0, -1), (0, width, -1), (height, width, 1)):
        np.add.at(edges, (r + dr, c + dc), sign)
    covered = edges.cumsum(axis=0).cumsum(axis=1)[:-1, :-1] > 0
    hit_rows, hit_cols = np.nonzero(covered)
    return hit_rows + top, hit_cols + left


def components(needs: list[set[int]]) -> list[list[int]]:
    """Strongly connected components, each after those it needs (Tarjan, without recursion)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], 0
    for root in range(len(needs)):
        if root in index:
            continue
        work = [(root, iter(sorted(needs[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(needs[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                out.append(component)
    return out


def schedule(groups: list[Group], grids: dict[str, Grid]) -> list[Group]:
    """The groups in an order where each runs after everything it reads."""
    owner, member = owners(groups, grids)
    needs = dependencies(groups, owner)
    order = []
    for component in components(needs):
        if len(component) == 1 and component[0] not in needs[component[0]]:
            order.append(groups[component[0]])
        else:
            order.extend(_by_depth(component, groups, owner, member))
    return order


def _by_depth(component: list[int], groups: list[Group], owner, member) -> list[Group]:
    """Split groups that feed each other into groups of cells of equal depth."""
    inside = set(component)
    edges = []     # (group, member) needs (group, member), as arrays
    for g in component:
        group = groups[g]
        for slot in group.slots:
            ids, at = slot.take(owner[slot.sheet]), slot.take(member[slot.sheet])
            for target in inside:
                hit = ids == target
                if hit.any():
                    who = np.nonzero(hit)[0]
                    edges.append((g, who, target, at[hit]))
    depth = {g: np.zeros(len(groups[g].rows), dtype=np.int64) for g in component}
    limit = sum(len(d) for d in depth.values())
    for _ in range(limit + 1):
        changed = False
        for g, who, target, whom in edges:
            wanted = depth[target][whom] + 1
            before = depth[g][who].copy()
            np.maximum.at(depth[g], who, wanted)
            changed |= bool((depth[g][who] != before).any())
        if not changed:
            break
    else:
        g = component[0]
        group = groups[g]
        raise FormulaError(f"circular reference: '{group.sheet}'!{address(int(group.rows[0]), int(group.cols[0]))} "
                           f"(={group.expression}) depends on itself")
    out = []
    for level in range(max(int(d.max()) for d in depth.values()) + 1):
        for g in component:
            mask = depth[g] == level
            if mask.any():
                out.append(groups[g].subset(mask))
    return out
