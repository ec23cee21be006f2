"""Accuracy of the shipped model on the full MNIST test set (10,000 digits), with Keras.

    .venv/bin/python benchmarks/accuracy.py [--data DIR] [--model M]

Also runs the package's NumPy reference (what the workbook computes) over the same
digits, and prints the size of the model's workbook: the two targets side by side."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_MNIST, header, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_MNIST), help="MNIST IDX folder or mnist.npz")
    parser.add_argument("--model", type=Path, help="default: the shipped model")
    args = parser.parse_args()
    import keras

    from excelnet.assets import DEFAULT_MODEL
    from excelnet.convert import load_network
    from excelnet.summary import summarize
    from excelnet.training import load_mnist
    from excelnet.verify import file_sha256

    model_path = args.model or DEFAULT_MODEL
    header(f"Accuracy of {model_path.name} on the MNIST test set")
    _, (x_test, y_test) = load_mnist(args.data)
    x = (x_test.astype(np.float32) / np.float32(255))[..., None]
    y = y_test.astype(int)
    started = time.perf_counter()
    predicted = keras.saving.load_model(model_path).predict(x, batch_size=1000, verbose=0).argmax(axis=1)
    keras_seconds = time.perf_counter() - started
    network = load_network(model_path)
    started = time.perf_counter()
    reference = np.array([network.predict(v).argmax() for v in x])
    numpy_seconds = time.perf_counter() - started
    rows = []
    for digit in range(10):
        mask = y == digit
        rows.append([digit, f"{int(mask.sum()):,}", f"{int((predicted[mask] != digit).sum())}",
                     f"{100 * np.mean(predicted[mask] == digit):.2f}"])
    right = int((predicted == y).sum())
    print(f"model: {model_path} (sha256 {file_sha256(model_path)[:16]}…)\n")
    print_table("Keras, per class", ["class", "test digits", "wrong", "accuracy %"], rows,
                ["all", f"{len(y):,}", f"{len(y) - right}", f"{100 * right / len(y):.2f}"])
    print(f"Keras:           {100 * right / len(y):.2f}% ({right:,}/{len(y):,}) in {keras_seconds:.1f} s")
    same = int((reference == y).sum())
    print(f"NumPy reference: {100 * same / len(y):.2f}% ({same:,}/{len(y):,}) in {numpy_seconds:.1f} s; "
          f"same prediction as Keras on {int((reference == predicted).sum()):,} digits")
    summary = summarize(model_path if args.model else None)
    print(f"workbook: {summary.total.formulas:,} formula cells (target <= 25,000), "
          f"estimated full recalculation {1000 * summary.estimated_recalc_seconds:.0f} ms")
    print(f"target: accuracy >= 99.0% -> {'met' if right / len(y) >= 0.99 else 'NOT MET'}")


if __name__ == "__main__":
    main()
