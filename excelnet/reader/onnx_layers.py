"""ONNX operators with weights or windows: Conv, pooling, Gemm/MatMul, scikit-learn's
LinearClassifier, and the Flatten/Reshape/Squeeze that lead from a feature map to a vector.

Conv kernels go from ONNX's OIHW to Keras' HWIO. A flattened feature map keeps Keras' (y, x, c)
order on the sheets, so the rows of the Gemm/MatMul weights that read it are permuted from
PyTorch's (c, y, x) order (as hls4ml does)."""

from __future__ import annotations

import numpy as np

from ..shapes import output_size, same_amounts
from ..text import safe_name
from .onnx_ops import DATA, NodeProblem, _check, _constant, _spec, _weight, op


# --- windows: Conv and pooling ----------------------------------------------------------


def _window_options(attrs: dict, x, window: tuple[int, int], reasons: list[str], strides_default=1):
    """(strides, padding) in Keras terms from ONNX's strides, pads, auto_pad and dilations."""
    strides = tuple(int(s) for s in attrs.get("strides", (strides_default, strides_default)))
    if any(int(d) != 1 for d in attrs.get("dilations", (1, 1))):
        reasons.append(f"dilations={list(attrs['dilations'])} is not supported (only 1)")
    if len(window) != 2 or len(strides) != 2:
        reasons.append("only 2-D windows (over H and W) are supported")
        return (1, 1), "valid"
    if min(window) < 1 or min(strides) < 1:
        reasons.append(f"its window {list(window)} and strides {list(strides)} must be positive")
        return (1, 1), "valid"
    auto = attrs.get("auto_pad", "NOTSET")
    pads = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        reasons.append(f"auto_pad={safe_name(repr(auto))} is not an ONNX padding (NOTSET, SAME_UPPER, SAME_LOWER "
                       "or VALID)")
        return strides, "valid"
    if len(pads) != 4 or min(pads) < 0:
        reasons.append(f"its pads {pads} are not four sizes of 0 or more (top, left, bottom, right)")
        return strides, "valid"
    if auto == "SAME_UPPER":
        return strides, "same"
    if auto == "SAME_LOWER":
        if x is None:
            return strides, "valid"
        return strides, tuple(same_amounts(x.keras[a], window[a], strides[a], extra_after=False) for a in (0, 1))
    if auto == "VALID" or not any(pads):
        return strides, "valid"
    return strides, ((pads[0], pads[2]), (pads[1], pads[3]))     # ONNX: [top, left, bottom, right]


def _need_image(x, reasons: list[str]) -> None:
    if x is not None and not x.is_image:
        reasons.append(f"its input {x.shape} is not a feature map (batch, channels, H, W)")


def _windowed(x, window, strides, padding, channels: int, ceil_mode: bool = False):
    """The data tensor a window op produces, or a problem when the window does not fit."""
    from .onnx import Tensor

    sizes = [output_size(x.keras[a], window[a], strides[a], padding if isinstance(padding, str) else padding[a],
                         ceil_mode) for a in (0, 1)]
    if min(sizes) < 1:
        raise NodeProblem(f"its {window[0]}×{window[1]} window does not fit the {x.keras[0]}×{x.keras[1]} input")
    return Tensor.of_onnx((1, channels, sizes[0], sizes[1]))


@op("Conv")
def conv(node, x, args, attrs, walk):
    reasons = []
    weight = _weight(args, 1, "weight", reasons)
    bias = _weight(args, 2, "bias", reasons)
    if weight is not None and weight.ndim != 4:
        reasons.append(f"its weight has shape {list(weight.shape)}; a 2-D convolution's is (filters, channels, H, W)")
        weight = None
    if weight is not None and "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != weight.shape[2:]:
        reasons.append(f"its kernel_shape {list(attrs['kernel_shape'])} contradicts its weight's "
                       f"{list(weight.shape[2:])}")
    if weight is not None and bias is not None and bias.shape != weight.shape[:1]:
        reasons.append(f"its bias has shape {list(bias.shape)}, not one value for each of its {weight.shape[0]} "
                       "filters")
    if int(attrs.get("group", 1)) != 1:
        reasons.append(f"group={attrs['group']} is not supported (only 1)")
    window = tuple(weight.shape[2:]) if weight is not None else (1, 1)
    strides, padding = _window_options(attrs, x, window, reasons)
    _need_image(x, reasons)
    if x is not None and weight is not None and weight.shape[1] != x.shape[1]:
        reasons.append(f"its weight expects {weight.shape[1]} input channels but the input has {x.shape[1]}")
    if not _check(reasons, x):
        return [], None
    config = {"filters": int(weight.shape[0]), "kernel_size": window, "strides": strides, "padding": padding,
              "activation": "linear", "use_bias": bias is not None}
    weights = (weight.transpose(2, 3, 1, 0),) + (() if bias is None else (bias,))   # OIHW -> HWIO
    y = _windowed(x, window, strides, padding, int(weight.shape[0]))
    return [_spec(node, "Conv2D", config, weights)], y


@op("MaxPool", "AveragePool")
def pool(node, x, args, attrs, walk):
    reasons = []
    window = tuple(int(k) for k in attrs.get("kernel_shape", ()))
    strides, padding = _window_options(attrs, x, window, reasons)
    _need_image(x, reasons)
    if not _check(reasons, x):
        return [], None
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    config = {"pool_size": window, "strides": strides, "padding": padding, "ceil_mode": ceil_mode,
              "count_include_pad": bool(attrs.get("count_include_pad", 0))}
    kind = "MaxPooling2D" if node.op_type == "MaxPool" else "AveragePooling2D"
    return [_spec(node, kind, config)], _windowed(x, window, strides, padding, x.shape[1], ceil_mode)


@op("GlobalAveragePool", "GlobalMaxPool")
def global_pool(node, x, args, attrs, walk):
    reasons = []
    _need_image(x, reasons)
    if not _check(reasons, x):
        return [], None
    kind = "GlobalAveragePooling2D" if node.op_type == "GlobalAveragePool" else "GlobalMaxPooling2D"
    return [_spec(node, kind, {})], _channel_vector(x, (1, x.shape[1], 1, 1))


def _axes(args, attrs, reasons):
    """`axes`: an attribute up to opset 12 (Squeeze) / 17 (ReduceMean), the second input after."""
    if len(args) > 1 and args[1] is not None:
        return _constant(args, 1, "axes", reasons)
    return attrs.get("axes")


@op("ReduceMean")
def reduce_mean(node, x, args, attrs, walk):
    """x.mean((2, 3)) (the dynamo exporter's global average pooling)."""
    reasons = []
    axes = _axes(args, attrs, reasons)
    _need_image(x, reasons)
    if x is not None and (axes is None or sorted(int(a) % 4 for a in np.atleast_1d(axes)) != [2, 3]):
        reasons.append("only a mean over the spatial axes (2, 3) of a feature map is supported")
    if not _check(reasons, x):
        return [], None
    shape = (1, x.shape[1], 1, 1) if attrs.get("keepdims", 1) else (1, x.shape[1])
    return [_spec(node, "GlobalAveragePooling2D", {})], _channel_vector(x, shape)


def _channel_vector(x, shape):
    """One value per channel (a global pooling): a vector for Keras, whatever ONNX's shape."""
    from .onnx import Tensor

    return Tensor(shape, (x.shape[1],), np.arange(x.shape[1]))


# --- dense ----------------------------------------------------------------------------


def _dense(node, x, kernel: np.ndarray, bias, reasons: list[str]):
    from .onnx import Tensor

    if x is not None and not (len(x.shape) == 2):
        reasons.append(f"its input {x.shape} is not a (batch, features) matrix (flatten it first)")
    if x is not None and kernel is not None and kernel.shape[0] != x.order.size:
        reasons.append(f"its weights expect {kernel.shape[0]} inputs but the input has {x.order.size}")
    if not _check(reasons, x):
        return [], None
    kernel = np.asarray(kernel)[x.order]       # rows in the order the input cells hold them
    weights = (kernel,) if bias is None else (kernel, bias)
    config = {"units": int(kernel.shape[1]), "activation": "linear", "use_bias": bias is not None}
    return [_spec(node, "Dense", config, weights)], Tensor.of_onnx((1, kernel.shape[1]))


@op("Gemm")
def gemm(node, x, args, attrs, walk):
    """Y = alpha · A' · B' + beta · C with the data as A (PyTorch's Linear: transB=1)."""
    reasons = []
    if args[0] is not DATA:
        reasons.append("only the first input (A) may be the data")
    if attrs.get("transA", 0):
        reasons.append("transA=1 (a transposed data input) is not supported")
    b = _weight(args, 1, "B", reasons)
    c = _weight(args, 2, "C", reasons)
    kernel = bias = None
    if b is not None and b.ndim != 2:
        reasons.append(f"its B has shape {list(b.shape)}; only a matrix is supported")
        b = None
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        kernel = float(attrs.get("alpha", 1.0)) * (b.T if attrs.get("transB", 0) else b)
        if c is not None:
            try:
                bias = float(attrs.get("beta", 1.0)) * np.broadcast_to(np.asarray(c, np.float64), (1, kernel.shape[1]))[0]
            except ValueError:
                reasons.append(f"its C of shape {np.shape(c)} does not fit {kernel.shape[1]} outputs")
    return _dense(node, x, kernel, bias, reasons)


@op("MatMul")
def matmul(node, x, args, attrs, walk):
    reasons = []
    if args[0] is not DATA:
        reasons.append("only data × weights is supported (the data must be the first input)")
    b = _weight(args, 1, "weight", reasons)
    if b is not None and np.ndim(b) != 2:
        reasons.append(f"its weight has shape {np.shape(b)}; only a matrix is supported")
        b = None
    return _dense(node, x, b, None, reasons)


@op("LinearClassifier")
def linear_classifier(node, x, args, attrs, walk):
    """scikit-learn's LogisticRegression (and linear SVMs) as skl2onnx writes them: scores = x · Wᵀ + b,
    then softmax or a logistic per class."""
    reasons = []
    coefficients = np.asarray(attrs.get("coefficients", ()), dtype=np.float64)
    intercepts = np.asarray(attrs.get("intercepts", ()), dtype=np.float64)
    classes = len(attrs.get("classlabels_ints", ()) or attrs.get("classlabels_strings", ()))
    transform = attrs.get("post_transform", "NONE")
    if transform not in ("NONE", "SOFTMAX", "LOGISTIC"):
        reasons.append(f"post_transform={transform!r} is not supported (only NONE, SOFTMAX or LOGISTIC)")
    if not (np.all(np.isfinite(coefficients)) and np.all(np.isfinite(intercepts))):
        reasons.append("its coefficients or intercepts hold non-finite values (NaN or infinity)")
    rows = len(intercepts)
    if rows < 2 or (classes and rows != classes):
        reasons.append(f"a binary classifier ({rows} row of coefficients for {classes} classes) is not "
                       "supported; only one row of coefficients per class")
    if rows and coefficients.size % rows:
        reasons.append("its coefficients do not divide into one row per class")
    if reasons:
        raise NodeProblem(*reasons)
    kernel = coefficients.reshape(rows, -1).T
    layers, y = _dense(node, x, kernel, intercepts, [])
    if layers:
        activation = {"NONE": "linear", "SOFTMAX": "softmax", "LOGISTIC": "sigmoid"}[transform]
        layers[0] = _spec(node, "Dense", {**layers[0].config, "activation": activation}, layers[0].weights)
    return layers, y


@op("Normalizer")
def normalizer(node, x, args, attrs, walk):
    """skl2onnx puts an L1 Normalizer after a softmax: the probabilities already add up to 1."""
    last = walk.layers[-1] if walk.layers else None
    ends_in_softmax = last is not None and (last.class_name == "Softmax" or last.config.get("activation") == "softmax")
    if attrs.get("norm") != "L1" or not ends_in_softmax:
        raise NodeProblem(f"only an L1 Normalizer right after a softmax is supported (norm={attrs.get('norm')!r})")
    return [], x


# --- shapes: Flatten, Reshape, Squeeze --------------------------------------------------


def _to_shape(node, x, shape: tuple[int, ...]):
    """A Flatten to (batch, features), or a no-op; any other reshape is refused."""
    shape = tuple(int(d) for d in shape)
    if shape == tuple(x.shape):
        return [], x
    if len(shape) == 2 and shape[0] == 1 and shape[1] == x.order.size:
        flat = x.reshaped(shape, (x.order.size,))
        return ([] if x.is_vector else [_spec(node, "Flatten", {})]), flat
    raise NodeProblem(f"reshaping {x.shape} into {shape} is not supported (only flattening to (batch, features))")


@op("Flatten")
def flatten(node, x, args, attrs, walk):
    if int(attrs.get("axis", 1)) != 1:
        raise NodeProblem(f"axis={attrs['axis']} is not supported (only 1: keep the batch axis)")
    if x is None:
        return [], None
    return _to_shape(node, x, (1, x.order.size))


@op("Reshape")
def reshape(node, x, args, attrs, walk):
    reasons = []
    target = _constant(args, 1, "shape", reasons)
    if not _check(reasons, x):
        return [], None
    target = [int(d) for d in np.asarray(target).reshape(-1)]
    for k, d in enumerate(target):
        if d == 0 and not attrs.get("allowzero", 0) and k < len(x.shape):
            target[k] = x.shape[k]
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = x.order.size // max(known, 1)
    return _to_shape(node, x, tuple(target))


@op("Squeeze")
def squeeze(node, x, args, attrs, walk):
    reasons = []
    axes = _axes(args, attrs, reasons)
    if not _check(reasons, x):
        return [], None
    rank = len(x.shape)
    drop = {int(a) % rank for a in np.atleast_1d(axes)} if axes is not None else {
        k for k, d in enumerate(x.shape) if d == 1 and k > 0}
    if 0 in drop:
        raise NodeProblem("squeezing away the batch axis is not supported")
    return _to_shape(node, x, tuple(d for k, d in enumerate(x.shape) if k not in drop))
