"""Property: any chain of supported layers, with random shapes, options and weights,
gives a workbook that computes what Keras computes (formulas engine, rtol 1e-5, atol 1e-6).

Models are described as plain data (a recipe) so hypothesis can print and shrink them;
each is built in Keras 3 (.keras or .h5) or Keras 2 (tf_keras, .h5)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_matches

KERAS3_ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
                      "hard_sigmoid", "swish", "silu", "relu6", "leaky_relu", "mish", "hard_silu"]
KERAS2_ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
                      "hard_sigmoid", "swish", "mish"]


def _window(draw, size: int, padding: str) -> int:
    return draw(st.integers(1, min(3, size) if padding == "valid" else 3))


@st.composite
def recipes(draw):
    """(framework, format, input shape, [(layer class, options), ...])."""
    framework = draw(st.sampled_from(["keras3", "keras3", "keras2"]))
    fmt = ".h5" if framework == "keras2" else draw(st.sampled_from([".keras", ".h5"]))
    acts = KERAS3_ACTIVATIONS if framework == "keras3" else KERAS2_ACTIVATIONS
    kind = draw(st.sampled_from(["image", "image", "grayscale", "vector"]))
    if kind == "image":
        shape = (draw(st.integers(3, 6)), draw(st.integers(3, 6)), draw(st.integers(1, 3)))
    elif kind == "grayscale":
        shape = (draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    else:
        shape = (draw(st.integers(2, 8)),)
    layers, current = [], shape
    for _ in range(draw(st.integers(1, 4))):
        if len(current) == 2:
            choice = draw(st.sampled_from(["to_image", "flatten", "rescale"]))
            if choice == "to_image":
                layers.append(("Reshape", {"target_shape": current + (1,)}))
                current = current + (1,)
            elif choice == "flatten":
                layers.append(("Flatten", {}))
                current = (current[0] * current[1],)
            else:
                layers.append(("Rescaling", {"scale": draw(st.sampled_from([1 / 255, 0.5, 2.0])),
                                             "offset": draw(st.sampled_from([0.0, -0.5]))}))
        elif len(current) == 3:
            choice = draw(st.sampled_from(["conv", "conv", "pool", "bn", "act", "rescale", "dropout"]))
            h, w, c = current
            if choice == "conv":
                padding = draw(st.sampled_from(["valid", "same"]))
                kernel = (_window(draw, h, padding), _window(draw, w, padding))
                strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
                filters = draw(st.integers(1, 3))
                layers.append(("Conv2D", {"filters": filters, "kernel_size": kernel, "strides": strides,
                                          "padding": padding, "use_bias": draw(st.booleans()),
                                          "activation": draw(st.sampled_from(acts))}))
                current = _out(current, kernel, strides, padding, filters)
            elif choice == "pool":
                padding = draw(st.sampled_from(["valid", "same"]))
                pool = (_window(draw, h, padding), _window(draw, w, padding))
                strides = draw(st.sampled_from([None, (1, 1), (2, 1), (1, 2), (2, 2)]))
                cls = draw(st.sampled_from(["MaxPooling2D", "AveragePooling2D"]))
                layers.append((cls, {"pool_size": pool, "strides": strides, "padding": padding}))
                current = _out(current, pool, strides or pool, padding, c)
            elif choice == "bn":
                layers.append(("BatchNormalization", {"center": draw(st.booleans()), "scale": draw(st.booleans()),
                                                      "epsilon": draw(st.sampled_from([1e-3, 0.1]))}))
            elif choice == "act":
                layers.append(draw(_activation_layer(acts)))
            elif choice == "rescale":
                layers.append(("Rescaling", {"scale": draw(st.sampled_from([1 / 255, 0.5, 2.0])),
                                             "offset": draw(st.sampled_from([0.0, 0.1]))}))
            else:
                layers.append((draw(st.sampled_from(["Dropout", "SpatialDropout2D", "GaussianNoise"])), {}))
            if draw(st.integers(0, 3)) == 0:   # sometimes leave the image for a vector
                end = draw(st.sampled_from(["Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Reshape"]))
                layers.append((end, {"target_shape": (-1,)} if end == "Reshape" else {}))
                current = (current[2],) if end.startswith("Global") else (int(np.prod(current)),)
        else:
            choice = draw(st.sampled_from(["dense", "dense", "bn", "act", "dropout"]))
            if choice == "dense":
                units = draw(st.integers(1, 6))
                layers.append(("Dense", {"units": units, "use_bias": draw(st.booleans()),
                                         "activation": draw(st.sampled_from(acts))}))
                current = (units,)
            elif choice == "bn":
                layers.append(("BatchNormalization", {"center": draw(st.booleans()), "scale": draw(st.booleans())}))
            elif choice == "act":
                layers.append(draw(_activation_layer(acts)))
            else:
                layers.append((draw(st.sampled_from(["Dropout", "GaussianDropout"])), {}))
    if len(current) != 1:
        layers.append(("Flatten", {}))
    last = draw(st.sampled_from(["softmax", "sigmoid", "linear"]))
    layers.append(("Dense", {"units": draw(st.integers(2, 5)), "activation": last}))
    return framework, fmt, shape, layers


def keras_outputs(model, inputs: np.ndarray) -> np.ndarray:
    """Keras' outputs one example at a time: with TensorFlow's oneDNN kernels (the default on
    x86) a batched Conv2D whose stride skips input columns, e.g. kernel 1x2, stride 2 on a
    width of 3, returns wrong numbers for the whole batch; one example at a time is right."""
    return np.concatenate([model.predict(x[None], verbose=0) for x in inputs])


def _activation_layer(acts):
    return st.one_of(
        st.builds(lambda a: ("Activation", {"activation": a}), st.sampled_from(acts)),
        st.builds(lambda m, s, t: ("ReLU", {"max_value": m, "negative_slope": s, "threshold": t}),
                  st.sampled_from([None, 0.5, 6.0]), st.sampled_from([0.0, 0.1]), st.sampled_from([0.0, 0.2])),
        st.builds(lambda s: ("LeakyReLU", {"negative_slope": s}), st.sampled_from([0.01, 0.3])),
        st.builds(lambda a: ("ELU", {"alpha": a}), st.sampled_from([1.0, 0.5])),
    )


def _out(shape, window, strides, padding, channels):
    from excelnet.shapes import output_size

    return (output_size(shape[0], window[0], strides[0], padding),
            output_size(shape[1], window[1], strides[1], padding), channels)


def _build(framework, shape, layers, seed):
    if framework == "keras3":
        import keras as k
    else:
        import tf_keras as k
    k.utils.set_random_seed(seed)
    built = [k.Input(shape)]
    for n, (cls, options) in enumerate(layers):
        options = dict(options)
        if cls in ("Conv2D", "Dense"):
            options["kernel_initializer"] = k.initializers.RandomNormal(0, 0.5, seed=seed + n)
            options["bias_initializer"] = k.initializers.RandomNormal(0, 0.5, seed=seed + n + 100)
        if cls in ("Dropout", "SpatialDropout2D", "GaussianDropout"):
            options["rate"] = 0.3
        if cls == "GaussianNoise":
            options["stddev"] = 0.5
        if cls == "LeakyReLU" and framework == "keras2":
            options = {"alpha": options["negative_slope"]}
        built.append(getattr(k.layers, cls)(**options))
    model = k.Sequential(built)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.3, 2.0, w.shape).astype("float32") if "variance" in w.name
                               else rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.weights])
    return model


def input_range(layers) -> tuple[float, float]:
    """Pixels 0..255 for a model that rescales them by about 1/255 first, else -1..1."""
    return (0, 255) if any(cls == "Rescaling" and opts["scale"] < 0.01 for cls, opts in layers) else (-1, 1)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recipe=recipes(), seed=st.integers(0, 1000))
def test_random_chains_workbook_equals_keras(recipe, seed):
    from excelnet.convert import build
    from excelnet.engines.formulas_engine import FormulasWorkbook

    framework, fmt, shape, layers = recipe
    model = _build(framework, shape, layers, seed)
    low, high = input_range(layers)
    inputs = np.random.default_rng(seed).uniform(low, high, (2,) + shape).astype("float32")
    expected = keras_outputs(model, inputs)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model{fmt}"
        model.save(path)
        workbook = FormulasWorkbook(build(path, Path(folder) / "model.xlsx").path)
        for i, x in enumerate(inputs):
            assert_matches(workbook.probabilities(x), expected[i], f"{recipe} input {i}:")
