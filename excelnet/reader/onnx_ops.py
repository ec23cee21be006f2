"""One function per ONNX operator: a node (with its constant inputs folded) becomes Keras-style
LayerSpecs, channels last, and the data tensor it produces.

Each mapper gets (node, x, args, attrs, walk): x is the data tensor (None when an earlier node
already failed: the node's own options are still checked, so every problem is reported at
once), args the node's inputs with DATA at the data input's place and None where absent."""

from __future__ import annotations

import numpy as np

from .spec import LayerSpec

DATA = object()
DATA_OUTPUT = {"LinearClassifier": 1}      # the output that carries the data, when it is not the first
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875   # ONNX's defaults
OPS: dict = {}
WHY_NOT = {
    "ZipMap": "turns probabilities into a list of dictionaries; export with zipmap=False",
    "Transpose": "moves axes of a computed tensor, which is not supported",
    "Concat": "joins tensors, and only a single chain of layers is supported",
    "ConvTranspose": "is not supported: of the convolutions only Conv is",
    "LSTM": "is a recurrent layer, which a fixed grid of formulas cannot express",
    "GRU": "is a recurrent layer, which a fixed grid of formulas cannot express",
    "RNN": "is a recurrent layer, which a fixed grid of formulas cannot express",
}


class NodeProblem(Exception):
    def __init__(self, *reasons: str):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


def op(*names: str):
    def register(function):
        for name in names:
            assert name not in OPS, name
            OPS[name] = function
        return function
    return register


def supported_ops() -> list[str]:
    return sorted(OPS)


def attributes(node) -> dict:
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def _spec(node, class_name: str, config: dict, weights=()) -> LayerSpec:
    from .onnx import layer_name

    return LayerSpec(class_name, layer_name(node), config, tuple(weights))


def _check(reasons: list[str], x) -> bool:
    """Raise with every reason; True when the data tensor is known and the layer can be built."""
    if reasons:
        raise NodeProblem(*reasons)
    return x is not None


def _constant(args, index: int, what: str, reasons: list[str]):
    value = args[index] if index < len(args) else None
    if value is DATA:
        reasons.append(f"its {what} is computed from the input; only a constant {what} is supported")
        return None
    return value


def _weight(args, index: int, what: str, reasons: list[str]):
    """A constant that becomes numbers in cells: floating-point and finite, as Keras weights must be."""
    value = _constant(args, index, what, reasons)
    if value is None:
        return None
    value = np.asarray(value)
    if value.dtype.kind != "f":
        reasons.append(f"its {what} holds {value.dtype} values; only floating-point weights are supported")
        return None
    if not np.all(np.isfinite(value)):
        reasons.append(f"its {what} holds {int(np.sum(~np.isfinite(value)))} non-finite values (NaN or infinity)")
        return None
    return value


# --- element-wise: activations --------------------------------------------------------

SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
          "Softsign": "softsign", "HardSwish": "hard_silu"}


@op(*SIMPLE)
def simple_activation(node, x, args, attrs, walk):
    return [_spec(node, "Activation", {"activation": SIMPLE[node.op_type]})], x


@op("LeakyRelu")
def leaky_relu(node, x, args, attrs, walk):
    return [_spec(node, "LeakyReLU", {"negative_slope": float(attrs.get("alpha", 0.01))})], x


@op("Elu")
def elu(node, x, args, attrs, walk):
    return [_spec(node, "ELU", {"alpha": float(attrs.get("alpha", 1.0))})], x


@op("Selu")
def selu(node, x, args, attrs, walk):
    constants = {"alpha": float(attrs.get("alpha", SELU_ALPHA)), "scale": float(attrs.get("gamma", SELU_GAMMA))}
    return [_spec(node, "Activation", {"activation": {"class_name": "selu", "config": constants}})], x


@op("HardSigmoid")
def hard_sigmoid(node, x, args, attrs, walk):
    constants = {"alpha": float(attrs.get("alpha", 0.2)), "beta": float(attrs.get("beta", 0.5))}
    return [_spec(node, "Activation", {"activation": {"class_name": "hard_sigmoid", "config": constants}})], x


@op("Clip")
def clip(node, x, args, attrs, walk):
    """ReLU (min 0), ReLU6 (min 0, max 6) and hard tanh (-1, 1): the clips networks use."""
    reasons = []
    low, high = attrs.get("min"), attrs.get("max")           # opset < 11
    if len(args) > 1 and args[1] is not None:
        low = _constant(args, 1, "minimum", reasons)
    if len(args) > 2 and args[2] is not None:
        high = _constant(args, 2, "maximum", reasons)
    low = None if low is None or float(low) <= -3.4e38 else float(np.asarray(low))
    high = None if high is None or float(high) >= 3.4e38 else float(np.asarray(high))
    if low == -1.0 and high == 1.0:
        layer = _spec(node, "Activation", {"activation": "hard_tanh"})
    elif low == 0.0:
        layer = _spec(node, "ReLU", {"max_value": high})
    else:
        reasons.append(f"Clip({low}, {high}) is not supported (only a minimum of 0, as in ReLU and ReLU6, "
                       "or -1 to 1)")
    _check(reasons, x)
    return [layer], x


@op("Softmax", "LogSoftmax")
def softmax(node, x, args, attrs, walk):
    """LogSoftmax ends PyTorch's MNIST example: its exp is the softmax, so the workbook shows that."""
    reasons = []
    axis = attrs.get("axis", -1 if walk.opset >= 13 else 1)
    if x is not None and not (len(x.shape) == 2 and axis in (1, -1)):
        reasons.append(f"only a softmax over the features of a (batch, features) tensor is supported, not over "
                       f"axis {axis} of {x.shape}")
    if node.op_type == "LogSoftmax" and not walk.is_last(node):
        reasons.append("LogSoftmax is only supported as the last step (the workbook shows its exp, the softmax)")
    if not _check(reasons, x):
        return [], None
    if node.op_type == "LogSoftmax":
        walk.output_note = ("Probabilities: exp of the model's LogSoftmax outputs (its log-probabilities), "
                            "i.e. softmax probabilities that add up to 1.")
    return [_spec(node, "Softmax", {"axis": -1})], x


# --- element-wise: arithmetic with constants -------------------------------------------


def per_channel(value: np.ndarray, x, what: str) -> np.ndarray:
    """A constant broadcast over the data tensor, as one value (or one per channel, Keras' last axis)."""
    if np.asarray(value).dtype.kind not in "fiu":
        raise NodeProblem(f"its {what} holds {np.asarray(value).dtype} values, not numbers")
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise NodeProblem(f"its {what} holds {int(np.sum(~np.isfinite(value)))} non-finite values (NaN or infinity)")
    try:
        if np.broadcast_shapes(value.shape, x.shape) != tuple(x.shape):
            raise ValueError
    except ValueError:
        raise NodeProblem(f"its {what} of shape {value.shape} does not fit the input {x.shape}") from None
    full = np.broadcast_to(value, x.shape).reshape(-1)[x.order].reshape(-1, x.keras[-1])
    if not (full == full[0]).all():
        raise NodeProblem(f"its {what} differs from position to position; only one value, or one per channel, "
                          "is supported")
    row = full[0]
    return row[:1] if (row == row[0]).all() else row


@op("Add", "Sub", "Mul", "Div")
def arithmetic(node, x, args, attrs, walk):
    """x + c, x − c, c − x, x · c and x / c (a normalisation inside the graph) as one affine step;
    MatMul followed by Add is one Dense layer with a bias."""
    data_first = args[0] is DATA
    if node.op_type == "Div" and not data_first:
        raise NodeProblem("dividing a constant by the data is not supported")
    if x is None:
        return [], None
    c = per_channel(args[1 if data_first else 0], x, "constant")
    last = walk.layers[-1] if walk.layers else None
    if (node.op_type == "Add" and last is not None and last.class_name == "Dense" and len(last.weights) == 1
            and walk.last_output in node.input):
        units = last.weights[0].shape[1]
        walk.layers[-1] = LayerSpec("Dense", last.name, {**last.config, "use_bias": True},
                                    (last.weights[0], np.broadcast_to(c, (units,)).copy()))
        return [], x
    ones, zeros = np.ones_like(c), np.zeros_like(c)
    config = {"Add": {"scale": ones, "offset": c}, "Sub": {"scale": ones, "offset": -c} if data_first
              else {"scale": -ones, "offset": c}, "Mul": {"scale": c, "offset": zeros},
              "Div": {"mean": zeros, "std": c}}[node.op_type]
    titles = {"Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Div": "Divide"}
    return [_spec(node, "Affine", {**config, "title": titles[node.op_type]})], x


@op("BatchNormalization")
def batch_norm(node, x, args, attrs, walk):
    reasons = []
    if attrs.get("training_mode", 0):
        reasons.append("training_mode=1 is not supported (only inference)")
    params = [_weight(args, k, what, reasons) for k, what in
              ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))]
    if x is not None and not (x.is_image or len(x.shape) == 2):
        reasons.append(f"only batch normalization of feature maps or of vectors is supported, not of {x.shape}")
    if not _check(reasons, x):
        return [], None
    if x.is_vector:
        params = [np.asarray(p)[x.order] for p in params]
    config = {"axis": -1, "epsilon": float(attrs.get("epsilon", 1e-5)), "center": True, "scale": True}
    return [_spec(node, "BatchNormalization", config, params)], x


# --- pass-through ---------------------------------------------------------------------


@op("Identity")
def identity(node, x, args, attrs, walk):
    return [], x


@op("Dropout")
def dropout(node, x, args, attrs, walk):
    return [_spec(node, "Dropout", {})], x


@op("Cast")
def cast(node, x, args, attrs, walk):
    if attrs.get("to") not in (1, 11):      # FLOAT, DOUBLE
        raise NodeProblem(f"a cast to type {attrs.get('to')} is not supported (only to float)")
    return [], x


from . import onnx_layers  # noqa: E402,F401  (registers the convolution, pooling, dense and shape mappers)

