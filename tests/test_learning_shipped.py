"""The shipped model with --learn: gradients and the step equal TensorFlow on several digits and
targets, edits in LibreOffice change them as TensorFlow says, and the prebuilt workbook is fresh."""

from __future__ import annotations

import numpy as np
import pytest

from learn_check import assert_learning, learning_names, read_learning, tf_learning
from test_default_workbook import _parts

from pathlib import Path

PREBUILT = Path(__file__).resolve().parents[1] / "workbooks" / "mnist_cnn_learn.xlsx"
COMMAND = "excelnet build --learn -o workbooks/mnist_cnn_learn.xlsx"


@pytest.fixture(scope="module")
def learn_build(tmp_path_factory):
    from excelnet.convert import build

    return build(output=tmp_path_factory.mktemp("learn") / "mnist_cnn_learn.xlsx", learn=True)


def _cases(result, model):
    """(digit, target, rate): wrong targets, and the true label of the digit the network is least sure of.
    (Where p(target) is 1 − 1e-7, TensorFlow's float32 cannot resolve p − 1, so such cases prove nothing.)"""
    x = result.samples.model_inputs(result.network.input_shape)
    probs = model.predict(x, verbose=0)
    labels = result.samples.labels
    unsure = int(np.argmin(probs[np.arange(len(x)), labels]))
    return [(0, (int(labels[0]) + 3) % 10, 0.01), (1, (int(labels[1]) + 5) % 10, 0.5),
            (unsure, int(labels[unsure]), 0.1), (2, (int(labels[2]) + 1) % 10, 3.0)]


def _set_case(office, names, x, target, rate):
    from excelnet.engines.libreoffice import canvas_grids

    office.run(canvas_grids(x))
    office.set_value(names["Target"][0], target)
    office.set_value(names["LearningRate"][0], rate)
    office.recalc()


@pytest.mark.libreoffice
def test_shipped_model_learns_as_tensorflow_says(libreoffice, learn_build, default_keras_model):
    names = learning_names(learn_build)
    x = learn_build.samples.model_inputs(learn_build.network.input_shape)
    libreoffice.open(learn_build.path)
    for digit, target, rate in _cases(learn_build, default_keras_model):
        _set_case(libreoffice, names, x[digit], target, rate)
        values = read_learning(libreoffice.read_ranges, names, learn_build)
        expected = tf_learning(default_keras_model, x[digit], target, rate)
        assert assert_learning(values, expected, learn_build.network, f"digit {digit} target {target}:") == 8
    assert libreoffice.errors() == {}


@pytest.mark.libreoffice
def test_edits_in_libreoffice_change_the_step_as_tensorflow_says(libreoffice, learn_build, default_keras_model):
    """A Canvas pixel, a weight and a filter switch, typed into LibreOffice like a student would."""
    import keras

    names = learning_names(learn_build)
    x = learn_build.samples.model_inputs(learn_build.network.input_shape)[3].copy()
    target, rate = (int(learn_build.samples.labels[3]) + 2) % 10, 0.2
    libreoffice.open(learn_build.path)
    _set_case(libreoffice, names, x, target, rate)
    model = keras.models.clone_model(default_keras_model)
    model.set_weights(default_keras_model.get_weights())

    def check(what):
        libreoffice.recalc()
        values = read_learning(libreoffice.read_ranges, names, learn_build)
        assert_learning(values, tf_learning(model, x, target, rate), learn_build.network, what)

    x[14, 9, 0] = 1.0                                      # one pixel of ink
    libreoffice.set_value(names["Canvas"][0], 1.0, row=14, col=9)
    check("after a pixel edit:")
    conv2 = learn_build.network.ops[2]                     # a weight of the second convolution
    kernel = model.get_layer(conv2.name).get_weights()
    cells = learn_build.plan.params[3].arrays[0]
    area = names["Weights_3_1"][int(cells.area_index[1, 2, 4, 7])]
    dr, dc = cells.offsets[1, 2, 4, 7]
    kernel[0][1, 2, 4, 7] = 0.75
    model.get_layer(conv2.name).set_weights(kernel)
    libreoffice.set_value(area, 0.75, row=int(dr), col=int(dc))
    check("after a weight edit:")
    conv1 = learn_build.network.ops[0]                     # filter 3 of the first convolution off
    switch = next(areas for name, areas in names.items() if name.startswith("Switch_") and name.endswith("_3")
                  and conv1.name in name)
    libreoffice.set_value(switch[0], 0)
    kernel, bias = model.get_layer(conv1.name).get_weights()
    kernel[..., 2], bias[2] = 0.0, 0.0                     # relu(0) = 0 and relu'(0) = 0: no gradient, no update
    model.get_layer(conv1.name).set_weights([kernel, bias])
    check("with filter 3 switched off:")
    values = read_learning(libreoffice.read_ranges, names, learn_build)
    assert np.all(values["grads"][1][0][..., 2] == 0) and values["grads"][1][1][2] == 0


def test_prebuilt_learn_workbook_is_up_to_date(learn_build):
    assert PREBUILT.exists(), f"{PREBUILT} is missing: run `{COMMAND}`"
    fresh, shipped = _parts(learn_build.path), _parts(PREBUILT)
    stale = sorted(n for n in set(fresh) | set(shipped) if fresh.get(n) != shipped.get(n))
    assert not stale, f"workbooks/mnist_cnn_learn.xlsx is stale ({', '.join(stale[:5])} differ): run `{COMMAND}`"
