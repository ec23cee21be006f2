"""Issue 19: the time and peak memory of `excelnet build`, `summary` and `verify` on hostile ONNX
files at excelnet's caps, each run in a fresh process (its peak resident memory, VmHWM, as the
kernel counts it, imports included). Targets: every run ends within 30 s and 1 GB with one message and a non-zero exit.

Usage: python benchmarks/onnx_hostile.py [--folder DIR]"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RUN = """
import json, sys, time
def peak_mb():   # VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
from click.testing import CliRunner
from excelnet.cli import main
started = time.perf_counter()
result = CliRunner().invoke(main, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "seconds": time.perf_counter() - started,
                  "peak_mb": peak_mb(),
                  "message": [line for line in result.output.splitlines() if line.strip()][:2]}))
"""


def _model(nodes, initializers, width: int, path: Path) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "hostile", [helper.make_tensor_value_info("x", 1, [None, width])],
                              [helper.make_tensor_value_info("y", 1, [None, None])], initializer=initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _varint(n: int) -> bytes:
    """n as a protobuf varint (a field's length), as protobuf itself writes it."""
    from google.protobuf.internal.encoder import _VarintBytes

    return _VarintBytes(n)


def cases(folder: Path) -> dict[str, Path]:
    """Files at the caps: 58 MB of weights in the file and 29 MB beside it; folding bombs; 63 MB
    of empty nodes; a Loop of a billion trips."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3800, 4000)).astype(np.float32)
    inside = numpy_helper.from_array(weights[:, :2000].copy(), "w")
    outside = numpy_helper.from_array(weights[:, 2000:].copy(), "w2")
    (folder / "w2.bin").write_bytes(outside.raw_data)
    outside.ClearField("raw_data")
    outside.data_location = 1
    outside.external_data.add(key="location", value="w2.bin")
    made = {"58 MB model + 29 MB external data": _model(
        [helper.make_node("Concat", ["w", "w2"], ["wall"], axis=1), helper.make_node("MatMul", ["x", "wall"], ["y"])],
        [inside, outside], 3800, folder / "big.onnx")}
    bombs = {"Expand to 30000²": ("Expand", [np.ones((1, 1), np.float32), np.array([30000, 30000], np.int64)]),
             "Tile to 20000²": ("Tile", [np.ones((2, 2), np.float32), np.array([10000, 10000], np.int64)]),
             "ConstantOfShape 20000²": ("ConstantOfShape", [np.array([20000, 20000], np.int64)]),
             "Range of 1e9": ("Range", [np.array(0, np.float32), np.array(1e9, np.float32), np.array(1, np.float32)])}
    for k, (name, (op, values)) in enumerate(bombs.items()):
        inits = [numpy_helper.from_array(v, f"i{j}") for j, v in enumerate(values)]
        inits.append(numpy_helper.from_array(np.zeros((4, 3), np.float32), "w"))
        nodes = [helper.make_node(op, [f"i{j}" for j in range(len(values))], ["bomb"]),
                 helper.make_node("Size", ["bomb"], ["n"]), helper.make_node("Cast", ["n"], ["nf"], to=1),
                 helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "nf"], ["y"])]
        made[name] = _model(nodes, inits, 4, folder / f"bomb{k}.onnx")
    tiny = folder / "tiny_nodes.onnx"        # 63 MB of empty nodes: 13 million, 2.2 GB once parsed
    graph = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [numpy_helper.from_array(
        np.ones((4, 3), np.float32), "w")], 4, tiny)
    model = onnx.load(graph)
    payload = model.graph.SerializeToString() + b"\x0a\x00" * (63 * 2**19)
    model.ClearField("graph")
    tiny.write_bytes(model.SerializeToString() + b"\x3a" + _varint(len(payload)) + payload)
    made["63 MB of empty nodes"] = tiny
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("i", 7, []), helper.make_tensor_value_info("c_in", 9, [])],
                             [helper.make_tensor_value_info("c_out", 9, [])])
    made["Loop with trip count 1e9"] = _model(
        [helper.make_node("Loop", ["trips", "go"], ["spin"], body=body), helper.make_node("MatMul", ["x", "w"], ["y"])],
        [numpy_helper.from_array(np.array(10**9, np.int64), "trips"), numpy_helper.from_array(np.array(True), "go"),
         numpy_helper.from_array(np.ones((4, 3), np.float32), "w")], 4, folder / "loop.onnx")
    return made


def _reason(lines: list[str]) -> str:
    """The first problem of the message, without the file's path."""
    if len(lines) > 1 and lines[1].startswith("  - "):
        return lines[1][4:][:90]
    return lines[0].split("': ", 1)[-1][:90] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="onnx-hostile-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"== issue 19: hostile ONNX files at the caps ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}) ==")
    print(f"{'case':36} {'command':8} {'exit':>4} {'s':>6} {'peak MB':>8}  message")
    worst = {"seconds": 0.0, "peak_mb": 0.0}
    for name, model in cases(folder).items():
        for command in (["build", "-m", str(model), "-o", str(folder / "out.xlsx")], ["summary", "-m", str(model)]):
            out = subprocess.run([sys.executable, "-c", RUN, *command], capture_output=True, text=True, timeout=120)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            worst = {k: max(worst[k], result[k]) for k in worst}
            print(f"{name:36} {command[0]:8} {result['exit']:>4} {result['seconds']:6.2f} {result['peak_mb']:8.0f}  "
                  f"{_reason(result['message'])}")
    print(f"worst: {worst['seconds']:.2f} s (target 30 s), {worst['peak_mb']:.0f} MB (target 1024 MB)")


if __name__ == "__main__":
    main()
