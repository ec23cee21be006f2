"""How long `excelnet build` takes for the default workbook, as a whole process, and where the time goes.

    .venv/bin/python benchmarks/build_time.py [--runs 5] [--profile]

Each run is a fresh `python -m excelnet build -o <tmp>/mnist_cnn.xlsx` (interpreter start,
imports, reading the model, planning, writing): wall time and the process' peak memory.
Then one in-process run split into phases, and with --profile the top functions by cProfile."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from common import EXCELNET, header, mb, median, ms, print_table, run_process

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
from excelnet.assets import DEFAULT_SAMPLES
from excelnet.convert import collector_paused, input_divisor, load_network
from excelnet.workbook.build import plan_workbook
from excelnet.workbook.inputs import load_samples
from excelnet.writer import write_workbook
t1 = time.perf_counter()
network = load_network(None)
t2 = time.perf_counter()
samples = load_samples(DEFAULT_SAMPLES, network.input_shape, input_divisor(network))
from excelnet.convert import cached_values
t3 = time.perf_counter()
with collector_paused():    # as convert.build does, but one after the other (build overlaps the two)
    plan = plan_workbook(network, samples)
    t4 = time.perf_counter()
    values = cached_values(plan.sheets)
    t45 = time.perf_counter()
    write_workbook(plan.sheets, sys.argv[1], values=lambda: values)
    t5 = time.perf_counter()
print(json.dumps({"import excelnet (numpy, openpyxl, ...)": t1 - t0, "read and check the model": t2 - t1,
                  "read the sample digits": t3 - t2, "plan the sheets (all formulas as text)": t4 - t3,
                  "evaluate every formula (cached values)": t45 - t4, "write the .xlsx": t5 - t45}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print the top 25 functions by cProfile")
    args = parser.parse_args()
    header("Build time of the default workbook (excelnet build, whole process)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "mnist_cnn.xlsx"
        run_process(EXCELNET + ["build", "-o", str(out)])   # warm the file cache
        rows, times, peaks = [], [], []
        for k in range(args.runs):
            run = run_process(EXCELNET + ["build", "-o", str(out)])
            if run.returncode:
                sys.exit(run.stderr)
            times.append(run.seconds)
            peaks.append(run.peak_bytes)
            rows.append([k + 1, f"{run.seconds:.2f}", mb(run.peak_bytes)])
        found = re.search(r"([\d,]+) formula cells", run.stdout)
        cells = found.group(1) if found else "?"
        size = out.stat().st_size
        print_table(f"{args.runs} runs of `excelnet build -o mnist_cnn.xlsx` (after one warm-up run)",
                    ["run", "wall s", "peak MB"], rows,
                    ["median", f"{median(times):.2f}", mb(median(peaks))])
        print(f"formula cells: {cells}; file size: {mb(size)} MB; fastest run {min(times):.2f} s\n")

        phases = run_process([sys.executable, "-c", PHASES, str(out)], cwd=Path(__file__).resolve().parent.parent)
        split = json.loads(phases.stdout)
        print_table("One run, in process, by phase, one after the other", ["phase", "ms"],
                    [[name, ms(seconds)] for name, seconds in split.items()],
                    ["total (without interpreter start)", ms(sum(split.values()))])
        print("(`excelnet build` evaluates in a forked child while it writes: background.py)")
        if args.profile:
            import cProfile
            import io
            import pstats

            from excelnet.convert import build

            profiler = cProfile.Profile()
            profiler.enable()
            build(output=Path(folder) / "profiled.xlsx")
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
            print("cProfile of convert.build() (top 25 by own time):")
            print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()
