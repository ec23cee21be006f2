"""IronCalc and Gnumeric on the shipped workbooks: how long a load, a full evaluation and one
pixel edit take (what tests/test_engines_*.py spend), and whether the values agree.

    python benchmarks/engines.py [--repeat 3]

Turns alternate between the workbooks; the host is noisy, so medians and the spread are printed."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from excelnet.engines import gnumeric  # noqa: E402
from excelnet.engines.ironcalc import IronCalcWorkbook  # noqa: E402


def ironcalc_times(path: Path) -> dict[str, float]:
    start = time.perf_counter()
    workbook = IronCalcWorkbook(path)
    loaded = time.perf_counter()
    workbook.evaluate()
    evaluated = time.perf_counter()
    canvas = workbook.public.canvases[0]
    workbook.set_value(canvas.sheet, canvas.top + 14, canvas.left + 14, 1.0)
    workbook.probabilities()
    edited = time.perf_counter()
    errors = len(workbook.errors())
    workbook.set_value(canvas.sheet, canvas.top + 14, canvas.left + 14, None)
    workbook.evaluate()
    different = len(workbook.differences(rtol=1e-9))
    return {"load ms": (loaded - start) * 1e3, "evaluate ms": (evaluated - loaded) * 1e3,
            "pixel edit + evaluate ms": (edited - evaluated) * 1e3, "error cells": errors,
            "cells != stored": different}


def gnumeric_times(path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = gnumeric.recalculate(path, folder)
        return {"ssconvert --recalc ms": (time.perf_counter() - start) * 1e3,
                "complaints": len(result.complaints)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workbooks = sorted((ROOT / "workbooks").glob("*.xlsx"))
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeat):
        for path in workbooks:                      # in turns
            runs.setdefault((path.name, "IronCalc"), []).append(ironcalc_times(path))
            if gnumeric.unavailable_reason() is None:
                runs.setdefault((path.name, "Gnumeric"), []).append(gnumeric_times(path))
    print(f"median (min-max) of {args.repeat} runs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for (name, engine), results in runs.items():
        for key in results[0]:
            values = [r[key] for r in results]
            print(f"{name:22s} {engine:9s} {key:26s} {statistics.median(values):9.1f}"
                  f"  ({min(values):.1f}-{max(values):.1f})")


if __name__ == "__main__":
    main()
