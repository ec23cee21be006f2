"""Reproduce the model and sample digits that excelnet ships.

    python examples/train_default_model.py --data ../shared/data/mnist

writes excelnet/assets/mnist_cnn.keras and excelnet/assets/mnist_samples.npz,
then reloads the saved model and prints its accuracy on the 10,000 test images.
Without --data, MNIST is downloaded through keras.datasets.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from excelnet import training

ASSETS = Path(__file__).resolve().parent.parent / "excelnet" / "assets"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="folder with the MNIST IDX files (.gz or plain) or mnist.npz")
    parser.add_argument("--epochs", type=int, default=training.DEFAULT_EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder for the two asset files")
    parser.add_argument("--samples", type=int, default=200, help="how many test digits to ship")
    return parser.parse_args()


def reloaded_accuracy(model_path: Path, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Measure the file as saved, not the in-memory model, so a bad save shows up."""
    import keras

    model = keras.saving.load_model(model_path)
    probabilities = model.predict(training.to_model_input(x_test), batch_size=1000, verbose=0)
    return float(np.mean(probabilities.argmax(axis=1) == y_test))


def main() -> None:
    args = parse_args()
    model_path = args.out / "mnist_cnn.keras"
    result = training.train(model_path, args.data, epochs=args.epochs, seed=args.seed)
    _, (x_test, y_test) = training.load_mnist(args.data)
    samples = training.export_samples(x_test, y_test, args.out / "mnist_samples.npz", count=args.samples)
    accuracy = reloaded_accuracy(model_path, x_test, y_test)
    print(f"epochs={result['epochs']} seed={result['seed']} train_seconds={result['train_seconds']:.0f}")
    print(f"estimated formula cells: {result['formula_cells']}")
    print(f"reloaded {model_path.name}: test accuracy {accuracy:.4f} on {len(y_test)} images")
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes) and {samples} ({samples.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
