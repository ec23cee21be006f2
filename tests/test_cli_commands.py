"""`excelnet train`, and the command line as a whole (help, TensorFlow only where needed)."""

from __future__ import annotations

import gzip
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

IDX = {"train-images-idx3-ubyte": "x_train", "train-labels-idx1-ubyte": "y_train",
       "t10k-images-idx3-ubyte": "x_test", "t10k-labels-idx1-ubyte": "y_test"}


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(np.uint8).tobytes()


def write_tiny_mnist(folder: Path, n_train: int = 256, n_test: int = 64, gz: bool = True) -> Path:
    """A synthetic MNIST in the standard IDX files: each class is a bright bar at its own place."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 2 + 2 * label:4 + 2 * label, 4:24] = 250
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    folder.mkdir(parents=True, exist_ok=True)
    for stem, key in IDX.items():
        raw = _idx(arrays[key])
        (folder / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)
    return folder


def test_help_lists_every_command():
    from excelnet.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("build", "train", "summary", "verify"):
        assert command in result.output


def test_train_one_epoch_on_a_local_idx_folder(tmp_path):
    pytest.importorskip("keras")
    from excelnet.cli import main
    from excelnet.convert import load_network

    data = write_tiny_mnist(tmp_path / "mnist")
    out = tmp_path / "models" / "tiny.keras"
    result = CliRunner().invoke(main, ["train", "-o", str(out), "--data", str(data), "--epochs", "1",
                                       "--seed", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Test accuracy:" in result.output and "on 64 test images" in result.output
    assert "(1 epochs, seed 3" in result.output
    network = load_network(out)       # the saved model converts (read without TensorFlow)
    assert network.input_shape == (28, 28, 1) and network.output_shape == (10,)
    # train, build and summary report one and the same number of formula cells
    promised = re.search(r"([\d,]+) formula cells", result.output)[1]
    built = CliRunner().invoke(main, ["build", "-m", str(out), "-o", str(tmp_path / "tiny.xlsx")])
    assert f"{promised} formula cells" in built.output, (result.output, built.output)
    summary = CliRunner().invoke(main, ["summary", "-m", str(out)])
    assert re.search(rf"^total\s.*\s{promised}\s", summary.output, re.M), (promised, summary.output)


def test_train_reads_an_mnist_npz(tmp_path):
    pytest.importorskip("keras")
    from excelnet import training
    from excelnet.cli import main

    folder = write_tiny_mnist(tmp_path / "idx", n_train=128, n_test=32, gz=False)
    (train, test) = training.load_mnist(folder)
    np.savez(tmp_path / "mnist.npz", x_train=train[0], y_train=train[1], x_test=test[0], y_test=test[1])
    out = tmp_path / "npz.h5"
    result = CliRunner().invoke(main, ["train", "-o", str(out), "--data", str(tmp_path / "mnist.npz"),
                                       "--epochs", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "on 32 test images" in result.output and out.stat().st_size > 1000


def test_train_checks_its_arguments_before_training(tmp_path):
    from excelnet.cli import main

    data = write_tiny_mnist(tmp_path / "mnist")
    runner = CliRunner()
    bad_suffix = runner.invoke(main, ["train", "-o", str(tmp_path / "model.txt"), "--data", str(data)])
    assert bad_suffix.exit_code == 2 and ".keras or .h5" in bad_suffix.output
    assert runner.invoke(main, ["train", "-o", str(tmp_path / "m.keras"), "--data", str(data),
                                "--epochs", "0"]).exit_code == 2
    missing = runner.invoke(main, ["train", "-o", str(tmp_path / "m.keras"), "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    (data / "t10k-labels-idx1-ubyte.gz").unlink()
    broken = runner.invoke(main, ["train", "-o", str(tmp_path / "m.keras"), "--data", str(data), "-q"])
    assert broken.exit_code == 1
    assert "t10k-labels-idx1-ubyte" in broken.output and "Traceback" not in broken.output
    assert not (tmp_path / "m.keras").exists()


BLOCK_TF = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None
from excelnet.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras") and sys.modules[m] is not None]
    assert not loaded, loaded
    raise
"""


def _without_tensorflow(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TF, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_help_and_train_help_never_import_tensorflow():
    for args in (["--help"], ["train", "--help"], ["verify", "--help"], ["summary", "--help"]):
        run = _without_tensorflow(*args)
        assert run.returncode == 0, run.stderr


def test_train_without_tensorflow_says_what_to_install(tmp_path):
    data = write_tiny_mnist(tmp_path / "mnist", n_train=16, n_test=8)
    run = _without_tensorflow("train", "-o", tmp_path / "m.keras", "--data", data)
    assert run.returncode == 1
    assert "training needs TensorFlow" in run.stderr and "excelnet[train]" in run.stderr
