"""The scikit-learn route, offline: train on scikit-learn's bundled 8×8 digits, export with
skl2onnx, build the workbook, and check it in a spreadsheet engine.

    pip install scikit-learn skl2onnx 'excelnet[onnx]'
    python examples/sklearn_to_workbook.py            # an MLPClassifier
    python examples/sklearn_to_workbook.py --logistic # a LogisticRegression

The digits' pixels (whole numbers 0–16) are scaled to 0–1 before training, so the workbook's
Canvas takes 0–1 ink as it does for MNIST. skl2onnx must be told zipmap=False, or the probabilities come out as a list of dictionaries,
which cells cannot hold."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from skl2onnx import to_onnx

from excelnet.convert import build
from excelnet.verify import verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logistic", action="store_true", help="a LogisticRegression instead of an MLP")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write into")
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32) / 16          # ink from 0 to 1, as on every excelnet Canvas
    train, test = slice(0, 1400), slice(1400, None)
    model = LogisticRegression(max_iter=1000) if args.logistic else MLPClassifier((32,), max_iter=500, random_state=0)
    model.fit(x[train], y[train])
    print(f"{type(model).__name__}: test accuracy {100 * model.score(x[test], y[test]):.1f}%")
    name = "digits_logistic" if args.logistic else "digits_mlp"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.onnx"
    path.write_bytes(to_onnx(model, x[:1], options={"zipmap": False}, target_opset=17).SerializeToString())
    samples = args.out / f"{name}_samples.npz"
    np.savez(samples, x=x[test][:50] * 255, y=y[test][:50])   # test digits to pick (stored as 0–255)
    result = build(path, args.out / f"{name}.xlsx", samples=samples)
    print(f"Wrote {result.path}: {len(result.network.ops)} layers, {result.plan.formula_cells:,} formula cells")
    report = verify(result.path, samples=5, progress=False)
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
