"""Runs `excelnet build` on every fuzzed model file listed in a manifest, in one process
that never imports TensorFlow, and records for each: the exit status, the message, any
exception that escaped, the peak memory and, for a workbook that was written, whether its
numbers are finite and whether it computes what the NumPy reference computes.

A variant may give its own command line ("arguments": summary, verify) or ask for no
formulas evaluation of its workbook ("formulas": false), and with
FUZZ_WATCH_MARKER set every file opened whose path holds that marker is recorded (the
leak tests plant such files around the model).

Usage: python fuzz_worker.py manifest.json results.json"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np

SECONDS_PER_VARIANT = 30
FORMULAS_CHECKS = int(os.environ.get("FUZZ_FORMULAS_CHECKS", 60))   # distinct networks evaluated with formulas, at most


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


def check_built(model: Path, output: Path, checked: dict, rng, formulas: bool = True) -> dict:
    from excelnet.convert import load_network
    from excelnet.engines.formulas_engine import FormulasWorkbook

    network = load_network(model)
    record = {"finite": workbook_numbers_are_finite(output), "fingerprint": fingerprint(network)}
    if model.suffix == ".onnx":        # every ONNX build: excelnet's reference is onnxruntime's answer
        record["runtime_equal"] = runtime_equal(model, network, rng.uniform(0, 1, network.input_shape))
    if not formulas:                   # the variant asks for no formulas evaluation (a slow one)
        return record
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


def runtime_equal(model: Path, network, x: np.ndarray) -> bool | str:
    """Whether excelnet's NumPy reference gives onnxruntime's answer (exp of it after a LogSoftmax);
    onnxruntime's complaint when it refuses a model that excelnet built."""
    import onnx
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        outputs = session.get_outputs()
        index = next(k for k, o in enumerate(outputs) if o.type in ("tensor(float)", "tensor(double)"))
        onnx_x = x.transpose(2, 0, 1) if x.ndim == 3 else x
        feed = onnx_x[None].astype(np.float64 if "double" in session.get_inputs()[0].type else np.float32)
        want = np.asarray(session.run(None, {session.get_inputs()[0].name: feed})[index], np.float64).reshape(-1)
    except Exception as error:  # noqa: BLE001 (recorded, and the test fails on it)
        return f"onnxruntime refuses it: {type(error).__name__}: {str(error)[:300]}"
    if any(n.op_type == "LogSoftmax" for n in onnx.load(str(model), load_external_data=False).graph.node):
        want = np.exp(want)
    got = network.predict(x).reshape(-1)
    return bool(got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6))


class FileWatch:
    """Records every file the process opens whose path contains a marker (an audit hook: it
    sees Python's open() and os.open(), which is how excelnet reads files)."""

    def __init__(self, marker: str | None):
        self.marker, self.opened = marker, []
        if marker:
            sys.addaudithook(self._hook)

    def _hook(self, event: str, args) -> None:
        if event == "open" and args and self.marker in str(args[0]):
            self.opened.append(str(args[0]))

    def take(self) -> list[str]:
        opened, self.opened = self.opened, []
        return opened


def run_one(runner, main, variant: dict, checked: dict, rng, watch: FileWatch | None = None) -> dict:
    model, output = Path(variant["model"]), Path(variant["output"])
    arguments = variant.get("arguments") or ["build", "-m", str(model), "-o", str(output)]
    resettable = reset_peak()
    started = time.perf_counter()
    signal.alarm(SECONDS_PER_VARIANT)
    try:
        result = runner.invoke(main, arguments)
        record = {"exit_code": result.exit_code, "message": result.output}
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            record["escaped"] = "".join(traceback.format_exception(result.exception))
        if result.exit_code == 0 and arguments[0] == "build":
            try:
                record.update(check_built(model, output, checked, rng, variant.get("formulas", True)))
            except Exception:  # noqa: BLE001 (a workbook the checks cannot read: recorded, the test fails)
                record["escaped"] = "checking the built workbook failed:\n" + traceback.format_exc()
    except Hang as error:
        record = {"exit_code": None, "message": "", "escaped": str(error)}
    finally:
        signal.alarm(0)
    record["seconds"] = time.perf_counter() - started
    record["peak"] = peak_bytes() if resettable else None
    if watch is not None:
        record["opened"] = watch.take()
    return record


def main_loop(manifest: Path, results: Path) -> None:
    from click.testing import CliRunner

    from excelnet.cli import main

    signal.signal(signal.SIGALRM, _alarm)
    variants = json.loads(manifest.read_text())
    runner, checked, rng = CliRunner(), {}, np.random.default_rng(0)
    watch = FileWatch(os.environ.get("FUZZ_WATCH_MARKER"))
    records = [dict(variant, **run_one(runner, main, variant, checked, rng, watch)) for variant in variants]
    loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras") and sys.modules[m] is not None]
    results.write_text(json.dumps({"records": records, "process_peak": peak_bytes(), "tensorflow": loaded}))


if __name__ == "__main__":
    for name in ("tensorflow", "keras", "tf_keras"):
        sys.modules[name] = None          # build never needs them
    main_loop(Path(sys.argv[1]), Path(sys.argv[2]))
