"""What an ONNX file is checked for before any of it is computed or any other file is read.

A model from a stranger may hide tensors anywhere a TensorProto can sit (initializers, sparse
initializers, node attributes, local functions, the subgraphs of If/Loop/Scan), point them at
files outside its folder, declare sizes it does not hold, or list its nodes out of order.
The choices made here:

- control flow (any node with a subgraph: If, Loop, Scan, ...) is refused outright: a fixed
  grid of formulas cannot express it, and its subgraphs would be tensors nobody checks;
- sparse tensors and training information are refused (no exporter of a CNN writes them);
- external data is read only for the main graph's initializers, only from regular files
  inside the model's folder (symlinks resolved), at most MAX_FILE_BYTES in all, and only
  after every tensor of the file has passed its checks;
- local functions are inlined only when the inlined graph stays under MAX_NODES nodes;
- nodes are sorted (onnxruntime accepts any order); a cycle, an input nobody provides, two
  writers of one tensor or two initializers of one name are refused.

Every problem found is reported at once, naming the tensor, node or attribute."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import ModelFileError
from ..text import safe_name
from .limits import MAX_FILE_BYTES, MAX_WEIGHT_VALUES, megabytes

MAX_NODES = 10_000             # a CNN that fits in a workbook has tens
MAX_ATTRIBUTES = 100_000
MAX_PROBLEMS_SHOWN = 12
# data_type -> bytes per element, for the types a tensor's length can be checked by
ITEM_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
              17: 1, 18: 1, 19: 1, 20: 1}
TYPED_FIELD = {1: "float_data", 14: "float_data", 6: "int32_data", 2: "int32_data", 3: "int32_data",
               4: "int32_data", 5: "int32_data", 9: "int32_data", 10: "int32_data", 16: "int32_data",
               17: "int32_data", 18: "int32_data", 19: "int32_data", 20: "int32_data", 7: "int64_data",
               11: "double_data", 15: "double_data", 12: "uint64_data", 13: "uint64_data"}
COMPLEX = (14, 15)             # two numbers per element
GRAPH_ATTRIBUTES = (5, 10)     # AttributeProto.GRAPH, GRAPHS
SPARSE_ATTRIBUTES = (11, 12)   # SPARSE_TENSOR, SPARSE_TENSORS


def quoted(name) -> str:
    """A name from the file as it appears in a message: escaped, cut, in quotes."""
    return f"'{safe_name(name)}'"


def describe_node(node) -> str:
    name = node.name or (node.output[0] if node.output else "")
    return f"node {quoted(name)} ({safe_name(node.op_type)})"


class Inventory:
    """Walks every place a tensor can sit, collecting problems and the external tensors."""

    def __init__(self):
        self.problems: list[str] = []
        self.external: list[tuple[object, str]] = []    # (TensorProto, where) of main-graph initializers
        self.values = 0

    def model(self, model) -> None:
        if len(model.training_info):
            self.problems.append("it holds training information (training_info), which excelnet does not read")
        self.graph(model.graph, "", top=True)
        for function in model.functions:
            where = f" in the local function {quoted(function.name)}"
            for node in function.node:
                self.node(node, where)
            for attribute in function.attribute_proto:
                self.attribute(attribute, f"the default of attribute {quoted(attribute.name)}{where}")
        if self.values > MAX_WEIGHT_VALUES:
            self.problems.append(f"its tensors hold {self.values:,} values together, more than the "
                                 f"{MAX_WEIGHT_VALUES:,} of any model that fits in a workbook")

    def graph(self, graph, where: str, top: bool = False) -> None:
        for tensor in graph.initializer:
            self.tensor(tensor, f"the initializer {quoted(tensor.name)}{where}", external_allowed=top)
        for sparse in graph.sparse_initializer:
            self.problems.append(f"the sparse initializer {quoted(sparse.values.name)}{where} is a sparse tensor, "
                                 "which excelnet does not read")
        for node in graph.node:
            self.node(node, where)

    def node(self, node, where: str) -> None:
        label = describe_node(node) + where
        for attribute in node.attribute:
            self.attribute(attribute, f"attribute {quoted(attribute.name)} of {label}")

    def attribute(self, attribute, where: str) -> None:
        if attribute.type in GRAPH_ATTRIBUTES or attribute.HasField("g") or len(attribute.graphs):
            self.problems.append(f"{where} is a subgraph (control flow such as If, Loop or Scan), which a fixed "
                                 "grid of formulas cannot express and excelnet refuses")
            return
        if attribute.type in SPARSE_ATTRIBUTES or attribute.HasField("sparse_tensor") or len(attribute.sparse_tensors):
            self.problems.append(f"{where} is a sparse tensor, which excelnet does not read")
            return
        if attribute.HasField("t"):
            self.tensor(attribute.t, where)
        for k, tensor in enumerate(attribute.tensors):
            self.tensor(tensor, f"tensor {k + 1} of {where}")

    def tensor(self, tensor, where: str, external_allowed: bool = False) -> None:
        problem = tensor_problem(tensor)
        if problem is None:
            self.values += math.prod(tensor.dims)
        external = tensor.data_location == 1 or len(tensor.external_data)
        if external and not external_allowed:
            problem = problem or ("keeps its data in another file; excelnet reads external data only for the "
                                  "main graph's initializers")
        elif external and problem is None:
            self.external.append((tensor, where))
        if problem:
            self.problems.append(f"{where}: {problem}")


def shape_text(dims) -> str:
    """A declared shape for a message: a hostile one may have thousands of axes."""
    dims = list(dims)
    return str(dims) if len(dims) <= 8 else f"[{', '.join(map(str, dims[:8]))}, … ({len(dims):,} axes)]"


def tensor_problem(tensor) -> str | None:
    """Why a tensor's declaration cannot be trusted, or None; nothing outside the file is read."""
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        return f"its shape {shape_text(dims)} has a negative size"
    count = math.prod(dims)
    if count > MAX_WEIGHT_VALUES:
        return (f"its shape {shape_text(dims)} declares {count:,} values, more than the {MAX_WEIGHT_VALUES:,} "
                "of any model that fits in a workbook")
    if tensor.HasField("segment"):
        return "it is split into segments, which excelnet does not read"
    if tensor.data_type == 0 or tensor.data_type > 23:
        return f"its element type {tensor.data_type} is not an ONNX type"
    if tensor.data_location == 1 or len(tensor.external_data):
        return None                           # checked against its file by check_external
    held = held_values(tensor)
    if held is not None and held != count:
        return f"its shape {shape_text(dims)} declares {count:,} values but it holds {held:,}"
    return None


def held_values(tensor) -> int | None:
    """How many values a tensor stored in the file holds (None for types whose length is not checked)."""
    kind = tensor.data_type
    if kind == 8:                                   # STRING
        return len(tensor.string_data)
    if tensor.raw_data:
        size = ITEM_BYTES.get(kind)
        return None if size is None else len(tensor.raw_data) // size if len(tensor.raw_data) % size == 0 else -1
    field = TYPED_FIELD.get(kind)
    if field is None:
        return None
    held = len(getattr(tensor, field))
    return held // 2 if kind in COMPLEX else held


def check_external(path: Path, inventory: Inventory) -> list[str]:
    """Each external tensor's file: inside the model's folder, a regular file, long enough; all of
    them together within MAX_FILE_BYTES. Nothing is read here."""
    folder, problems, total = path.resolve().parent, [], 0
    for tensor, where in inventory.external:
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        size = ITEM_BYTES.get(tensor.data_type)
        if size is None:
            problems.append(f"{where}: its element type {tensor.data_type} cannot be kept in an external file")
            continue
        want = math.prod(tensor.dims) * size
        try:
            offset, length = int(entries.get("offset", 0)), int(entries.get("length", want))
        except ValueError:
            problems.append(f"{where}: its external data offset or length is not a whole number")
            continue
        target = _resolved(folder, location)
        if target is None or os.path.isabs(location) or not target.is_relative_to(folder) or target == folder:
            problems.append(f"{where}: it points to external data {safe_name(repr(location))} outside the model's "
                            "folder (or to no file at all), which excelnet refuses to read")
            continue
        if not target.is_file():
            problems.append(f"{where}: it needs the external data file {safe_name(repr(location))}, which is "
                            "missing (or not a regular file)")
            continue
        if offset < 0 or length != want:
            problems.append(f"{where}: its external data (offset {offset:,}, length {length:,} bytes) does not "
                            f"hold the {want:,} bytes its shape {shape_text(tensor.dims)} needs")
            continue
        if offset + length > target.stat().st_size:
            problems.append(f"{where}: its external data file {safe_name(repr(location))} is shorter than the "
                            f"{offset + length:,} bytes it needs")
            continue
        total += length
        tensor.ClearField("external_data")     # remembered below; put back by read_external
        tensor.external_data.add(key="location", value=str(target))
        tensor.external_data.add(key="offset", value=str(offset))
        tensor.external_data.add(key="length", value=str(length))
    if total > MAX_FILE_BYTES:
        problems.append(f"its external data adds up to {megabytes(total)}, more than the "
                        f"{megabytes(MAX_FILE_BYTES)} of any model that fits in a workbook")
    return problems


def _resolved(folder: Path, location: str) -> Path | None:
    """Where a location really leads (every symlink followed), or None for one that leads nowhere
    (empty, a NUL byte, a symlink loop)."""
    if not location or "\x00" in location:
        return None
    try:
        return (folder / location).resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def read_external(path: Path, inventory: Inventory) -> None:
    """Read the checked external tensors into the model (their files, offsets and lengths were
    resolved and bounded by check_external)."""
    for tensor, where in inventory.external:
        entries = {e.key: e.value for e in tensor.external_data}
        offset, length = int(entries["offset"]), int(entries["length"])
        try:
            with open(entries["location"], "rb") as handle:
                handle.seek(offset)
                data = handle.read(length)
        except OSError as error:
            raise ModelFileError(path, f"{where}: its external data cannot be read "
                                       f"({error.strerror or 'input/output error'})") from None
        if len(data) != length:
            raise ModelFileError(path, f"{where}: its external data file ended early")
        tensor.ClearField("external_data")
        tensor.data_location = 0
        tensor.raw_data = data


def count_problems(model) -> list[str]:
    """A file of a million tiny nodes, initializers or attributes: refused from the lengths alone
    (constant time each), before any of them is walked."""
    graph = model.graph
    parts = {"nodes": len(graph.node) + sum(len(f.node) for f in model.functions[:MAX_NODES]),
             "initializers": len(graph.initializer) + len(graph.sparse_initializer),
             "local functions": len(model.functions), "graph inputs and outputs": len(graph.input) + len(graph.output)}
    problems = [f"it has {count:,} {what}, far more than any network that fits in a workbook (at most {MAX_NODES:,})"
                for what, count in parts.items() if count > MAX_NODES]
    if not problems:
        attributes = sum(len(n.attribute) for n in graph.node) + sum(len(n.attribute) for f in model.functions
                                                                     for n in f.node)
        if attributes > MAX_ATTRIBUTES:
            problems.append(f"its nodes have {attributes:,} attributes, far more than any network that fits in a "
                            f"workbook (at most {MAX_ATTRIBUTES:,})")
    return problems


# --- local functions: inlined only within a budget ---------------------------------------------------


def inlined_size(model) -> tuple[int, list[str]]:
    """How many nodes the main graph has once every local function call is inlined, and problems
    (a function that calls itself, a graph past MAX_NODES)."""
    functions = {(f.domain, f.name): f for f in model.functions}
    sizes: dict = {}
    problems: list[str] = []

    def size(key, stack) -> int:
        if key in sizes:
            return sizes[key]
        if key in stack:
            problems.append(f"the local function {quoted(key[1])} calls itself, which ONNX forbids")
            return MAX_NODES + 1
        total = sum(size((n.domain, n.op_type), stack | {key}) if (n.domain, n.op_type) in functions else 1
                    for n in functions[key].node)
        sizes[key] = min(total, MAX_NODES + 1)
        return sizes[key]

    count = sum(size((n.domain, n.op_type), frozenset()) if (n.domain, n.op_type) in functions else 1
                for n in model.graph.node)
    if count > MAX_NODES and not problems:
        problems.append(f"it has more than {MAX_NODES:,} nodes (local functions inlined), far more than any "
                        "network that fits in a workbook")
    return count, problems


# --- the order of the nodes ------------------------------------------------------------------------


def sorted_nodes(graph) -> tuple[list, list[str]]:
    """The graph's nodes in an order where each comes after what it reads (file order where it
    allows), and problems: an input nobody provides, two writers of one tensor, a cycle."""
    problems: list[str] = []
    provided: dict[str, str] = {}
    for tensor in graph.initializer:
        if tensor.name in provided:
            problems.append(f"two initializers are named {quoted(tensor.name)}")
        provided[tensor.name] = "an initializer"
    for value in graph.input:
        provided.setdefault(value.name, "a graph input")
    producer: dict[str, int] = {}
    named: set[str] = set()
    for node in graph.node:
        if node.name and node.name in named:
            problems.append(f"two nodes are named {quoted(node.name)}")
        named.add(node.name)
    for index, node in enumerate(graph.node):
        for name in node.output:
            if not name:
                continue
            if name in producer or name in provided:
                other = describe_node(graph.node[producer[name]]) if name in producer else provided[name]
                problems.append(f"{describe_node(node)} writes {quoted(name)}, which {other} also provides")
            else:
                producer[name] = index
    waiting = [set() for _ in graph.node]
    readers: dict[int, set[int]] = {}
    for index, node in enumerate(graph.node):
        for name in node.input:
            if not name or name in provided:
                continue
            if name not in producer:
                problems.append(f"{describe_node(node)} reads {quoted(name)}, which no node, input or initializer "
                                "provides")
                continue
            waiting[index].add(producer[name])
            readers.setdefault(producer[name], set()).add(index)
    if problems:
        return list(graph.node), problems
    import heapq

    ready = [i for i, needs in enumerate(waiting) if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers.get(index, ()):
            waiting[reader].discard(index)
            if not waiting[reader]:
                heapq.heappush(ready, reader)
    if len(order) < len(graph.node):
        stuck = [describe_node(graph.node[i]) for i in range(len(graph.node)) if waiting[i]]
        problems.append(f"its nodes form a cycle (each waits for another's output): {', '.join(stuck[:5])}"
                        + (f" and {len(stuck) - 5} more" if len(stuck) > 5 else ""))
        return list(graph.node), problems
    return [graph.node[i] for i in order], problems


def refuse(path: Path, problems: list[str]) -> None:
    """One ModelFileError listing every problem (the first MAX_PROBLEMS_SHOWN of them)."""
    if not problems:
        return
    problems = list(dict.fromkeys(problems))          # each said once
    shown = problems[:MAX_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    text = "; ".join(shown) + (f"; and {more} more problem{'s' if more != 1 else ''}" if more else "")
    raise ModelFileError(path, text)


# --- before parsing: how many parts the protobuf holds ---------------------------------------------

MAX_FIELDS = 200_000           # LeNet's file holds about 400; each field costs protobuf ~100 bytes parsed


class TooManyFields(ValueError):
    pass


def count_fields(data: bytes, descriptor, limit: int = MAX_FIELDS) -> int:
    """The number of fields in a serialized message, nested messages included, counted from the
    wire format with the message's descriptor (nothing is built); TooManyFields past `limit`.
    A 63 MB file of 13 million empty nodes would make protobuf allocate 2 GB: this reads
    the bytes once and stops at `limit`. Malformed bytes raise ValueError."""
    count = 0
    stack = [(descriptor, 0, len(data))]
    while stack:
        message, position, end = stack.pop()
        fields = message.fields_by_number
        while position < end:
            key, position = _varint(data, position)
            number, wire = key >> 3, key & 7
            count += 1
            if count > limit:
                raise TooManyFields(count)
            if wire == 0:
                _, position = _varint(data, position)
            elif wire == 1:
                position += 8
            elif wire == 5:
                position += 4
            elif wire == 2:
                length, position = _varint(data, position)
                field = fields.get(number)
                if field is not None and field.message_type is not None:
                    stack.append((field.message_type, position, position + length))
                position += length
            else:
                raise ValueError("a protobuf group or an invalid wire type")
            if position > end:
                raise ValueError("a field runs past the end of its message")
    return count


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("a truncated or overlong varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
