"""Turn a ModelSpec into a Network of Ops, checking every layer before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedModelError
from ..reader.spec import ModelSpec
from . import convolution, core, elementwise, padding, pooling, prelu  # noqa: F401  (they register converters)
from .activations import NAMES as ACTIVATION_NAMES
from .base import CONVERTERS, IDENTITY_LAYERS, Context, Op, Unsupported, supported_layers
from .weights import weight_problems

MERGE = "merges branches, and only a single chain of layers is supported"
RECURRENT = "is a recurrent layer: it loops over time steps, which a fixed grid of formulas cannot express"
REFUSED_WHY = {
    "Lambda": "runs arbitrary Python code, which a spreadsheet cannot (and excelnet never executes code from a model file)",
    **{name: MERGE for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                                "Concatenate", "Dot")},
    **{name: RECURRENT for name in ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D",
                                    "ConvLSTM2D", "ConvLSTM3D", "LSTMCell", "GRUCell", "SimpleRNNCell",
                                    "StackedRNNCells", "TimeDistributed", "CuDNNLSTM", "CuDNNGRU")},
    **{name: "is a model inside the model; nested models are supported only as blocks of augmentation or "
             "noise layers (identity at inference): rebuild it as one Sequential"
       for name in ("Sequential", "Functional", "Model")},
    **{name: "is not supported: of the convolutions only Conv2D is"
       for name in ("Conv1D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
                    "Conv1DTranspose", "Conv3DTranspose", "SeparableConv1D", "DepthwiseConv1D")},
    **{name: "is not supported: of the poolings only MaxPooling2D, AveragePooling2D and their global versions are"
       for name in ("MaxPooling1D", "AveragePooling1D", "MaxPooling3D", "AveragePooling3D",
                    "GlobalMaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling3D",
                    "GlobalAveragePooling3D")},
    "TFOpLambda": "is a TensorFlow operation recorded as a layer, which excelnet cannot read",
    "SlicingOpLambda": "is a TensorFlow operation recorded as a layer, which excelnet cannot read",
}


def is_custom(layer) -> bool:
    """A layer whose code is not part of Keras: registered under a package name
    (Keras 3 writes module and registered_name), or a class Keras does not have."""
    module, registered = layer.raw.get("module"), layer.raw.get("registered_name")
    if isinstance(module, str) and module and not module.startswith(("keras", "tf_keras", "tensorflow")):
        return True
    return isinstance(registered, str) and registered not in ("", layer.class_name)


def common_problems(config) -> list[str]:
    """Options any layer may carry that change what it computes."""
    reasons = []
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name") if isinstance(dtype.get("config"), dict) else None
    if isinstance(dtype, str) and dtype not in ("float32", "float64"):
        reasons.append(f"dtype {dtype!r} is not supported (only float32: the workbook computes in full precision)")
    if config.get("lora_rank"):
        reasons.append(f"LoRA (lora_rank={config['lora_rank']}) is not supported")
    if config.get("quantization_config"):
        reasons.append("quantized weights are not supported")
    return reasons


def _identity_config(layer) -> bool:
    """A layer config (JSON) that computes nothing at inference: Dropout, Random*, an Input,
    or a nested Sequential of those."""
    if not isinstance(layer, dict):
        return False
    module = layer.get("module")
    if isinstance(module, str) and module and not module.startswith(("keras", "tf_keras", "tensorflow")):
        return False
    name = layer.get("class_name")
    if name == "Sequential":
        inner = (layer.get("config") or {}).get("layers") if isinstance(layer.get("config"), dict) else None
        return isinstance(inner, list) and all(_identity_config(l) for l in inner)
    return name == "InputLayer" or name in IDENTITY_LAYERS


def is_identity_block(layer) -> bool:
    """A nested Sequential that only augments or adds noise while training (RandomFlip,
    RandomRotation, Dropout, ...): the identity at inference, like its layers on their own."""
    return layer.class_name == "Sequential" and not is_custom(layer) and \
        _identity_config({"class_name": "Sequential", "config": layer.config})


def refusal_reason(layer) -> str:
    if layer.class_name in REFUSED_WHY:
        return REFUSED_WHY[layer.class_name]
    if is_custom(layer):
        return ("is a custom layer: its code is not in the model file, and excelnet only converts "
                "Keras' own layers")
    return "is not a layer excelnet can write as formulas"


OUTPUT_MEANING = {
    "softmax": "Softmax probabilities: how sure the network is of each class. They add up to 1.",
    "sigmoid": "Sigmoid outputs: each is between 0 and 1 on its own (they need not add up to 1); "
               "the prediction is the class with the largest output.",
    "linear": "Raw scores (the last layer has no activation), not probabilities; the prediction is "
              "the class with the largest score.",
}


@dataclass(frozen=True)
class Network:
    name: str
    input_shape: tuple[int, ...]
    ops: tuple[Op, ...]
    skipped: tuple[tuple[str, str], ...]     # (name, class) of layers that are identity at inference
    spec: ModelSpec

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.ops[-1].output_shape if self.ops else self.input_shape

    @property
    def output_activation(self) -> str:
        """What the last layer applies: 'softmax', 'sigmoid', 'linear', 'tanh', ... (for the Output sheet)."""
        from .core import Dense
        from .elementwise import ActivationOp, SoftmaxOp

        last = self.ops[-1] if self.ops else None
        if isinstance(last, SoftmaxOp):
            return "softmax"
        if isinstance(last, Dense):
            return last.act_name
        if isinstance(last, ActivationOp):
            return last.activation.name
        return "linear"

    @property
    def output_description(self) -> str:
        """One sentence saying what the model's outputs are (a reader may say it, e.g. for an ONNX
        model that ends in LogSoftmax, whose exp the workbook shows)."""
        if self.spec.extra.get("output_note"):
            return str(self.spec.extra["output_note"])
        return OUTPUT_MEANING.get(self.output_activation,
                                  f"{self.output_activation} outputs, not probabilities; the prediction is "
                                  "the class with the largest output.")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """NumPy forward pass of one example, in float64: the reference the workbook must match."""
        x = np.asarray(x, dtype=np.float64).reshape(self.input_shape)
        for op in self.ops:
            x = op.reference(x)
        return x

    def trace(self, x: np.ndarray) -> list[np.ndarray]:
        """Every op's output, to find which layer a mismatch starts in."""
        outputs, x = [], np.asarray(x, dtype=np.float64).reshape(self.input_shape)
        for op in self.ops:
            x = op.reference(x)
            outputs.append(x)
        return outputs


def build_network(spec: ModelSpec, max_cells: int | None = None) -> Network:
    """Check every layer; raise one UnsupportedModelError listing all problems. A network whose
    workbook would exceed Excel's limits or `max_cells` (default: limits.DEFAULT_CELL_BUDGET)
    is refused from its shapes, before anything is planned."""
    context = Context(spec.keras_version)
    problems = list(spec.extra.get("problems", ()))
    ops, skipped = [], []
    shape: tuple[int, ...] | None = tuple(spec.input_shape)
    if problems:
        shape = None                          # not a chain: check each layer's own options only
    elif len(shape) not in (1, 2, 3):
        problems.append(f"the input shape {shape} is not supported (only vectors (N,), "
                        "grayscale pictures (H, W) and images (H, W, C))")
        shape = None
    for layer in spec.layers:
        label = f"layer '{layer.name}' ({layer.class_name})"
        if (layer.class_name in IDENTITY_LAYERS and not is_custom(layer)) or is_identity_block(layer):
            skipped.append((layer.name, layer.class_name))
            continue
        convert = None if is_custom(layer) else CONVERTERS.get(layer.class_name)
        if convert is None:
            if not (REFUSED_WHY.get(layer.class_name) == MERGE and any(p.startswith(label) for p in problems)):
                problems.append(f"{label} {refusal_reason(layer)}")
            shape = None
            continue
        common = common_problems(layer.config)
        if common:
            problems.append(f"{label}: {'; '.join(common)}")
            shape = None
            continue
        # The weights first: every converter may then rely on their count, shape and numbers.
        reasons = weight_problems(layer.class_name, layer.config, layer.weights, shape)
        try:
            op = convert(layer, None if reasons else shape, context)
        except Unsupported as error:
            reasons += error.reasons
        except Exception:  # a stranger's config may be wrong in ways no check foresaw: no traceback,
            # and no internal error's text as the reason
            reasons.append(f"its config is not that of a {layer.class_name} layer excelnet can read")
        if reasons:
            problems.append(f"{label}: {'; '.join(reasons)}")
            shape = None
            continue
        if op is not None:
            ops.append(op)
            shape = op.output_shape
    if not problems and not ops:
        problems.append("the model has no layers that compute anything")
    if problems:
        raise UnsupportedModelError(problems, supported_layers(), spec.source, ACTIVATION_NAMES)
    network = Network(spec.name, tuple(spec.input_shape), tuple(ops), tuple(skipped), spec)
    from ..workbook.limits import DEFAULT_CELL_BUDGET, check_network  # from the shapes alone

    check_network(network, max_cells or DEFAULT_CELL_BUDGET)
    return network
