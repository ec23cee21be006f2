"""How long `excelnet verify` takes on the default workbook in LibreOffice, as a whole process.

    .venv/bin/python benchmarks/verify_time.py [--runs 3] [--samples 20]

Each run is a fresh `python -m excelnet verify <workbook> -n 20` on a workbook built fresh into
a temp folder: interpreter start, a LibreOffice start, the trace of every formula cell of every
layer on each input, and every weight. Then one in-process run split into where the time goes:
the expected values (planning and evaluating the workbook from the model, Tracer) and the rest
(LibreOffice: load, 20 recalculations, reading the layer sheets back). Issue 10: "within a few seconds"."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import EXCELNET, ROOT, header, mb, median, print_table, run_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    header(f"excelnet verify on the default workbook, {args.samples} inputs, LibreOffice (whole process)")
    with tempfile.TemporaryDirectory() as folder:
        workbook = Path(folder) / "mnist_cnn.xlsx"
        built = run_process(EXCELNET + ["build", "-o", str(workbook)], cwd=ROOT)
        if built.returncode:
            sys.exit(built.stderr)
        command = EXCELNET + ["verify", str(workbook), "-n", str(args.samples), "--engine", "libreoffice"]
        rows, times = [], []
        for k in range(args.runs):
            run = run_process(command, cwd=ROOT)
            if run.returncode:
                sys.exit(run.stdout + run.stderr)
            times.append(run.seconds)
            rows.append([k + 1, f"{run.seconds:.2f}", mb(run.peak_bytes)])
        traced = next((line for line in run.stdout.splitlines() if line.startswith("Cells traced")), "")
        print_table(f"{args.runs} runs of `excelnet verify mnist_cnn.xlsx -n {args.samples}`",
                    ["run", "wall s", "peak MB"], rows, ["median", f"{median(times):.2f}", ""])
        print(f"{traced}\nfastest run {min(times):.2f} s\n")

        import numpy as np

        from excelnet.convert import load_network
        from excelnet.trace import Tracer
        from excelnet.verify import verify

        started = time.perf_counter()
        tracer = Tracer(load_network(None), has_samples=True)
        planned = time.perf_counter() - started
        started = time.perf_counter()
        for k in range(args.samples):
            tracer.expected(np.full(tracer.network.input_shape, k / args.samples))
        expected = time.perf_counter() - started
        started = time.perf_counter()
        verify(workbook, samples=args.samples, engine="libreoffice", progress=False)
        whole = time.perf_counter() - started
        print_table("One run, in process (s)", ["part", "s"],
                    [["plan and read every formula of the workbook (Tracer)", f"{planned:.2f}"],
                     [f"expected values of every layer cell, {args.samples} inputs", f"{expected:.2f}"],
                     ["verify() as a whole (includes both, and LibreOffice)", f"{whole:.2f}"]])


if __name__ == "__main__":
    main()
