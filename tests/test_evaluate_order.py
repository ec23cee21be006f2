"""The evaluator's dependency pass: which cells a group of formulas reads (evaluate/order.py)."""

from __future__ import annotations

import numpy as np
import pytest

from excelnet.evaluate.engine import Slot
from excelnet.evaluate.order import _cells_read


@pytest.mark.parametrize("seed", range(6))
def test_cells_read_are_every_window_of_every_member(seed):
    rng = np.random.default_rng(seed)
    members = int(rng.integers(1, 400))
    height, width = (int(v) for v in rng.integers(1, 30, size=2))
    rows = rng.integers(1, 60, size=members) * int(rng.integers(1, 3))      # overlapping and spread windows
    cols = rng.integers(1, 40, size=members)
    slot = Slot("S", rows, cols, height, width)
    grid = np.zeros((rows.max() + height + 1, cols.max() + width + 1), bool)
    grid[_cells_read(slot)] = True
    expected = np.zeros_like(grid)
    for r, c in zip(rows.tolist(), cols.tolist()):
        expected[r:r + height, c:c + width] = True
    assert (grid == expected).all()


def test_one_window_shared_by_every_member():
    slot = Slot("S", np.array([4, 4, 4]), np.array([2, 2, 2]), 3, 5)
    grid = np.zeros((10, 10), bool)
    grid[_cells_read(slot)] = True
    assert np.argwhere(grid).tolist() == [[r, c] for r in range(4, 7) for c in range(2, 7)]
