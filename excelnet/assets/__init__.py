"""The trained MNIST CNN and sample test digits shipped with excelnet."""

from pathlib import Path

HERE = Path(__file__).parent
DEFAULT_MODEL = HERE / "mnist_cnn.keras"
DEFAULT_SAMPLES = HERE / "mnist_samples.npz"
# The 1,797 8×8 UCI handwritten digits (the copy scikit-learn ships): x (1797, 8, 8) uint8 0–16, y labels.
UCI_DIGITS = HERE / "uci_digits.npz"
