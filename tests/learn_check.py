"""What --learn workbooks are checked against: TensorFlow's gradients and one Keras SGD step.

Shared by the learning tests (formulas engine and LibreOffice)."""

from __future__ import annotations

import numpy as np

GRAD_RTOL = 1e-4          # the tolerance: rtol 1e-4, atol 1e-5 × max|tf| per array
AFTER_RTOL, AFTER_ATOL = 1e-4, 1e-6


def tf_learning(model, x: np.ndarray, target: int, rate: float) -> dict:
    """Keras' view of one step on one example: gradients of −ln p(target) with respect to every
    weight array of every layer (by layer name, get_weights() order) and the input, then the
    probabilities and loss after one SGD step (trainable weights only) with `rate`."""
    import keras
    import tensorflow as tf

    x = tf.constant(np.asarray(x, dtype=np.float32)[None])
    def tensors(weights):            # Keras 3 variables wrap a tf.Variable, which the tape understands
        return [getattr(w, "value", w) for w in weights]

    variables = tensors(w for layer in model.layers for w in layer.weights)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        tape.watch(variables)          # also the non-trainable ones (BatchNormalization's moving statistics)
        probs = model(x, training=False)
        loss = -tf.math.log(probs[0, target])
    grads = {layer.name: [np.asarray(g, dtype=np.float64) if g is not None else np.zeros(w.shape)
                          for g, w in zip(tape.gradient(loss, tensors(layer.weights)), layer.weights)]
             for layer in model.layers}
    input_grad = np.asarray(tape.gradient(loss, x)[0], dtype=np.float64)
    trainable = model.trainable_variables
    steps = tape.gradient(loss, trainable)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for variable, step in zip(clone.trainable_variables, steps):
        variable.assign_sub(rate * step)
    after = np.asarray(clone(x, training=False)[0], dtype=np.float64)
    del tape, variables
    return {"grads": grads, "input": input_grad, "loss": float(loss), "after": after,
            "loss_after": float(-np.log(after[target]))}


def assert_gradient(sheet: np.ndarray, tf_value: np.ndarray, what: str) -> None:
    sheet, tf_value = np.asarray(sheet, dtype=np.float64), np.asarray(tf_value, dtype=np.float64)
    assert sheet.shape == tf_value.shape, f"{what}: shape {sheet.shape} != {tf_value.shape}"
    atol = 1e-5 * float(np.max(np.abs(tf_value))) if tf_value.size else 0.0
    close = np.isclose(sheet, tf_value, rtol=GRAD_RTOL, atol=atol)
    if not close.all():
        bad = np.argwhere(~close)[:4]
        details = ", ".join(f"{tuple(i)}: sheet {sheet[tuple(i)]:.6g} tf {tf_value[tuple(i)]:.6g}" for i in bad)
        raise AssertionError(f"{what}: {int((~close).sum())} of {close.size} differ from TensorFlow ({details})")
    assert np.abs(tf_value).max() > 0 or np.abs(sheet).max() == 0, f"{what}: all zero"


def assert_learning(values: dict, expected: dict, network, what: str = "") -> int:
    """Every Grad_<i>_<k>, InputGradient, ProbabilitiesAfter and LossAfter against TensorFlow.
    Returns how many gradient arrays were compared."""
    checked = 0
    for index, op in enumerate(network.ops, start=1):
        want = expected["grads"][op.name]
        got = values["grads"].get(index, [])
        assert len(got) == len(want), f"{what} layer {index} {op.name}: {len(got)} gradient arrays, Keras {len(want)}"
        for k, (g, w) in enumerate(zip(got, want), start=1):
            assert_gradient(g, w, f"{what} Grad_{index}_{k} ({op.name})")
            checked += 1
    assert_gradient(values["input"], expected["input"].reshape(values["input"].shape), f"{what} InputGradient")
    np.testing.assert_allclose(values["loss"], expected["loss"], rtol=AFTER_RTOL, atol=AFTER_ATOL,
                               err_msg=f"{what} Loss")
    np.testing.assert_allclose(values["after"], expected["after"], rtol=AFTER_RTOL, atol=AFTER_ATOL,
                               err_msg=f"{what} ProbabilitiesAfter")
    np.testing.assert_allclose(values["loss_after"], expected["loss_after"], rtol=AFTER_RTOL, atol=AFTER_ATOL,
                               err_msg=f"{what} LossAfter")
    return checked


def learning_names(result) -> dict:
    """Defined names of a --learn workbook: {name: [NamedRange, ...]}."""
    from excelnet.engines.names import read_named_areas

    return read_named_areas(result.path)


def read_learning(read, names: dict, result) -> dict:
    """The learning cells as arrays, with `read(list of NamedRange) -> list of 2-D arrays`."""
    grads = {}
    for index, params in result.plan.params.items():
        grads[index] = [cells.to_array(read(names[f"Grad_{index}_{k}"]))
                        for k, cells in enumerate(params.arrays, start=1)]
    canvas = sorted((n for n in names if n == "InputGradient" or n.startswith("InputGradient_")),
                    key=lambda n: int(n.split("_")[1]) if "_" in n else 0)
    pictures = [np.asarray(v, dtype=np.float64) for v in read([names[n][0] for n in canvas])]
    shape = result.network.input_shape
    x = np.stack(pictures, axis=-1) if len(shape) == 3 else pictures[0].reshape(shape)
    single = read([names["Loss"][0], names["LossAfter"][0], names["ProbabilitiesAfter"][0]])
    return {"grads": grads, "input": x, "loss": float(single[0][0, 0]), "loss_after": float(single[1][0, 0]),
            "after": np.asarray(single[2], dtype=np.float64).reshape(-1)}
