"""Train the small MNIST CNN that excelnet ships, and read MNIST from local files.

Only the functions need TensorFlow/Keras; importing this module does not, so
`excelnet build` keeps working on machines without the training extra.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

Split = tuple[np.ndarray, np.ndarray]

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_NAME = "mnist.npz"
IDX_UBYTE = 0x08  # the only IDX element type MNIST uses

DEFAULT_EPOCHS = 20
BATCH_SIZE = 128
PEAK_LEARNING_RATE = 3e-3


# --- reading MNIST ---------------------------------------------------------


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Decode one IDX blob; `name` only makes the errors say which file is bad."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{name}: not an IDX file (bad magic number)")
    if raw[2] != IDX_UBYTE:
        raise ValueError(f"{name}: IDX element type 0x{raw[2]:02x} is not unsigned byte")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    if len(raw) - header != int(np.prod(shape)):
        raise ValueError(f"{name}: header says {shape} but the data has {len(raw) - header} bytes")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape).copy()


def _find_idx(folder: Path, stem: str) -> Path:
    """MNIST mirrors ship IDX files both gzipped and plain; accept either."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    raise ValueError(f"{folder / stem}[.gz]: MNIST file not found")


def read_idx(path: Path) -> np.ndarray:
    """Read a plain or gzipped IDX file, turning every failure into a ValueError."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read ({err})") from err
    return parse_idx(raw, str(path))


def _check_split(images: np.ndarray, labels: np.ndarray, name: str) -> Split:
    """Catch mismatched or non-digit files here rather than deep inside training."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{name}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.shape != (len(images),):
        raise ValueError(f"{name}: {labels.shape} labels for {len(images)} images")
    return images.astype(np.uint8), labels.astype(np.uint8)


def _load_idx_folder(folder: Path) -> tuple[Split, Split]:
    arrays = {key: read_idx(_find_idx(folder, stem)) for key, stem in IDX_FILES.items()}
    train = _check_split(arrays["x_train"], arrays["y_train"], str(folder / "train-*"))
    test = _check_split(arrays["x_test"], arrays["y_test"], str(folder / "t10k-*"))
    return train, test


def _load_npz(path: Path) -> tuple[Split, Split]:
    """The `mnist.npz` layout that keras.datasets.mnist downloads."""
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in IDX_FILES}
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a usable mnist.npz ({err})") from err
    train = _check_split(arrays["x_train"], arrays["y_train"], f"{path}[train]")
    test = _check_split(arrays["x_test"], arrays["y_test"], f"{path}[test]")
    return train, test


def load_mnist(data_dir: str | Path | None = None) -> tuple[Split, Split]:
    """MNIST as uint8 ((x_train, y_train), (x_test, y_test)), offline when possible.

    `data_dir` is a folder with the four IDX files (plain or .gz), a folder with
    `mnist.npz`, or that .npz file itself. None downloads through Keras.
    """
    if data_dir is None:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        return _check_split(x_train, y_train, "keras"), _check_split(x_test, y_test, "keras")
    path = Path(data_dir)
    if path.is_file():
        return _load_npz(path)
    if not path.is_dir():
        raise ValueError(f"{path}: no such MNIST folder or .npz file")
    has_idx = any((path / f"{IDX_FILES['x_train']}{gz}").is_file() for gz in ("", ".gz"))
    if not has_idx and (path / NPZ_NAME).is_file():
        return _load_npz(path / NPZ_NAME)
    return _load_idx_folder(path)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """Pixels/255 as float32 (N, 28, 28, 1): the 0..1 input unit the workbook uses."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def export_samples(x_test: np.ndarray, y_test: np.ndarray, path: str | Path, count: int = 200) -> Path:
    """Ship the first `count` test digits so tests and demos need no MNIST download."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x_test[:count], dtype=np.uint8)
    y = np.asarray(y_test[:count], dtype=np.uint8)
    np.savez_compressed(path, x=x, y=y)
    return path


# --- the model -------------------------------------------------------------


def default_architecture(seed: int = 0) -> "keras.Sequential":
    """A CNN small enough to recalculate fast as formulas (~13.7k cells), >99.3% on MNIST.

    Only layers the workbook supports: valid-padding ReLU convolutions, 2x2 max
    pooling, flatten, dropout (identity at inference) and Dense. Measured with
    this recipe: 8/16 filters alone reach ~98.8%; a hidden Dense(64), only 64
    cells, gives ~99.0-99.25% depending on the seed; 32 second-layer filters
    (+2.7k cells) give 99.3-99.4% on every seed tried.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(32, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.25, name="dropout1"),
            layers.Dense(64, activation="relu", name="hidden"),
            layers.Dropout(0.25, name="dropout2"),
            layers.Dense(10, activation="softmax", name="chances"),
        ],
        name="mnist_cnn",
    )


# --- training --------------------------------------------------------------


def _augmenter(seed: int) -> "keras.Sequential":
    """Small shifts and turns: handwriting is never centred exactly like MNIST's test set."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed + 1),
        ]
    )


def _train_dataset(x: np.ndarray, y: np.ndarray, seed: int) -> "tf.data.Dataset":
    """Shuffled, augmented batches; augmentation lives here, never in the saved model."""
    import tensorflow as tf

    augment = _augmenter(seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(BATCH_SIZE)
    ds = ds.map(lambda images, labels: (augment(images, training=True), labels))
    return ds.prefetch(tf.data.AUTOTUNE)


def _compile(model: "keras.Model", total_steps: int) -> None:
    """Adam with a cosine-decaying rate: big steps early, fine-tuning at the end."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(PEAK_LEARNING_RATE, max(total_steps, 1))
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _make_deterministic(seed: int) -> None:
    """Same seed, same weights: needed so the shipped model can be reproduced."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _inference_copy(model: "keras.Model", seed: int) -> "keras.Model":
    """Weights without optimizer state: a third of the file, and all the workbook needs."""
    clean = default_architecture(seed)
    clean.set_weights(model.get_weights())
    return clean


def train(
    output_path: str | Path,
    data_dir: str | Path | None = None,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the default CNN, save it (.keras or .h5) and measure it on the full test set."""
    from .convert import formula_cells

    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
    _make_deterministic(seed)
    model = default_architecture(seed)
    steps = -(-len(x_train) // BATCH_SIZE) * epochs
    _compile(model, steps)
    started = time.perf_counter()
    model.fit(_train_dataset(to_model_input(x_train), y_train, seed), epochs=epochs, verbose=1 if progress else 0)
    seconds = time.perf_counter() - started
    loss, accuracy = model.evaluate(to_model_input(x_test), y_test, batch_size=1000, verbose=0)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    _inference_copy(model, seed).save(output_path)
    if progress:
        print(f"test accuracy on {len(x_test)} images: {accuracy:.4f}  (saved {output_path})")
    return {
        "output_path": str(output_path),
        "test_accuracy": float(accuracy),
        "test_loss": float(loss),
        "test_images": int(len(x_test)),
        "epochs": epochs,
        "seed": seed,
        "train_seconds": seconds,
        "parameters": int(model.count_params()),
        "formula_cells": formula_cells(output_path),    # planned from the saved file, as build counts them
    }
