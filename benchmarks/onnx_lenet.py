"""A LeNet-5-sized network as an ONNX file (as PyTorch's exporter writes it) beside the same
network as a Keras file: `excelnet build` time (whole process) and LibreOffice recalculation.

    .venv/bin/python benchmarks/onnx_lenet.py [--repeat 5]

LeNet-5: conv 6@5×5 (padding 2) → ReLU → max pool 2 → conv 16@5×5 → ReLU → max pool 2 →
dense 120 → 84 → 10 → softmax (log_softmax for ONNX), 61,706 parameters, random weights.
The ONNX graph is written with onnx.helper (no torch needed): Conv/Relu/MaxPool, the
Shape → Gather → Unsqueeze → Concat → Reshape of x.view(x.size(0), -1), Gemm(transB=1), LogSoftmax."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from common import EXCELNET, ROOT, header, median, ms, print_table, run_process

SIZES = dict(c1=6, c2=16, f1=120, f2=84, classes=10)


def onnx_lenet(path: Path, rng) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c1, c2, f1, f2, k = SIZES.values()
    weights = {"w1": (c1, 1, 5, 5), "b1": (c1,), "w2": (c2, c1, 5, 5), "b2": (c2,), "w3": (f1, c2 * 25), "b3": (f1,),
               "w4": (f2, f1), "b4": (f2,), "w5": (k, f2), "b5": (k,)}
    inits = [numpy_helper.from_array(rng.normal(0, 0.1, s).astype(np.float32), n) for n, s in weights.items()]
    inits += [numpy_helper.from_array(np.array([0], np.int64), "axes0"),
              numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
              numpy_helper.from_array(np.array(0, np.int64), "zero")]
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], pads=[2, 2, 2, 2], kernel_shape=[5, 5]), n("Relu", ["c1"], ["r1"]),
             n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             n("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[5, 5]), n("Relu", ["c2"], ["r2"]),
             n("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             n("Shape", ["p2"], ["s"]), n("Gather", ["s", "zero"], ["b"], axis=0),
             n("Unsqueeze", ["b", "axes0"], ["b1d"]), n("Concat", ["b1d", "minus1"], ["target"], axis=0),
             n("Reshape", ["p2", "target"], ["flat"]),
             n("Gemm", ["flat", "w3", "b3"], ["g3"], transB=1), n("Relu", ["g3"], ["r3"]),
             n("Gemm", ["r3", "w4", "b4"], ["g4"], transB=1), n("Relu", ["g4"], ["r4"]),
             n("Gemm", ["r4", "w5", "b5"], ["g5"], transB=1), n("LogSoftmax", ["g5"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "lenet5", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", k])], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def keras_lenet(path: Path) -> Path:
    import keras

    c1, c2, f1, f2, k = SIZES.values()
    layers = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(c1, 5, padding="same", activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(c2, 5, activation="relu"), layers.MaxPooling2D(2),
                              layers.Flatten(), layers.Dense(f1, activation="relu"), layers.Dense(f2, activation="relu"),
                              layers.Dense(k, activation="softmax")])
    model.save(path)
    return path


def measure(model: Path, repeat: int, office) -> list:
    from excelnet.convert import load_network
    from excelnet.engines.libreoffice import canvas_grids

    workbook = model.with_suffix(".xlsx")
    builds = [run_process(EXCELNET + ["build", "-m", str(model), "-o", str(workbook)], cwd=ROOT)
              for _ in range(repeat)]
    assert all(b.returncode == 0 for b in builds), builds[-1].stderr
    network = load_network(model)
    load = office.open(workbook)
    recalcs = [office.call("recalc")["seconds"] for _ in range(repeat * 4)]
    x = np.random.default_rng(0).uniform(0, 1, (28, 28, 1))
    got = np.array(office.run(canvas_grids(x))["Probabilities"], dtype=np.float64).reshape(-1)
    diff = float(np.abs(got - network.predict(x)).max())
    return [model.name, f"{network_parameters(network):,}", ms(median([b.seconds for b in builds])),
            f"{max(b.peak_bytes for b in builds) / 1e6:.0f}", f"{workbook.stat().st_size / 1e6:.2f}", ms(load),
            ms(median(recalcs)), f"{diff:.1e}"]


def network_parameters(network) -> int:
    return sum(op.parameter_count() for op in network.ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from excelnet.engines.libreoffice import LibreOffice

    header("LeNet-5 as ONNX (PyTorch-style graph) and as Keras: build and LibreOffice recalculation")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        models = [onnx_lenet(Path(folder) / "lenet5.onnx", rng), keras_lenet(Path(folder) / "lenet5.keras")]
        with LibreOffice() as office:
            rows = [measure(model, args.repeat, office) for model in models]
    print_table(f"median of {args.repeat} builds (whole process) and {4 * args.repeat} full recalculations",
                ["model", "parameters", "build ms", "build peak MB", "file MB", "LibreOffice load ms",
                 "full recalc ms", "max |workbook - reference|"], rows)


if __name__ == "__main__":
    main()
