"""An ONNX file as a graph excelnet can walk: parsed, checked, pruned to the output that
matters, with a way to compute any node whose inputs are all constants.

Only the `onnx` package is used (protobuf and NumPy, its reference evaluator for folding):
no onnxruntime, no torch, and nothing in the file is ever executed."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..text import safe_name, safe_text
from .onnx_fold import FoldBudget
from .onnx_safety import (MAX_FIELDS, Inventory, TooManyFields, check_external, count_fields, count_problems,
                          describe_node, inlined_size, quoted, read_external, refuse, shape_text,
                          sorted_nodes)

INSTALL = "pip install 'excelnet[onnx]'   (or: pip install onnx)"
DEFAULT_DOMAINS = ("", "ai.onnx")
ML_DOMAIN = "ai.onnx.ml"
FLOAT_TYPES = (1, 11)          # TensorProto.FLOAT, DOUBLE
NOT_ONNX = ("it is not a readable ONNX model: its bytes are not a complete ONNX protobuf message "
            "(a damaged, truncated or non-ONNX file)")


def import_onnx():
    """The onnx package, or one message with the exact pip command."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        from ..errors import ExcelnetError

        raise ExcelnetError(f"reading ONNX files needs the onnx package: {INSTALL}") from None
    return onnx


def parse_model(path: Path, data: bytes):
    """The ModelProto in `data`, checked before anything in it is computed (reader/onnx_safety.py):
    every tensor wherever it sits, then external data read from the model's own folder, local
    functions inlined, nodes sorted, and onnx's checker for what the ONNX spec forbids."""
    onnx = import_onnx()
    model = onnx.ModelProto()
    try:
        count_fields(data, model.DESCRIPTOR)
    except TooManyFields:
        raise ModelFileError(path, f"it holds more than {MAX_FIELDS:,} protobuf fields (nodes, names, attributes), "
                                   "far more than any network that fits in a workbook") from None
    except ValueError:
        raise ModelFileError(path, NOT_ONNX) from None
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError, or worse for random bytes
        raise ModelFileError(path, NOT_ONNX) from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise ModelFileError(path, NOT_ONNX)
    refuse(path, count_problems(model) + _version_problems(onnx, model))
    inventory = Inventory()
    inventory.model(model)
    problems = inventory.problems + inlined_size(model)[1]
    refuse(path, problems or check_external(path, inventory))
    read_external(path, inventory)
    if model.functions:           # the dynamo exporter may keep modules as local functions
        import onnx.inliner

        model = onnx.inliner.inline_local_functions(model)
    nodes, problems = sorted_nodes(model.graph)
    refuse(path, problems)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    _check_spec(onnx, path, model)
    return model


def _version_problems(onnx, model) -> list[str]:
    """An ir_version or opset this onnx package does not know: its operators' meaning is unknown."""
    problems = []
    if model.ir_version > onnx.IR_VERSION:
        problems.append(f"its ir_version {model.ir_version} is newer than the {onnx.IR_VERSION} this onnx package "
                        f"({onnx.__version__}) reads")
    newest = {"": onnx.defs.onnx_opset_version(), "ai.onnx": onnx.defs.onnx_opset_version(),
              ML_DOMAIN: onnx.defs.onnx_ml_opset_version()}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain      # skl2onnx may import '' twice
        if domain in newest and not 1 <= entry.version <= newest[domain]:
            problems.append(f"it uses opset {entry.version} of {quoted(entry.domain or 'ai.onnx')}; this onnx "
                            f"package ({onnx.__version__}) knows opsets 1 to {newest[domain]}")
    return problems


def _check_spec(onnx, path: Path, model) -> None:
    """onnx's own checker with its strict type and shape inference (what onnxruntime checks when it
    loads a model; nothing is evaluated): what the ONNX spec forbids, such as a float16 weight
    beside float32 data or a Squeeze axis out of range."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except UnicodeDecodeError:
        raise ModelFileError(path, "a name or text in it is not valid UTF-8, as ONNX requires (a damaged "
                                   "file)") from None
    except Exception as error:  # ValidationError, InferenceError, or the C++ checker's other complaints
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        context = re.search(r"Name: (.*) OpType: (\S+)", str(error))
        where = f" (node {quoted(context[1])}, {safe_name(context[2])})" if context else ""
        raise ModelFileError(path, f"it breaks the ONNX specification: {safe_text(first, limit=400)}{where}") from None


@dataclass
class Graph:
    """The part of an ONNX graph that computes the chosen output, in topological order."""

    model: object
    nodes: list                          # NodeProtos that the output needs
    constants: dict[str, np.ndarray]     # initializers
    input_name: str
    input_dims: tuple                    # the graph input's dims (ints, or names for symbolic ones)
    output_name: str
    opset: int
    problems: list[str] = field(default_factory=list)

    budget: FoldBudget = field(default_factory=FoldBudget)

    def evaluate(self, node, values: list) -> list[np.ndarray]:
        """Outputs of one node from constant inputs (None for an absent optional input), computed by
        onnx's reference evaluator under the model's own opsets, within the budget (reader/onnx_fold.py)."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        from .onnx_ops import attributes

        self.budget.allow(node.op_type, values, attributes(node))
        feeds = {name: value for name, value in zip(node.input, values) if name}
        inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)
                  for name, value in feeds.items()]
        outputs = [helper.make_tensor_value_info(name, 0, None) for name in node.output if name]
        graph = helper.make_graph([node], "fold", inputs, outputs)
        model = helper.make_model(graph, opset_imports=self.model.opset_import, ir_version=self.model.ir_version)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # a constant that overflows to inf is caught where it matters (weights must be finite);
            # NumPy's RuntimeWarning with onnx's source line is not a message for the user
            warnings.simplefilter("ignore", RuntimeWarning)
            results = ReferenceEvaluator(model).run(None, feeds)
        return [np.asarray(r) for r in results]


def node_label(node) -> str:
    return describe_node(node)


def read_graph(path: Path, model) -> Graph:
    """Check inputs, outputs and domains; keep the nodes the probability output needs."""
    graph, problems = model.graph, []
    opset = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), 0)
    constants = _initializers(graph, problems)
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        names = ", ".join(f"{quoted(i.name)}" for i in inputs)
        problems.append(f"the graph has {len(inputs)} inputs ({names or 'none'}); only one input is supported")
    output = _choose_output(graph, problems)
    if not graph.node:
        problems.append("the graph is empty: it has no nodes that compute anything")
    nodes = _needed(graph.node, output, constants) if output else list(graph.node)
    for node in nodes:
        if node.domain not in DEFAULT_DOMAINS + (ML_DOMAIN,):
            problems.append(f"{node_label(node)} is in the operator domain {quoted(node.domain)}, which excelnet does "
                            "not know (only the standard ONNX operators are supported)")
    dims, name = (), ""
    if len(inputs) == 1:
        name, dims = inputs[0].name, _input_dims(inputs[0], problems)
    return Graph(model, nodes, constants, name, dims, output or "", opset, problems)


def _initializers(graph, problems: list[str]) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    constants = {}
    for tensor in graph.initializer:
        try:
            constants[tensor.name] = numpy_helper.to_array(tensor)
        except Exception:  # a type NumPy cannot hold, data that does not fit its shape
            problems.append(f"the initializer {quoted(tensor.name)} cannot be read as an array of its "
                            f"element type {tensor.data_type} and shape {shape_text(tensor.dims)}")
    return constants


def _choose_output(graph, problems: list[str]) -> str | None:
    """The one float tensor output (probabilities or scores). Label outputs (integers, strings)
    of scikit-learn classifiers are left out; a ZipMap's list of dicts cannot be a cell range."""
    producers = {out: node for node in graph.node for out in node.output}
    tensors = []
    for output in graph.output:
        kind = output.type.WhichOneof("value")
        if kind != "tensor_type":
            maker = producers.get(output.name)
            if maker is not None and maker.op_type == "ZipMap":
                problems.append(f"output {quoted(output.name)} is a ZipMap (a list of {{class: probability}} "
                                "dictionaries), which cells cannot hold; export the classifier without it: "
                                "skl2onnx.to_onnx(model, X, options={'zipmap': False}) (or "
                                "convert_sklearn(..., options={id(model): {'zipmap': False}}))")
            else:
                problems.append(f"output {quoted(output.name)} is a {kind}, not a tensor")
        elif output.type.tensor_type.elem_type in FLOAT_TYPES:
            tensors.append(output.name)
    if len(tensors) > 1:
        names = ", ".join(quoted(t) for t in tensors)
        problems.append(f"the graph has {len(tensors)} numeric outputs ({names}); only one output is supported")
    if not tensors and not problems and graph.output:
        problems.append("the graph has no floating-point output (class scores or probabilities)")
    return tensors[0] if len(tensors) == 1 else None


def _needed(nodes, output: str, constants: dict) -> list:
    """The nodes `output` depends on, in file (topological) order."""
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    keep, todo = set(), [output]
    while todo:
        name = todo.pop()
        index = producer.get(name)
        if index is None or index in keep:
            continue
        keep.add(index)
        todo.extend(i for i in nodes[index].input if i and i not in constants)
    return [node for i, node in enumerate(nodes) if i in keep]


def _input_dims(value_info, problems: list[str]) -> tuple:
    tensor = value_info.type.tensor_type
    if value_info.type.WhichOneof("value") != "tensor_type" or tensor.elem_type not in FLOAT_TYPES:
        problems.append(f"the graph input {quoted(value_info.name)} is not a float tensor")
        return ()
    if not tensor.HasField("shape"):
        problems.append(f"the graph input {quoted(value_info.name)} does not declare its shape")
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else safe_name(d.dim_param or "?") for d in tensor.shape.dim)
