"""Making hostile model files from good ones: edit a .keras archive's config or weights,
or an .h5 file's datasets, in memory, exactly as a hand-edited file from a stranger would be."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, contents: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path


def edit_h5_bytes(data: bytes, edit: Callable) -> bytes:
    """Apply `edit(h5 file)` to an HDF5 file held in memory; return the new bytes."""
    import h5py

    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as h5:
        edit(h5)
    return buffer.getvalue()


def edit_keras(source: Path, target: Path, config: Callable | None = None,
               weights: Callable | None = None) -> Path:
    """A copy of a .keras file with its config (a function of the parsed JSON, returning it)
    and/or its weights file (a function of the open HDF5 file) edited."""
    contents = members(source)
    if config is not None:
        contents["config.json"] = json.dumps(config(json.loads(contents["config.json"]))).encode()
    if weights is not None:
        contents["model.weights.h5"] = edit_h5_bytes(contents["model.weights.h5"], weights)
    return write_zip(target, contents)


def replace_dataset(h5, path: str, **create) -> None:
    """Put a new dataset where `path` was (create: data=..., dtype=..., external=...)."""
    parent, name = path.rsplit("/", 1)
    del h5[path]
    h5[parent].create_dataset(name, **create)


def layer_configs(config: dict) -> list[dict]:
    return config["config"]["layers"]


def find_layer(config: dict, name: str) -> dict:
    return next(layer for layer in layer_configs(config) if layer.get("config", {}).get("name") == name)


MEASURED_CLI = """
import sys
from excelnet.cli import main
try:
    main(sys.argv[1:])
finally:   # VmHWM: this process's peak resident memory (ru_maxrss would include pytest's, from the fork)
    peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    print("PEAK", int(peak.split()[1]) * 1024)
"""


def run_measured(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, int]:
    """`excelnet ARGS` in a fresh process: the finished process and its peak memory in bytes."""
    import pytest

    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc/self/status, which this system does not have")
    run = subprocess.run([sys.executable, "-c", MEASURED_CLI, *args], capture_output=True, text=True,
                         timeout=timeout)
    peak = int(run.stdout.rsplit("PEAK", 1)[1]) if "PEAK" in run.stdout else -1
    return run, peak
