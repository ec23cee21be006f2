"""Fast checks of MNIST loading, the shipped model and samples, and training determinism."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from excelnet import training

ASSETS = Path(training.__file__).parent / "assets"
MODEL_PATH = ASSETS / "mnist_cnn.keras"
SAMPLES_PATH = ASSETS / "mnist_samples.npz"


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array the way the MNIST files are encoded."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return header + dims + array.astype(np.uint8).tobytes()


def fake_mnist(seed: int, n_train: int, n_test: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in training.IDX_FILES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return folder


def assert_loaded(loaded, arrays: dict[str, np.ndarray]) -> None:
    (x_train, y_train), (x_test, y_test) = loaded
    for got, key in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"), (y_test, "y_test")):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_reads_idx_folder(tmp_path: Path, gz: bool) -> None:
    arrays = fake_mnist(0, 12, 5)
    assert_loaded(training.load_mnist(write_idx_folder(tmp_path, arrays, gz)), arrays)


@pytest.mark.parametrize("as_folder", [True, False], ids=["folder", "file"])
def test_load_mnist_reads_npz(tmp_path: Path, as_folder: bool) -> None:
    arrays = fake_mnist(1, 7, 3)
    np.savez(tmp_path / "mnist.npz", **arrays)
    assert_loaded(training.load_mnist(tmp_path if as_folder else tmp_path / "mnist.npz"), arrays)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda raw: b"\x12\x34" + raw[2:],  # bad magic
        lambda raw: raw[:-5],  # truncated data
        lambda raw: raw[:6],  # truncated header
        lambda raw: raw[:2] + b"\x0d" + raw[3:],  # float elements, not ubyte
    ],
    ids=["magic", "data", "header", "dtype"],
)
def test_corrupt_idx_names_the_file(tmp_path: Path, corrupt) -> None:
    folder = write_idx_folder(tmp_path, fake_mnist(2, 4, 4), gz=False)
    bad = folder / training.IDX_FILES["x_test"]
    bad.write_bytes(corrupt(bad.read_bytes()))
    with pytest.raises(ValueError, match=bad.name):
        training.load_mnist(folder)


def test_missing_idx_names_the_file(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, fake_mnist(3, 4, 4), gz=True)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
        training.load_mnist(folder)


def test_export_samples_keeps_the_first_digits(tmp_path: Path) -> None:
    arrays = fake_mnist(4, 1, 30)
    path = training.export_samples(arrays["x_test"], arrays["y_test"], tmp_path / "s.npz", count=20)
    with np.load(path) as data:
        np.testing.assert_array_equal(data["x"], arrays["x_test"][:20])
        np.testing.assert_array_equal(data["y"], arrays["y_test"][:20])


def test_module_imports_without_tensorflow() -> None:
    code = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; import excelnet.training"
    subprocess.run([sys.executable, "-c", code], check=True)


def load_samples() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLES_PATH) as data:
        return data["x"], data["y"]


def test_shipped_samples_are_mnist_digits() -> None:
    x, y = load_samples()
    assert len(x) >= 100 and x.shape[1:] == (28, 28) and y.shape == (len(x),)
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    assert set(np.unique(y)) <= set(range(10))


@pytest.fixture(scope="module")
def shipped_model():
    keras = pytest.importorskip("keras")
    return keras.saving.load_model(MODEL_PATH)


def test_shipped_model_shape(shipped_model) -> None:
    assert tuple(shipped_model.input_shape) == (None, 28, 28, 1)
    assert tuple(shipped_model.output_shape) == (None, 10)
    assert shipped_model.layers[-1].get_config()["activation"] == "softmax"


def test_shipped_model_is_accurate_on_shipped_samples(shipped_model) -> None:
    x, y = load_samples()
    probabilities = shipped_model.predict(training.to_model_input(x), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == y) >= 0.97


def test_default_architecture_uses_only_supported_layers() -> None:
    pytest.importorskip("keras")
    allowed = {"Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"}
    model = training.default_architecture(seed=0)
    assert {type(layer).__name__ for layer in model.layers} <= allowed
    from excelnet.convert import formula_cells

    assert formula_cells(MODEL_PATH) <= 25_000


def test_same_seed_trains_identical_weights(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    data = write_idx_folder(tmp_path / "mnist", fake_mnist(5, 512, 64), gz=True)
    weights = []
    for run in range(2):
        path = tmp_path / f"run{run}.keras"
        result = training.train(path, data, epochs=1, seed=7, progress=False)
        assert result["test_images"] == 64 and 0.0 <= result["test_accuracy"] <= 1.0
        weights.append(keras.saving.load_model(path).get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)
