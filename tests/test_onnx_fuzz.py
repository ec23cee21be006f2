"""Fuzzing the ONNX reader: a few hundred hostile variants of four small ONNX CNNs, each either
built into a workbook that computes what onnxruntime computes, or refused with one clean
message and a non-zero exit. Never a traceback, a hang (30 s), more than 1 GB of memory, a
pre-existing output changed, or a file read from outside the model's folder: marker files are
planted in the current directory and beside the model's folder (reached through `..`, absolute
paths, a symlinked file and a symlinked folder); the worker records every open() of them and
every built workbook is searched for their contents.

Seeded, so a failure reproduces; all variants run in one worker process (tests/fuzz_worker.py)
that cannot import TensorFlow. Run with -s to see the figures."""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from onnx_models import activations_mlp, dynamo_cnn, global_max_squeeze, torchscript_cnn

pytest.importorskip("onnx", reason="the ONNX tests need the onnx package (pip install -e '.[test]')")

SEED = 20261204
MEMORY_LIMIT = 2**30
# Workbooks of the smallest base evaluated with `formulas` (slow: the others' workbooks are checked
# against onnxruntime in test_onnx.py); every build's NumPy reference is compared with onnxruntime,
# and every workbook is read whole and searched for planted files.
FORMULAS_CHECKS = {"refused": 1, "built": 3}
FORMULAS_BASE = "mlp"
SENTINEL = b"a workbook written before the fuzzing \x00\x01"
MARKER = "excelnet-secret"                      # in the name of every planted file
SECRET_VALUE = 4242.125                         # what the planted files hold, as float32 (and a text)
SECRET_TEXT = b"EXCELNET-SECRET!"               # 16 bytes: the float32 values after it stay aligned
INJECTION = 'x"&HYPERLINK("http://evil")&"'
HOSTILE_NAMES = [INJECTION, 'a"&Output!B4&"', "\x1b[31mred", "nul\x00byte", "=1+1", "@cmd|' /C calc'!A0",
                 "\u202eevil", "y" * 10_000, "", "'", "a/b:c*?[x]", "名前", "<tag>&amp;</tag>"]


# --- the models that are mutated ------------------------------------------------------------------

def _bases():
    """Four small valid models from what the exporters write (conv + pool + gemm + log_softmax,
    a dynamo-style one, an MLP through every activation, a global pool + squeeze)."""
    return {"torchscript": torchscript_cnn(11).model(), "dynamo": dynamo_cnn(18).model(),
            "mlp": activations_mlp(17).model(), "squeeze": global_max_squeeze(13).model()}


def _copy(model):
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _float_initializers(model) -> list:
    return [t for t in model.graph.initializer if t.data_type == 1 and math.prod(t.dims) > 0]


def _set_array(tensor, value: np.ndarray) -> None:
    from onnx import numpy_helper

    tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))


def _external(tensor, location: str, offset: int = 0, length: int | None = None) -> None:
    """Point `tensor` at external data (its own data is dropped)."""
    dims, name, kind = list(tensor.dims), tensor.name, tensor.data_type
    tensor.Clear()
    tensor.name, tensor.data_type = name, kind
    tensor.dims.extend(dims)
    tensor.data_location = 1
    tensor.external_data.add(key="location", value=location)
    if offset:
        tensor.external_data.add(key="offset", value=str(offset))
    if length is not None:
        tensor.external_data.add(key="length", value=str(length))


def _constant_node(name: str, output: str, tensor):
    from onnx import helper

    return helper.make_node("Constant", [], [output], name=name, value=tensor)


# --- mutations: (model, rng, folder) -> bytes; they may write files into the variant's folder -----

def _flip(model, rng, folder):
    data = bytearray(model.SerializeToString())
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(model, rng, folder):
    data = model.SerializeToString()
    return data[:rng.randrange(1, len(data))]


def _dims(model, rng, folder):
    tensor = rng.choice(list(model.graph.initializer))
    how = rng.choice(["huge", "negative", "plus one", "extra axis", "zero", "product overflow"])
    dims = list(tensor.dims) or [1]
    if how == "huge":
        dims[rng.randrange(len(dims))] = 2**40
    elif how == "negative":
        dims[rng.randrange(len(dims))] = -rng.choice([1, 5, 2**40])
    elif how == "plus one":
        dims[rng.randrange(len(dims))] += 1
    elif how == "extra axis":
        dims.append(rng.choice([2, 3]))
    elif how == "zero":
        dims[rng.randrange(len(dims))] = 0
    else:
        dims = [2**31, 2**31, 2**31]
    del tensor.dims[:]
    tensor.dims.extend(dims)
    return model.SerializeToString()


def _outside_location(rng, folder: Path) -> str:
    """A location that leads to a planted file outside the model's folder, one way or another."""
    how = rng.choice(["dotdot", "absolute", "cwd relative", "symlinked file", "symlinked folder", "deep dotdot"])
    if how == "dotdot":
        return f"../{MARKER}.bin"
    if how == "deep dotdot":
        return f"sub/../../{MARKER}.bin"
    if how == "absolute":
        return str(folder.parent / f"{MARKER}.bin")
    if how == "cwd relative":
        return f"{MARKER}-cwd.bin"                  # only the current directory has it
    if how == "symlinked file":
        (folder / "weights.bin").symlink_to(folder.parent / f"{MARKER}.bin")
        return "weights.bin"
    (folder / "data").symlink_to(folder.parent)
    return f"data/{MARKER}.bin"


def _external_everywhere(model, rng, folder):
    """External data in every place a tensor can sit; each must be refused without a byte read."""
    from onnx import helper, numpy_helper

    place = rng.choice(["initializer", "constant node", "if branch", "loop body", "function", "sparse constant",
                        "sparse initializer", "attribute tensors", "function default"])
    location = _outside_location(rng, folder)
    tensor = numpy_helper.from_array(np.ones((2, 2), np.float32), "hidden")
    _external(tensor, location, offset=16)
    graph = model.graph
    if place == "initializer":
        target = rng.choice(_float_initializers(model))
        _external(target, location, offset=16)
    elif place == "constant node":
        graph.node.insert(0, _constant_node("sneaky", "sneaky_out", tensor))
    elif place in ("if branch", "loop body"):
        body = helper.make_graph([_constant_node("inner", "inner_out", tensor)], "branch", [],
                                 [helper.make_tensor_value_info("inner_out", 1, [2, 2])])
        if place == "if branch":
            cond = numpy_helper.from_array(np.array(True), "cond")
            graph.initializer.append(cond)
            node = helper.make_node("If", ["cond"], ["branch_out"], name="choose", then_branch=body, else_branch=body)
        else:
            body = helper.make_graph([_constant_node("inner", "inner_out", tensor),
                                      helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
                                     [helper.make_tensor_value_info("i", 7, []),
                                      helper.make_tensor_value_info("c_in", 9, [])],
                                     [helper.make_tensor_value_info("c_out", 9, []),
                                      helper.make_tensor_value_info("inner_out", 1, [2, 2])])
            graph.initializer.extend([numpy_helper.from_array(np.array(1, np.int64), "trips"),
                                      numpy_helper.from_array(np.array(True), "go")])
            node = helper.make_node("Loop", ["trips", "go"], ["scan_out"], name="repeat", body=body)
        graph.node.insert(0, node)
    elif place in ("function", "function default"):
        inner = [_constant_node("inner", "k", tensor), helper.make_node("Add", ["x", "k"], ["y"])]
        function = helper.make_function("local", "leak", ["x"], ["y"], inner,
                                        opset_imports=[helper.make_opsetid("", model.opset_import[0].version)])
        if place == "function default":
            function.attribute_proto.append(helper.make_attribute("secret", tensor))
        model.functions.append(function)
        model.opset_import.append(helper.make_opsetid("local", 1))
        graph.node.insert(0, helper.make_node("leak", ["hidden_in"], ["hidden_out"], domain="local", name="call"))
        graph.initializer.append(numpy_helper.from_array(np.ones((2, 2), np.float32), "hidden_in"))
    elif place == "sparse constant":
        sparse = helper.make_sparse_tensor(tensor, numpy_helper.from_array(np.array([0], np.int64), "i"), [4])
        graph.node.insert(0, helper.make_node("Constant", [], ["sparse_out"], name="sparse", sparse_value=sparse))
    elif place == "sparse initializer":
        graph.sparse_initializer.append(helper.make_sparse_tensor(
            tensor, numpy_helper.from_array(np.array([0], np.int64), "i"), [4]))
    else:
        graph.node.insert(0, helper.make_node("Identity", ["c1"], ["unused"], name="holder"))
        graph.node[0].attribute.append(helper.make_attribute("payload", [tensor]))
    return model.SerializeToString()


def _external_inside(model, rng, folder):
    """External data done right (a file beside the model) builds; done wrong (too short, too long,
    over the size cap, a folder, missing) is refused."""
    target = rng.choice(_float_initializers(model))
    values = np.frombuffer(target.raw_data, np.float32) if target.raw_data else np.asarray(target.float_data, np.float32)
    how = rng.choice(["right", "right with offset", "short file", "wrong length", "over the cap", "a folder", "missing"])
    offset = 64 if how == "right with offset" else 0
    data = b"\0" * offset + values.tobytes()
    if how == "short file":
        data = data[:-4]
    if how == "over the cap":     # 16 million doubles: 128 MB in a sparse file (nothing on disk)
        with open(folder / "weights.bin", "wb") as handle:
            handle.truncate(16_000_000 * 8)
        target.data_type = 11
        del target.dims[:]
        target.dims.append(16_000_000)
        _external(target, "weights.bin", length=16_000_000 * 8)
        return model.SerializeToString()
    if how == "a folder":
        (folder / "weights.bin").mkdir()
    elif how != "missing":
        (folder / "weights.bin").write_bytes(data)
    _external(target, "weights.bin", offset=offset, length=len(values) * 4 + (8 if how == "wrong length" else 0))
    return model.SerializeToString()


def _dtypes(model, rng, folder):
    tensor = rng.choice(_float_initializers(model))
    from onnx import numpy_helper

    values = numpy_helper.to_array(tensor)
    how = rng.choice(["int64", "bool", "string", "float8", "float16", "double", "uint8", "bad type number"])
    if how in ("int64", "bool", "uint8"):
        _set_array(tensor, values.astype({"int64": np.int64, "bool": np.bool_, "uint8": np.uint8}[how]))
    elif how == "string":
        _set_array(tensor, values.astype(str).astype(object))
    elif how in ("float16", "double"):
        _set_array(tensor, values.astype(np.float16 if how == "float16" else np.float64))
    elif how == "float8":
        tensor.data_type = 17
        tensor.raw_data = bytes(math.prod(tensor.dims))
        tensor.ClearField("float_data")
    else:
        tensor.data_type = rng.choice([0, 99, 24])
    return model.SerializeToString()


def _non_finite(model, rng, folder):
    from onnx import numpy_helper

    tensor = rng.choice(_float_initializers(model))
    values = numpy_helper.to_array(tensor).copy()
    values.flat[rng.randrange(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
    _set_array(tensor, values)
    return model.SerializeToString()


def _cycle(model, rng, folder):
    nodes = model.graph.node
    early, late = sorted(rng.sample(range(len(nodes)), 2))
    nodes[early].input[0] = nodes[late].output[0]
    return model.SerializeToString()


def _names_broken(model, rng, folder):
    graph = model.graph
    how = rng.choice(["dangling input", "duplicate initializer", "two writers", "shuffled", "reversed",
                      "missing output", "input named like an initializer"])
    if how == "dangling input":
        rng.choice(list(graph.node)).input[0] = "nobody_writes_this"
    elif how == "duplicate initializer":
        first = rng.choice(_float_initializers(model))
        twin = graph.initializer.add()
        twin.CopyFrom(first)
        from onnx import numpy_helper
        _set_array(twin, numpy_helper.to_array(first) * 2 + 1)
    elif how == "two writers":
        a, b = rng.sample(range(len(graph.node)), 2)
        graph.node[b].output[0] = graph.node[a].output[0]
    elif how in ("shuffled", "reversed"):      # onnxruntime runs these: excelnet must sort, and build
        nodes = list(graph.node)
        rng.shuffle(nodes) if how == "shuffled" else nodes.reverse()
        del graph.node[:]
        graph.node.extend(nodes)
    elif how == "missing output":
        graph.output[0].name = "no_such_tensor"
    else:
        graph.input[0].name = graph.initializer[0].name
    return model.SerializeToString()


def _hostile_names(model, rng, folder):
    """Node names, tensor names, the graph's and the producer's: data, never formula text. The
    tensors are renamed consistently, so the model still builds."""
    graph = model.graph
    for k, node in enumerate(graph.node):
        if rng.random() < 0.7:
            node.name = rng.choice(HOSTILE_NAMES) + ("" if k == 0 else f"~{k}")     # unique, as ONNX requires
    renames = {}
    for node in graph.node:
        for k, name in enumerate(node.output):
            if name and rng.random() < 0.5:
                new = f"{rng.choice(HOSTILE_NAMES)}~{len(renames)}"
                renames[name] = new
                node.output[k] = new
    for node in graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = renames.get(name, name)
    for output in graph.output:
        output.name = renames.get(output.name, output.name)
    graph.name = rng.choice(HOSTILE_NAMES)
    model.producer_name = rng.choice(HOSTILE_NAMES)
    return model.SerializeToString()


def _attributes(model, rng, folder):
    from onnx import helper

    windowed = [n for n in model.graph.node if n.op_type in ("Conv", "MaxPool", "AveragePool")]
    node = rng.choice(windowed or list(model.graph.node))
    name, value = rng.choice([("auto_pad", "EVIL"), ("auto_pad", "SAME_UPPER\x00"), ("strides", [0, 0]),
                              ("strides", [-1, 1]), ("strides", [1, 1, 1]), ("pads", [1, 1]),
                              ("pads", [-1, 0, 0, 0]), ("pads", [10**9] * 4), ("kernel_shape", [5, 5]),
                              ("kernel_shape", [0, 0]), ("group", 0), ("group", 2), ("group", "x"),
                              ("dilations", [2, 2]), ("axis", 7), ("alpha", "text"), ("transB", 5),
                              ("ceil_mode", [1, 1]), ("to", 8)])
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return model.SerializeToString()


def _versions(model, rng, folder):
    how = rng.choice(["opset 0", "opset 99", "opset -1", "ir 99", "ir 0", "unknown op", "unknown domain",
                      "ml opset 99", "default opset 99 imported again"])
    if how.startswith("opset"):
        model.opset_import[0].version = int(how.split()[1])
    elif how.startswith("ir"):
        model.ir_version = int(how.split()[1])
    elif how == "unknown op":
        rng.choice(list(model.graph.node)).op_type = rng.choice(["NotAnOp", "Loop", "If", "Scan", "Einsum"])
    elif how == "unknown domain":
        rng.choice(list(model.graph.node)).domain = "com.example.evil"
    elif how == "ml opset 99":
        model.opset_import.add(domain="ai.onnx.ml", version=99)
    else:
        model.opset_import.add(domain="ai.onnx", version=99)
    return model.SerializeToString()


def _subgraphs_and_functions(model, rng, folder):
    """Control flow is refused; a local function (the dynamo exporter's modules) is inlined and
    builds; recursion and exponential nesting are refused."""
    from onnx import helper, numpy_helper

    graph, opset = model.graph, model.opset_import[0].version
    how = rng.choice(["if", "loop", "function", "recursive function", "function bomb"])
    if how in ("if", "loop"):
        body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"])], "b",
                                 [helper.make_tensor_value_info("i", 7, []), helper.make_tensor_value_info("c_in", 9, [])],
                                 [helper.make_tensor_value_info("c_out", 9, [])])
        graph.initializer.extend([numpy_helper.from_array(np.array(True), "flag")])
        node = (helper.make_node("If", ["flag"], ["chosen"], name="choose", then_branch=body, else_branch=body)
                if how == "if" else helper.make_node("Loop", ["", "flag"], ["looped"], name="repeat", body=body))
        graph.node.insert(0, node)
        return model.SerializeToString()
    relu = next((n for n in graph.node if n.op_type in ("Relu", "Tanh")), None)
    if relu is None:
        return model.SerializeToString()
    model.opset_import.append(helper.make_opsetid("local", 1))
    imports = [helper.make_opsetid("", opset), helper.make_opsetid("local", 1)]
    if how == "function":
        body = [helper.make_node(relu.op_type, ["x"], ["y"])]
        model.functions.append(helper.make_function("local", "Module", ["x"], ["y"], body, opset_imports=imports))
    elif how == "recursive function":
        body = [helper.make_node("Module", ["x"], ["y"], domain="local")]
        model.functions.append(helper.make_function("local", "Module", ["x"], ["y"], body, opset_imports=imports))
    else:                                       # F30 calls F29 twice, ..., F0 is a Relu: 2**30 nodes inlined
        model.functions.append(helper.make_function("local", "F0", ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"])],
                                                    opset_imports=imports))
        for k in range(1, 31):
            body = [helper.make_node(f"F{k - 1}", ["x"], ["m"], domain="local"),
                    helper.make_node(f"F{k - 1}", ["m"], ["y"], domain="local")]
            model.functions.append(helper.make_function("local", f"F{k}", ["x"], ["y"], body, opset_imports=imports))
    relu.op_type, relu.domain = ("Module" if how != "function bomb" else "F30"), "local"
    return model.SerializeToString()


def _folding_bombs(model, rng, folder):
    """Constant nodes whose result would be gigabytes, or a chain of thousands; feeding a Reshape
    that is otherwise harmless, so the fold must happen to find out."""
    from onnx import helper, numpy_helper

    graph = model.graph
    how = rng.choice(["expand", "tile", "constant of shape", "range", "loop trip count", "many nodes", "gather"])
    ints = lambda name, v: graph.initializer.append(numpy_helper.from_array(np.asarray(v, np.int64), name))  # noqa: E731
    if how == "expand":
        graph.initializer.append(numpy_helper.from_array(np.ones((1, 1), np.float32), "one"))
        ints("big", [30000, 30000])
        nodes = [helper.make_node("Expand", ["one", "big"], ["bomb"], name="expand")]
    elif how == "tile":
        graph.initializer.append(numpy_helper.from_array(np.ones((2, 2), np.float32), "one"))
        ints("times", [20000, 20000])
        nodes = [helper.make_node("Tile", ["one", "times"], ["bomb"], name="tile")]
    elif how == "constant of shape":
        ints("big", [20000, 20000])
        nodes = [helper.make_node("ConstantOfShape", ["big"], ["bomb"], name="fill")]
    elif how == "range":
        graph.initializer.extend([numpy_helper.from_array(np.array(v, np.float32), n)
                                  for n, v in (("start", 0), ("limit", 1e9), ("delta", 1))])
        nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["bomb"], name="count")]
    elif how == "loop trip count":
        body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"])], "b",
                                 [helper.make_tensor_value_info("i", 7, []), helper.make_tensor_value_info("c_in", 9, [])],
                                 [helper.make_tensor_value_info("c_out", 9, [])])
        ints("trips", 10**9)
        graph.initializer.append(numpy_helper.from_array(np.array(True), "go"))
        nodes = [helper.make_node("Loop", ["trips", "go"], ["bomb"], name="forever", body=body)]
    elif how == "gather":
        graph.initializer.append(numpy_helper.from_array(np.ones((1000, 1000), np.float32), "table"))
        ints("rows", np.zeros(20_000, np.int64))
        nodes = [helper.make_node("Gather", ["table", "rows"], ["bomb"], name="gather")]
    else:
        graph.initializer.append(numpy_helper.from_array(np.ones(1, np.float32), "v0"))
        nodes = [helper.make_node("Add", [f"v{k}", f"v{k}"], [f"v{k + 1}"], name=f"add{k}") for k in range(12_000)]
        nodes[-1].output[0] = "bomb"
    # the bomb's size feeds a Shape whose result is concatenated into nothing that matters... except
    # that the output depends on it: y = x + 0 * ReduceSum(bomb)
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    graph.initializer.append(zero)
    last = graph.output[0].name
    for node in graph.node:
        node.output[:] = [("pre_" + o if o == last else o) for o in node.output]
    nodes += [helper.make_node("Size", ["bomb"], ["bomb_size"], name="size"),
              helper.make_node("Cast", ["bomb_size"], ["bomb_float"], to=1, name="cast"),
              helper.make_node("Mul", ["bomb_float", "zero"], ["nothing"], name="times_zero"),
              helper.make_node("Add", ["pre_" + last, "nothing"], [last], name="plus_nothing")]
    graph.node.extend(nodes)
    return model.SerializeToString()


def _varint(n: int) -> bytes:
    """n as a protobuf varint (a field's length), as protobuf itself writes it."""
    from google.protobuf.internal.encoder import _VarintBytes

    return _VarintBytes(n)


def _field_bombs(model, rng, folder):
    """Hundreds of thousands of tiny protobuf entries (a few MB on disk, gigabytes once parsed at
    the 64 MB cap): empty nodes, opset imports, attributes of one node, dims of one tensor."""
    how = rng.choice(["empty nodes", "opset imports", "attributes", "dims"])
    count = rng.randint(210_000, 400_000)
    if how == "opset imports":
        return model.SerializeToString() + b"\x42\x00" * count          # ModelProto.opset_import = 8
    graph = model.graph.SerializeToString()
    if how == "empty nodes":
        graph += b"\x0a\x00" * count                                  # GraphProto.node = 1
    elif how == "attributes":
        node = model.graph.node[0].SerializeToString() + b"\x2a\x00" * count   # NodeProto.attribute = 5
        graph += b"\x0a" + _varint(len(node)) + node
    else:
        tensor = model.graph.initializer[0].SerializeToString() + b"\x08\x01" * count   # TensorProto.dims = 1
        graph += b"\x2a" + _varint(len(tensor)) + tensor                # GraphProto.initializer = 5
    model.ClearField("graph")
    return model.SerializeToString() + b"\x3a" + _varint(len(graph)) + graph   # ModelProto.graph = 7


MUTATIONS = {   # name: (function, how many variants, the group: "refused" mostly, "built" mostly)
    "damaged protobuf: byte flips": (_flip, 40, "refused"),
    "damaged protobuf: truncation": (_truncate, 20, "refused"),
    "huge, negative and mismatched dims": (_dims, 24, "refused"),
    "external data in every place, outside the folder": (_external_everywhere, 36, "refused"),
    "wrong dtypes": (_dtypes, 24, "refused"),
    "non-finite constants": (_non_finite, 16, "refused"),
    "cycles": (_cycle, 8, "refused"),
    "odd attributes": (_attributes, 30, "refused"),
    "unsupported ops and opsets": (_versions, 24, "refused"),
    "constant-folding bombs": (_folding_bombs, 14, "refused"),
    "protobuf field bombs": (_field_bombs, 8, "refused"),
    "external data beside the model": (_external_inside, 21, "built"),
    "missing and duplicate names, node order": (_names_broken, 28, "built"),
    "hostile names": (_hostile_names, 24, "built"),
    "subgraphs and functions": (_subgraphs_and_functions, 20, "built"),
}
OTHER_COMMANDS = ("external data in every place, outside the folder", "constant-folding bombs")


def _plant_secrets(root: Path, cwd: Path) -> None:
    """Marker files beside the variants' folders and in the worker's current directory."""
    secret = SECRET_TEXT + np.full(4096, SECRET_VALUE, np.float32).tobytes()
    (root / f"{MARKER}.bin").write_bytes(secret)
    (cwd / f"{MARKER}-cwd.bin").write_bytes(secret)
    (cwd / f"{MARKER}.bin").write_bytes(secret)
    (cwd / "hidden").write_bytes(secret)


def make_variants(root: Path, good_workbook: Path, group: str) -> list[dict]:
    rng = random.Random(SEED)
    bases, variants = _bases(), []
    names = sorted(bases)
    for kind, (mutate, count, in_group) in MUTATIONS.items():
        if in_group != group:
            continue
        for k in range(count):
            base = names[k % len(names)]
            folder = root / f"v{len(variants)}"
            folder.mkdir()
            data = mutate(_copy(bases[base]), rng, folder)
            model, output = folder / "model.onnx", folder / "out.xlsx"
            model.write_bytes(data)
            output.write_bytes(SENTINEL)
            variant = {"kind": kind, "base": base, "model": str(model), "output": str(output),
                       "formulas": base == FORMULAS_BASE}
            if kind in OTHER_COMMANDS and k % 3 == 1:
                variant["arguments"] = ["summary", "-m", str(model)]
            elif kind in OTHER_COMMANDS and k % 3 == 2:
                variant["arguments"] = ["verify", str(good_workbook), "-m", str(model), "--engine", "formulas",
                                        "-n", "1", "-q"]
            variants.append(variant)
    return variants


# --- what every variant must satisfy -----------------------------------------------------------------

def _formula_code(xml: str) -> list[str]:
    """Every formula of a sheet with its string literals and quoted sheet names taken out: what the
    engine executes."""
    return [re.sub(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'', '""', formula) for formula in
            (ElementTree.fromstring(f"<f>{f}</f>").text or "" for f in re.findall(r"<f[^>]*>(.*?)</f>", xml, re.S))]


def _workbook_problems(path: Path) -> list[str]:
    """A built workbook: well-formed XML, nothing planted in it, no name turned into formula code."""
    found = []
    secret_number = re.compile(r"4242\.125|EXCELNET-SECRET|excelnet-secret")
    with zipfile.ZipFile(path) as book:
        for member in book.namelist():
            raw = book.read(member)
            if not member.endswith((".xml", ".rels")):
                continue
            try:
                ElementTree.fromstring(raw)
            except ElementTree.ParseError as error:
                found.append(f"{member} is not well-formed XML ({error})")
                continue
            text = raw.decode("utf-8")
            if secret_number.search(text):
                found.append(f"{member} holds a planted secret")
            if any("HYPERLINK" in code or "Output!B4" in code for code in _formula_code(text)):
                found.append(f"{member}: a name from the file became formula code")
    return found


def _problems(record: dict) -> list[str]:
    what = f"{record['kind']} of {record['base']} ({Path(record['model']).parent.name}, " \
           f"{(record.get('arguments') or ['build'])[0]})"
    if "escaped" in record:
        return [f"{what}: an exception escaped:\n{record['escaped']}"]
    output, found = record["message"], []
    if record["opened"]:
        found.append(f"{what}: opened planted files {record['opened']}")
    if record["peak"] is not None and record["peak"] > MEMORY_LIMIT:
        found.append(f"{what}: peak memory {record['peak'] / 2**20:.0f} MB")
    if record["seconds"] > 30:
        found.append(f"{what}: took {record['seconds']:.0f} s")
    if "Traceback" in output or any(ch in output for ch in "\x00\x1b\ud800\u202e"):
        found.append(f"{what}: a traceback or raw control characters in {output!r}")
    if record["exit_code"] == 0:
        if (record.get("arguments") or ["build"])[0] != "build":
            return found
        if not record["finite"]:
            found.append(f"{what}: the workbook holds non-finite numbers or errors")
        if record.get("equal") is False or record.get("reference_finite") is False:
            found.append(f"{what}: the workbook differs from the NumPy reference (or it is not finite)")
        if record.get("runtime_equal") is not True:
            found.append(f"{what}: excelnet's reference is not onnxruntime's answer: {record.get('runtime_equal')}")
        found += [f"{what}: {p}" for p in _workbook_problems(Path(record["output"]))]
        return found
    if record["exit_code"] != 1 or not output.startswith("Error: ") or len(output.strip().splitlines()) > 40:
        found.append(f"{what}: exit {record['exit_code']} with {output[:3000]!r}")
    if "'" + "y" * 200 in output:
        found.append(f"{what}: a 10,000-character name printed whole")
    if Path(record["output"]).read_bytes() != SENTINEL:
        found.append(f"{what}: the pre-existing output was changed")
    return found


@pytest.fixture(scope="module")
def good_workbook(tmp_path_factory) -> Path:
    from excelnet.convert import build

    folder = tmp_path_factory.mktemp("onnx-fuzz-good")
    model = folder / "good.onnx"
    model.write_bytes(global_max_squeeze(13).model().SerializeToString())
    build(model, folder / "good.xlsx")
    return folder / "good.xlsx"


@pytest.mark.parametrize("group", ["refused", pytest.param("built", marks=pytest.mark.slow)])
def test_fuzzed_onnx_files_build_correctly_or_fail_cleanly(group, tmp_path, good_workbook):
    """Two groups: the mutations that are mostly refused (fast: 244 variants), and those that
    mostly build (each build is compared with onnxruntime and searched for planted files)."""
    started = time.perf_counter()
    root, cwd = tmp_path / "models", tmp_path / "cwd"
    root.mkdir()
    cwd.mkdir()
    _plant_secrets(root, cwd)
    variants = make_variants(root, good_workbook, group)
    made = time.perf_counter() - started
    manifest, results = tmp_path / "manifest.json", tmp_path / "results.json"
    manifest.write_text(json.dumps(variants))
    worker = Path(__file__).with_name("fuzz_worker.py")
    checks = FORMULAS_CHECKS[group]
    env = dict(os.environ, FUZZ_WATCH_MARKER=MARKER, FUZZ_FORMULAS_CHECKS=str(checks))
    run = subprocess.run([sys.executable, str(worker), str(manifest), str(results)], capture_output=True,
                         text=True, timeout=900, cwd=cwd, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(results.read_text())
    records = report["records"]
    assert len(records) == len(variants)
    assert not report["tensorflow"], report["tensorflow"]
    built = [r for r in records if r["exit_code"] == 0 and (r.get("arguments") or ["build"])[0] == "build"]
    refused = [r for r in records if r["exit_code"] == 1]
    peaks = [r["peak"] for r in records if r["peak"] is not None]
    print(f"\nonnx fuzz ({group}): {len(records)} variants made in {made:.1f} s and run in "
          f"{time.perf_counter() - started - made:.1f} s; {len(built)} built "
          f"({sum('equal' in r for r in built)} checked with formulas, all against onnxruntime), "
          f"{len(refused)} refused; peak memory of one run {max(peaks, default=0) / 2**20:.0f} MB; "
          f"slowest {max(r['seconds'] for r in records):.2f} s")
    print("outcomes by mutation:", dict(Counter((r["kind"], r["exit_code"]) for r in records)))
    problems = [p for record in records for p in _problems(record)]
    assert not problems, "\n\n".join(problems[:10]) + f"\n\n({len(problems)} problems)"
    assert sum("equal" in r for r in built) == min(checks, len({r["fingerprint"] for r in built if r["formulas"]}))
    if group == "refused":
        assert len(refused) > 200, "the fuzzing no longer reaches the refusals"
    else:
        assert len(built) > 30 and {r["kind"] for r in built} == {k for k, v in MUTATIONS.items() if v[2] == group}
