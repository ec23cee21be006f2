"""Weights_<i>_<k>: every weight array of every layer is named, in Keras' get_weights() order,
and its areas hold exactly the model file's numbers (the layout learning sheets line up with)."""

from __future__ import annotations

import numpy as np
import pytest
from openpyxl import load_workbook

from excelnet.engines.names import read_named_areas

from conftest import random_init


def _area_values(book, area) -> np.ndarray:
    sheet = book[area.sheet]
    return np.array([[sheet.cell(r, c).value for c in range(area.left, area.right + 1)]
                     for r in range(area.top, area.bottom + 1)], dtype=np.float64)


def _check_weights(result, keras_model) -> int:
    """Each Weights_<i>_<k> read back from the file equals get_weights()[k-1] of the same layer."""
    names = read_named_areas(result.path)
    book = load_workbook(result.path)
    checked = 0
    for index, op in enumerate(result.network.ops, start=1):
        expected = keras_model.get_layer(op.name).get_weights()
        params = result.plan.params.get(index)
        arrays = params.arrays if params else ()
        assert len(arrays) == len(expected), f"layer {index} {op.name}: {len(arrays)} arrays named"
        for k, (cells, want) in enumerate(zip(arrays, expected), start=1):
            areas = names[f"Weights_{index}_{k}"]
            assert [(a.top, a.left, a.bottom, a.right) for a in areas] == \
                [(r.row, r.col, r.bottom, r.right) for r in cells.areas]
            got = cells.to_array([_area_values(book, a) for a in areas])
            np.testing.assert_array_equal(got, want.astype(np.float64), err_msg=f"Weights_{index}_{k}")
            checked += 1
    return checked


def test_default_workbook_names_every_weight_array(default_build, default_keras_model):
    assert _check_weights(default_build, default_keras_model) == 8      # 2 conv + 2 dense, kernel and bias


def test_multichannel_filters_and_batch_norm_are_named(tmp_path):
    import keras

    from excelnet.convert import build

    inputs = keras.Input((7, 6, 3))
    x = keras.layers.Conv2D(4, (2, 3), name="conv", **random_init(1))(inputs)
    x = keras.layers.BatchNormalization(center=False, name="norm",
                                        gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=3),
                                        moving_mean_initializer=keras.initializers.RandomNormal(0, 0.3, seed=4),
                                        moving_variance_initializer=keras.initializers.RandomUniform(0.5, 2, seed=5))(x)
    x = keras.layers.Conv2D(2, 2, use_bias=False, name="conv_nobias", **random_init(6))(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(3, activation="softmax", name="dense", **random_init(8))(x)
    model = keras.Model(inputs, x)
    model.save(tmp_path / "m.keras")
    result = build(tmp_path / "m.keras", tmp_path / "m.xlsx")
    # conv: kernel, bias; norm (center=False): gamma, mean, variance; conv_nobias: kernel; dense: kernel, bias
    assert _check_weights(result, model) == 8


@pytest.mark.parametrize("channels", [1, 3])
def test_filter_pictures_are_one_per_input_channel(tmp_path, channels):
    """A filter over C input channels shows C small kh x kw pictures one below the other."""
    import keras

    from excelnet.convert import build

    model = keras.Sequential([keras.Input((5, 5, channels)), keras.layers.Conv2D(2, (2, 3), **random_init(2)),
                              keras.layers.Flatten(), keras.layers.Dense(2, **random_init(4))])
    model.save(tmp_path / "m.keras")
    result = build(tmp_path / "m.keras", tmp_path / "m.xlsx")
    areas = read_named_areas(result.path)["Weights_1_1"]
    kernel = model.layers[0].get_weights()[0]
    book = load_workbook(result.path)
    for co, area in enumerate(areas):
        picture = _area_values(book, area)
        assert picture.shape == (2 * channels, 3)
        for c in range(channels):
            np.testing.assert_array_equal(picture[2 * c:2 * c + 2, :], kernel[:, :, c, co])


def test_dense_backward_pairs_a_weights_column_only_where_nothing_else_lies_in_it():
    """∂loss/∂input reads each input's weights to all units as one range down a column: only where
    they are evenly spaced and the range holds nothing but this kernel's weights (or empty cells)."""
    from excelnet.layout import Rect
    from excelnet.ops.base import Book, block_cells
    from excelnet.ops.dense_backward import _even_spacing
    from excelnet.workbook.naming import SheetNamer

    book = Book(SheetNamer(), False)
    sheet = book.add_sheet("w", "weights")
    units = [Rect("w", 2 + 5 * j, 3, 4, 1) for j in range(3)]        # 4 inputs per unit, a gap row between
    kernel = block_cells("w", units, (4, 3), lambda idx: (idx[1], idx[0], 0 * idx[0]))
    for (r, c) in kernel.positions():
        sheet.put(r, c, 0.5)
    assert _even_spacing(kernel, book) == (0, 5)
    sheet.put(6, 3, "unit 2")                       # a label in the gap below unit 1: read by the range
    assert _even_spacing(kernel, book) is None
    del sheet.cells[(6, 3)]
    sheet.put(6, 4, "beside")                       # next to the column: not read
    assert _even_spacing(kernel, book) == (0, 5)
    uneven = block_cells("w", [units[0], units[1], Rect("w", 20, 3, 4, 1)], (4, 3),
                         lambda idx: (idx[1], idx[0], 0 * idx[0]))
    assert _even_spacing(uneven, book) is None
