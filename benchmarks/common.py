"""Shared by the benchmark scripts: the machine, whole-process timing, tables.

Every script prints plain-text tables; benchmarks/RESULTS.md keeps the latest run."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from excelnet.summary import table  # noqa: E402

DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist"
EXCELNET = [sys.executable, "-m", "excelnet"]


def machine() -> str:
    """Date, CPU, cores, memory, OS, Python, LibreOffice and the git commit, one line each."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    office = "not installed"
    try:
        office = subprocess.run(["soffice", "--version"], capture_output=True, text=True,
                                timeout=60).stdout.strip() or office
    except (OSError, subprocess.TimeoutExpired):
        pass
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return "\n".join([
        f"date:        {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine:     {cpu}, {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {memory} RAM",
        f"system:      {platform.platform()}, Python {platform.python_version()}",
        f"LibreOffice: {office}",
        f"excelnet:    commit {commit}{' + uncommitted changes' if dirty else ''}",
        f"load now:    {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min averages)",
    ])


def header(title: str) -> None:
    print(f"== {title} ==")
    print(machine())
    print()


@dataclass
class ProcessRun:
    seconds: float           # wall clock, start to exit
    peak_bytes: int          # the child's own peak resident memory
    returncode: int
    stdout: str
    stderr: str


# A tiny Python in between: a child forked straight from a big parent (one that imported
# TensorFlow) reports the parent's memory as its own peak, so the launcher forks instead.
LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump([time.perf_counter() - started, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)], out)
"""


def run_process(args: list[str], cwd: str | Path | None = None, env: dict | None = None) -> ProcessRun:
    """Run one command: its wall time and its own peak resident memory (via a small launcher)."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "usage.json"
        done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(result), *map(str, args)],
                              capture_output=True, text=True, cwd=cwd, env=env)
        seconds, peak, code = json.loads(result.read_text()) if result.exists() else (0.0, 0, done.returncode)
    return ProcessRun(seconds, peak, code, done.stdout, done.stderr)


def median(values) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mb(size: float) -> str:
    return f"{size / 1e6:.1f}"


def print_table(title: str, headers: list[str], rows: list[list], footer: list | None = None) -> None:
    if title:
        print(title)
    print(table(headers, rows, footer, right=set(range(1, len(headers)))))
    print()
