"""Tiny ONNX graphs, built with onnx.helper, that reproduce what the exporters write:
PyTorch's TorchScript exporter (opsets 11-17: Shape → Gather → Unsqueeze → Concat → Reshape,
Gemm with transB=1, LogSoftmax), its dynamo exporter (opset 18: constant Reshape targets,
ReduceMean with axes as an input, allowzero) and skl2onnx (Cast, MatMul + Add, a label branch
with ArgMax and ArrayFeatureExtractor, an ai.onnx.ml LinearClassifier and Normalizer).

Weights and biases are random and non-zero (fixed seeds): zero biases hide bias bugs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLOAT = 1


def _h():
    from onnx import helper

    return helper


class Graph:
    """Collects nodes and initializers; `save` checks the model with onnx.checker."""

    def __init__(self, input_shape, seed: int = 0, opset: int = 13, input_name: str = "input"):
        self.rng = np.random.default_rng(seed)
        self.input_shape, self.opset, self.input_name = list(input_shape), opset, input_name
        self.nodes, self.initializers, self.outputs, self.count = [], [], [], 0
        self.current = input_name

    def const(self, value, dtype=np.float32) -> str:
        from onnx import numpy_helper

        self.count += 1
        name = f"c{self.count}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def random(self, *shape) -> str:
        return self.const(self.rng.normal(0, 0.5, shape))

    def node(self, op: str, *inputs: str, data: bool = True, domain: str = "", name: str | None = None,
             outputs: int = 1, **attrs) -> str:
        """Add a node; with data=True its first input is the current data tensor and its output becomes it."""
        self.count += 1
        outs = [f"t{self.count}_{k}" for k in range(outputs)]
        ins = ([self.current] if data else []) + list(inputs)
        self.nodes.append(_h().make_node(op, ins, outs, name=name if name is not None else f"/{op.lower()}{self.count}/{op}",
                                         domain=domain, **attrs))
        if data:
            self.current = outs[0]
        return outs[0]

    def flatten_like_torchscript(self) -> None:
        """x.view(x.size(0), -1) as the TorchScript exporter writes it."""
        shape = self.node("Shape", self.current, data=False)
        index = self.node("Constant", data=False, value=_tensor(np.array(0, np.int64)))
        batch = self.node("Gather", shape, index, data=False, axis=0)
        if self.opset < 13:
            batch1 = self.node("Unsqueeze", batch, data=False, axes=[0])
        else:
            batch1 = self.node("Unsqueeze", batch, self.const([0], np.int64), data=False)
        target = self.node("Concat", batch1, self.const([-1], np.int64), data=False, axis=0)
        self.node("Reshape", target)

    def model(self, extra_outputs=()):
        h = _h()
        inputs = [h.make_tensor_value_info(self.input_name, FLOAT, ["batch"] + self.input_shape[1:])]
        outputs = [h.make_tensor_value_info(self.current, FLOAT, ["batch", "classes"])] + list(extra_outputs)
        graph = h.make_graph(self.nodes, "test", inputs, outputs, initializer=self.initializers)
        opsets = [h.make_opsetid("", self.opset)]
        if any(n.domain == "ai.onnx.ml" for n in self.nodes):
            opsets.append(h.make_opsetid("ai.onnx.ml", 3))
        return h.make_model(graph, opset_imports=opsets, producer_name="excelnet tests")

    def save(self, path: Path, extra_outputs=(), check: bool = True) -> Path:
        import onnx

        model = self.model(extra_outputs)
        if check:
            onnx.checker.check_model(model, full_check=True)
        onnx.save(model, path)
        return path


def _tensor(value: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(value)


# --- the graphs ---------------------------------------------------------------------------


def torchscript_cnn(opset: int = 11) -> Graph:
    """Asymmetric pads and strides, MaxPool ceil_mode, view(x.size(0), -1), Gemm(alpha, beta), LogSoftmax."""
    g = Graph([1, 2, 7, 6], seed=1, opset=opset)
    g.node("Conv", g.random(3, 2, 3, 2), g.random(3), pads=[1, 0, 2, 1], strides=[2, 1], kernel_shape=[3, 2])
    g.node("Relu")
    g.node("MaxPool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    g.flatten_like_torchscript()
    g.node("Gemm", g.random(5, 3 * 2 * 3), g.random(5), transB=1, alpha=0.5, beta=2.0)   # 3 channels of 2×3
    g.node("LogSoftmax", axis=1)
    return g


def torchscript_batchnorm(opset: int = 13) -> Graph:
    """auto_pad SAME_UPPER without bias, BatchNormalization, LeakyRelu, AveragePool counting its padding,
    GlobalAveragePool, Flatten, Gemm without transB, Softmax."""
    g = Graph([1, 1, 6, 6], seed=2, opset=opset)
    g.node("Conv", g.random(3, 1, 3, 3), auto_pad="SAME_UPPER", strides=[2, 2])
    g.node("BatchNormalization", g.random(3), g.random(3), g.random(3), g.const(g.rng.uniform(0.5, 2, 3)),
           epsilon=1e-3)
    g.node("LeakyRelu", alpha=0.1)
    g.node("AveragePool", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)
    g.node("Elu", alpha=0.7)
    g.node("GlobalAveragePool")
    g.node("Flatten", axis=1)
    g.node("Gemm", g.random(3, 4), g.random(1, 4))
    g.node("Softmax", axis=-1)
    return g


def dynamo_cnn(opset: int = 18) -> Graph:
    """SAME_LOWER, AveragePool without its padding and with ceil_mode, Clip(0, 6) from inputs, HardSwish,
    HardSigmoid, Dropout, Identity, ReduceMean over (2, 3) with axes as an input, constant Reshape target."""
    g = Graph([1, 3, 7, 7], seed=3, opset=opset)
    g.node("Sub", g.const(np.array([0.4, 0.5, 0.6]).reshape(1, 3, 1, 1)))
    g.node("Div", g.const(np.array([0.2, 0.25, 0.3]).reshape(3, 1, 1)))
    g.node("Conv", g.random(4, 3, 2, 3), g.random(4), auto_pad="SAME_LOWER", strides=[2, 2])
    g.node("Clip", g.const(0.0), g.const(6.0))
    g.node("AveragePool", kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1)
    g.node("HardSwish")
    g.node("Dropout")
    g.node("Identity")
    g.node("ReduceMean", g.const([-1, -2], np.int64), keepdims=1)
    g.node("Reshape", g.const([1, -1], np.int64), allowzero=1)
    g.node("Gemm", g.random(6, 4), g.random(6), transB=1)
    g.node("HardSigmoid", alpha=1 / 6, beta=0.5)
    return g


def activations_mlp(opset: int = 17) -> Graph:
    """A vector network through every element-wise op, with constants in the graph and no softmax."""
    g = Graph([1, 6], seed=4, opset=opset)
    g.node("Cast", to=FLOAT)
    g.node("Mul", g.const(g.rng.uniform(0.5, 2, 6)))
    g.node("Add", g.const(0.25))
    g.node("MatMul", g.random(6, 7))
    g.node("Add", g.random(7))
    for op, attrs in (("Tanh", {}), ("Selu", {}), ("Softplus", {}), ("Softsign", {}), ("Sigmoid", {}),
                      ("Elu", {}), ("Relu", {})):
        g.node(op, **attrs)
    g.node("BatchNormalization", g.random(7), g.random(7), g.random(7), g.const(g.rng.uniform(0.5, 2, 7)))
    g.node("Sub", g.const(g.rng.normal(0, 1, 7)))
    g.node("MatMul", g.random(7, 5))
    g.node("Clip", g.const(-1.0), g.const(1.0))
    g.node("Gemm", g.random(5, 4), g.random(4), alpha=1.5)
    return g


def global_max_squeeze(opset: int = 13) -> Graph:
    """GlobalMaxPool then Squeeze to a vector, MatMul without a bias: raw scores out."""
    g = Graph([1, 2, 5, 5], seed=5, opset=opset)
    g.node("Conv", g.random(3, 2, 3, 3), g.random(3), pads=[1, 1, 1, 1])
    g.node("Tanh")
    g.node("GlobalMaxPool")
    g.node("Squeeze", g.const([2, 3], np.int64))
    g.node("MatMul", g.random(3, 4))
    return g


def skl2onnx_mlp(opset: int = 15) -> tuple[Graph, list]:
    """An MLPClassifier as skl2onnx writes it with zipmap=False: probabilities and a label branch."""
    h = _h()
    g = Graph([1, 8], seed=6, opset=opset, input_name="X")
    g.node("Cast", to=FLOAT, name="Cast")
    g.node("MatMul", g.random(8, 5), name="MatMul")
    g.node("Add", g.random(5), name="Add")
    g.node("Relu", name="Relu")
    g.node("MatMul", g.random(5, 3), name="MatMul1")
    g.node("Add", g.random(3), name="Add1")
    g.node("Softmax", axis=1, name="Softmax")
    probabilities = g.current
    argmax = g.node("ArgMax", probabilities, data=False, axis=1, name="ArgMax")
    label = g.node("ArrayFeatureExtractor", g.const([0, 1, 2], np.int64), argmax, data=False, domain="ai.onnx.ml",
                   name="ArrayFeatureExtractor")
    g.node("Cast", label, data=False, to=7, name="Cast1")
    label_output = h.make_tensor_value_info(g.nodes[-1].output[0], 7, [None])
    return g, [label_output]


CASES = {
    "torchscript opset 11": lambda: (torchscript_cnn(11), []),
    "torchscript opset 17": lambda: (torchscript_cnn(17), []),
    "torchscript batchnorm": lambda: (torchscript_batchnorm(13), []),
    "dynamo opset 18": lambda: (dynamo_cnn(18), []),
    "activations mlp": lambda: (activations_mlp(17), []),
    "global max squeeze": lambda: (global_max_squeeze(13), []),
    "skl2onnx mlp": skl2onnx_mlp,
}
