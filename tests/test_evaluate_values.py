"""The evaluator's conversion of mixed cells to numbers (evaluate/values.numbers), as Excel does it."""

from __future__ import annotations

import math

import numpy as np

from excelnet.evaluate.values import BLANK, DIV0, NUM, VALUE, numbers


def test_mixed_cells_become_numbers_and_errors():
    cells = np.array([1.5, -0.0, "", " 2 ", "x", BLANK, True, False, DIV0, "", -0.0, 0.0, NUM, np.float64(-0.0), 3],
                     dtype=object)
    floats, errors = numbers(cells, len(cells))
    assert floats.tolist() == [1.5, 0.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0]
    assert [math.copysign(1, v) for v in floats[[1, 10, 11, 13]]] == [-1, -1, 1, -1]   # -0.0 keeps its sign
    assert errors.tolist() == [None, None, VALUE, None, VALUE, None, None, None, DIV0, VALUE, None, None, NUM,
                               None, None]


def test_cells_without_errors_give_no_error_array():
    floats, errors = numbers(np.array([BLANK, "4", True, 2.5, BLANK], dtype=object), 5)
    assert floats.tolist() == [0.0, 4.0, 1.0, 2.5, 0.0] and errors is None
    floats, errors = numbers(np.array([1.0, 2.0]), 2)
    assert floats.tolist() == [1.0, 2.0] and errors is None
