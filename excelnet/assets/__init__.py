"""The trained MNIST CNN and sample test digits shipped with excelnet."""

from pathlib import Path

HERE = Path(__file__).parent
DEFAULT_MODEL = HERE / "mnist_cnn.keras"
DEFAULT_SAMPLES = HERE / "mnist_samples.npz"
