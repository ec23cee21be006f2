"""Runs `excelnet build` on every fuzzed model file listed in a manifest, in one process
that never imports TensorFlow, and records for each: the exit status, the message, any
exception that escaped, the peak memory and, for a workbook that was written, whether its
numbers are finite and whether it computes what the NumPy reference computes.

Usage: python fuzz_worker.py manifest.json results.json"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np

SECONDS_PER_VARIANT = 30
FORMULAS_CHECKS = 60          # distinct networks evaluated with the formulas library, at most


def reset_peak() -> bool:
    """Start a new peak-memory measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return -1


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {SECONDS_PER_VARIANT} s")


def _value_key(value) -> bytes:
    if isinstance(value, np.ndarray):
        return value.dtype.str.encode() + repr(value.shape).encode() + value.tobytes()
    if hasattr(value, "formula"):                  # an Activation: what it computes, not its lambdas
        return f"{value.name}:{value.formula('x')}".encode()
    if isinstance(value, tuple):
        return b"(" + b",".join(_value_key(v) for v in value) + b")"
    return repr(value).encode()


def fingerprint(network) -> str:
    """Networks that compute the same numbers get the same fingerprint (names aside: they
    change texts in the workbook, never a number), so each is checked with formulas once."""
    digest = hashlib.sha256(repr(network.input_shape).encode())
    for op in network.ops:
        digest.update(type(op).__name__.encode())
        for key, value in vars(op).items():
            if key != "name":
                digest.update(key.encode() + _value_key(value))
    return digest.hexdigest()


def workbook_numbers_are_finite(path: Path) -> bool:
    """Every number and every cached formula value is finite; no cell holds an error."""
    from openpyxl import load_workbook

    for data_only in (False, True):
        book = load_workbook(path, read_only=True, data_only=data_only)
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                for value in row:
                    if isinstance(value, float) and not math.isfinite(value):
                        return False
                    if isinstance(value, str) and value.startswith("#"):    # an error value
                        return False
        book.close()
    return True


def check_built(model: Path, output: Path, checked: dict, rng) -> dict:
    from excelnet.convert import load_network
    from excelnet.engines.formulas_engine import FormulasWorkbook

    network = load_network(model)
    record = {"finite": workbook_numbers_are_finite(output), "fingerprint": fingerprint(network)}
    if record["fingerprint"] in checked:
        record["same_as_checked"] = True
        return record
    if len(checked) >= FORMULAS_CHECKS:
        record["unchecked"] = True
        return record
    x = rng.uniform(0, 1, network.input_shape)
    expected = network.predict(x)
    got = np.asarray(FormulasWorkbook(output).probabilities(x), dtype=np.float64).reshape(expected.shape)
    record["reference_finite"] = bool(np.all(np.isfinite(expected)))
    record["equal"] = bool(np.allclose(got, expected, rtol=1e-5, atol=1e-6) and np.argmax(got) == np.argmax(expected))
    checked[record["fingerprint"]] = record["equal"]
    return record


def run_one(runner, main, variant: dict, checked: dict, rng) -> dict:
    model, output = Path(variant["model"]), Path(variant["output"])
    resettable = reset_peak()
    started = time.perf_counter()
    signal.alarm(SECONDS_PER_VARIANT)
    try:
        result = runner.invoke(main, ["build", "-m", str(model), "-o", str(output)])
        record = {"exit_code": result.exit_code, "message": result.output}
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            record["escaped"] = "".join(traceback.format_exception(result.exception))
        if result.exit_code == 0:
            record.update(check_built(model, output, checked, rng))
    except Hang as error:
        record = {"exit_code": None, "message": "", "escaped": str(error)}
    finally:
        signal.alarm(0)
    record["seconds"] = time.perf_counter() - started
    record["peak"] = peak_bytes() if resettable else None
    return record


def main_loop(manifest: Path, results: Path) -> None:
    from click.testing import CliRunner

    from excelnet.cli import main

    signal.signal(signal.SIGALRM, _alarm)
    variants = json.loads(manifest.read_text())
    runner, checked, rng = CliRunner(), {}, np.random.default_rng(0)
    records = [dict(variant, **run_one(runner, main, variant, checked, rng)) for variant in variants]
    loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras") and sys.modules[m] is not None]
    results.write_text(json.dumps({"records": records, "process_peak": peak_bytes(), "tensorflow": loaded}))


if __name__ == "__main__":
    for name in ("tensorflow", "keras", "tf_keras"):
        sys.modules[name] = None          # build never needs them
    main_loop(Path(sys.argv[1]), Path(sys.argv[2]))
