"""Read an ONNX model (PyTorch's exporters, skl2onnx) into the same ModelSpec a Keras file gives.

The graph is walked once, in topological order. A node whose inputs are all constants (the
Shape → Gather → Unsqueeze → Concat → Reshape of `x.view(x.size(0), -1)`, Constant, Cast,
a transposed weight) is computed right away; every other node must take the one data tensor
and becomes Keras-style LayerSpecs (reader/onnx_ops.py). Feature maps are converted from
ONNX's NCHW to Keras' channels-last here, so no op ever asks where a layer came from."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnsupportedModelError
from ..text import safe_name
from .limits import MAX_LAYERS, MAX_WEIGHT_VALUES
from .onnx_fold import FoldRefused
from .onnx_graph import DEFAULT_DOMAINS, Graph, node_label, parse_model, read_graph
from .onnx_safety import quoted, shape_text
from .onnx_ops import DATA, DATA_OUTPUT, OPS, WHY_NOT, NodeProblem, attributes, supported_ops
from .spec import LayerSpec, ModelSpec



@dataclass(frozen=True)
class Tensor:
    """The data tensor between two nodes: its ONNX shape (batch axis of 1 first), its Keras shape
    (channels last, no batch axis), and order[k] = the ONNX flat index of Keras' flat element k."""

    shape: tuple[int, ...]
    keras: tuple[int, ...]
    order: np.ndarray

    @staticmethod
    def of_onnx(shape: tuple[int, ...]) -> "Tensor":
        """An NCHW feature map becomes (H, W, C); anything else keeps its order."""
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) > MAX_WEIGHT_VALUES:      # a window with huge pads: refused before any array is made
            raise NodeProblem(f"its output of shape {list(shape)} would hold more than {MAX_WEIGHT_VALUES:,} numbers")
        if len(shape) == 4:
            _, c, h, w = shape
            return Tensor(shape, (h, w, c), np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1))
        return Tensor(shape, shape[1:], np.arange(int(np.prod(shape[1:]))))

    def reshaped(self, shape: tuple[int, ...], keras: tuple[int, ...] | None = None) -> "Tensor":
        """The same numbers under a new ONNX shape; Keras' flat order stays what it was."""
        return Tensor(tuple(int(d) for d in shape), self.keras if keras is None else keras, self.order)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 4 and len(self.keras) == 3

    @property
    def is_vector(self) -> bool:
        return len(self.keras) == 1

    @property
    def in_order(self) -> bool:
        return bool(np.array_equal(self.order, np.arange(self.order.size)))


class Walk:
    """State while the nodes are turned into layers."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.layers: list[LayerSpec] = []
        self.problems: list[str] = []
        self.output_note = ""
        self.last_output = ""          # the data tensor the last layer wrote
        self.values: dict[str, np.ndarray] = dict(graph.constants)
        self.data: dict[str, Tensor | None] = {}
        self.unknown: set[str] = set()     # constants that could not be computed (already reported)
        self.input = self._input_tensor()

    @property
    def opset(self) -> int:
        return self.graph.opset

    def is_last(self, node) -> bool:
        return node.output[0] == self.graph.output_name

    def _input_tensor(self) -> Tensor | None:
        dims = self.graph.input_dims
        if not dims:
            return None
        rest = dims[1:]
        if len(dims) not in (2, 3, 4) or not all(isinstance(d, int) and d > 0 for d in rest):
            self.problems.append(f"the graph input {quoted(self.graph.input_name)} has shape {shape_text(dims)}; "
                                 "only (batch, features), (batch, H, W) and (batch, channels, H, W) with known sizes "
                                 "are supported")
            return None
        if math.prod(rest) > MAX_WEIGHT_VALUES:
            self.problems.append(f"the graph input {quoted(self.graph.input_name)} has shape {shape_text(dims)}: "
                                 f"more than {MAX_WEIGHT_VALUES:,} numbers, far more than a workbook holds")
            return None
        if isinstance(dims[0], int) and dims[0] > 1:
            self.problems.append(f"the graph input {quoted(self.graph.input_name)} is fixed to batches of {dims[0]}; "
                                 "export it with a batch of 1 or a dynamic batch axis")
            return None
        tensor = Tensor.of_onnx((1,) + tuple(rest))
        self.data[self.graph.input_name] = tensor
        return tensor

    def run(self) -> None:
        uses = Counter(name for node in self.graph.nodes if node.op_type not in ("Shape", "Size")
                       for name in node.input if name)
        for node in self.graph.nodes:
            inputs = [name for name in node.input if name]
            data = [name for name in inputs if name not in self.values and name not in self.unknown]
            if self._echoes_a_problem(node, inputs, data):
                self.unknown.update(name for name in node.output if name)
            elif all(name in self.values for name in inputs) and node.domain in DEFAULT_DOMAINS:
                self._fold(node, [self.values[name] if name else None for name in node.input])
            elif node.op_type in ("Shape", "Size") and self.data.get(node.input[0]) is not None:
                self._shape_of_data(node, self.data[node.input[0]].shape)
            else:
                self._layer(node, inputs, uses)
        self._finish()

    def _echoes_a_problem(self, node, inputs: list[str], data: list[str]) -> bool:
        """A constant computed from a constant that could not be computed, or the shape of a data
        tensor whose layer failed: that problem is reported once, not again for each such node."""
        if any(name in self.unknown for name in inputs) and not data:
            return True
        return node.op_type in ("Shape", "Size") and bool(inputs) and inputs[0] in self.data \
            and self.data[inputs[0]] is None

    def _shape_of_data(self, node, shape: tuple[int, ...]) -> None:
        """Shape (with its start and end) or Size of a data tensor: known without computing it."""
        attrs = attributes(node)
        if node.op_type == "Size":
            value = np.array(math.prod(shape), np.int64)
        else:
            value = np.array(shape[attrs.get("start", 0):attrs.get("end", len(shape))], np.int64)
        if node.output and node.output[0]:
            self.values[node.output[0]] = value

    def _fold(self, node, values: list) -> None:
        try:
            results = self.graph.evaluate(node, values)
        except FoldRefused as refused:
            self.problems.append(f"{node_label(node)}: its inputs are all constants, but {refused}")
            results = []
        except Exception as error:  # the reference evaluator may reject a stranger's node in any way
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            self.problems.append(f"{node_label(node)}: its constant inputs cannot be computed (onnx's reference "
                                 f"evaluator says: {safe_name(reason)})")
            results = []
        if not results:              # reported: what is computed from these is not reported again
            self.unknown.update(name for name in node.output if name)
        for name, value in zip([n for n in node.output if n], results):
            self.values[name] = value

    def _layer(self, node, inputs: list[str], uses: Counter) -> None:
        data = [name for name in inputs if name not in self.values and name not in self.unknown]
        label = node_label(node)
        out = node.output[DATA_OUTPUT.get(node.op_type, 0)]
        self.data[out] = None
        if any(name in self.unknown for name in inputs):
            return                   # a constant it needs could not be computed: reported already
        mapper = OPS.get(node.op_type) if node.domain in DEFAULT_DOMAINS + ("ai.onnx.ml",) else None
        if len(data) != 1:
            names = ", ".join(quoted(d) for d in data)
            self.problems.append(f"{label} combines {len(data)} computed tensors ({names}); only a single chain of "
                                 "layers is supported")
            return
        if uses[data[0]] > 1:
            self.problems.append(f"{label}: its input {quoted(data[0])} also feeds other nodes (a branch); only a "
                                 "single chain of layers is supported")
        x = self.data.get(data[0])
        if mapper is None:
            if node.domain in DEFAULT_DOMAINS + ("ai.onnx.ml",):   # unknown domains are reported by read_graph
                self.problems.append(f"{label} {WHY_NOT.get(node.op_type, 'is not an operator excelnet supports')}")
            return
        args = [DATA if name == data[0] else self.values.get(name) if name else None for name in node.input]
        extra = [name for k, name in enumerate(node.output) if name and name != out and uses[name]]
        try:
            if extra:
                raise NodeProblem(f"its output {quoted(extra[0])} is used, which is not supported")
            layers, y = mapper(node, x, args, attributes(node), self)
        except NodeProblem as problem:
            self.problems.append(f"{label}: {'; '.join(problem.reasons)}")
            return
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as error:
            # an attribute or constant of a shape no exporter writes: name the node, not the traceback
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            self.problems.append(f"{label}: its attributes or constant inputs do not fit together "
                                 f"({safe_name(reason)})")
            return
        self.layers.extend(layers)
        self.data[out] = y
        if layers:
            self.last_output = out

    def _finish(self) -> None:
        name = self.graph.output_name
        if not name or self.problems or self.graph.problems:
            return
        if name in self.values:
            self.problems.append(f"the output {quoted(name)} does not depend on the input")
            return
        y = self.data.get(name)
        if y is None:
            self.problems.append(f"the output {quoted(name)} is not computed from the input by the graph's nodes")
            return
        if y is not None and not y.in_order:
            self.problems.append(f"the output {quoted(name)} is a flattened feature map: its values are in PyTorch's "
                                 "channel-first order, which is only supported when a Gemm or MatMul reads them")
        if y is not None and not self.layers:
            self.problems.append("the graph has no nodes that compute anything")


def layer_name(node) -> str:
    """The name the user wrote: PyTorch's '/conv1/Conv' reads better as 'conv1', and the dynamo
    exporter's 'node_conv2d' is the module 'conv1' that its metadata records."""
    module = torch_module_path(node)
    if module:
        return module
    name = (node.name or node.output[0]).strip("/")
    suffix = "/" + node.op_type
    if name.endswith(suffix) and len(name) > len(suffix):
        name = name[: -len(suffix)]
    return safe_name(name or node.op_type)       # a name from the file is data: escaped, cut


NAME_SCOPES = "pkg.torch.onnx.name_scopes"    # the dynamo exporter's module path of a node
LONGEST_SCOPES = 4096                          # characters: a path of modules, not a payload


def torch_module_path(node) -> str:
    """'conv1' (or 'features.0') from the dynamo exporter's name scopes, e.g. "['', 'conv1',
    'conv2d']": the modules between the model ('') and the node's own function ('conv2d'); a
    function called in the model's own forward (['', 'relu_1']) keeps its name. '' when the node
    has none. The text is data from the file: read as a Python literal, never run."""
    import ast

    text = next((p.value for p in node.metadata_props if p.key == NAME_SCOPES), "")
    if not text or len(text) > LONGEST_SCOPES:
        return ""
    try:
        scopes = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ""
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        return ""
    modules = [s for s in scopes[1:-1] if s] if len(scopes) > 2 else []
    return safe_name(".".join(modules) or scopes[-1].strip())


def read_onnx(path: Path, data: bytes) -> ModelSpec:
    """An ONNX file as a ModelSpec, or one error listing every node that cannot be converted."""
    model = parse_model(path, data)
    graph = read_graph(path, model)
    walk = Walk(graph)
    if not graph.problems:
        walk.run()
    problems = list(dict.fromkeys(graph.problems + walk.problems))      # each said once
    if len(walk.layers) > MAX_LAYERS:
        problems.append(f"it has {len(walk.layers):,} layers, more than the {MAX_LAYERS:,} excelnet builds (a CNN "
                        "that fits in a workbook has tens; 9,000 one-cell layers take minutes to write)")
    if problems:
        raise UnsupportedModelError(problems, supported_ops(), str(path), kind="ONNX operators")
    extra = {"format": "onnx", "opset": graph.opset, "producer": safe_name(model.producer_name)}
    if walk.output_note:
        extra["output_note"] = walk.output_note
    return ModelSpec(path.stem, walk.input.keras, tuple(walk.layers), extra=extra)
