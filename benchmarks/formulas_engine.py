"""The default workbook in the `formulas` library (pure Python): load and evaluation time.

    .venv/bin/python benchmarks/formulas_engine.py [--workbook W] [--inputs 3]

As excelnet.engines.formulas_engine.FormulasWorkbook does it: load the workbook once
(parse the .xlsx and build the dependency graph), then one calculate() per input from the
Canvas cells to Probabilities. Far slower than LibreOffice, which is why the tests use
`formulas` on tiny models and LibreOffice for the real workbook."""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np

from common import header, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workbook", type=Path, help="default: build the default workbook into a temp folder")
    parser.add_argument("--inputs", type=int, default=3, help="inputs to evaluate")
    args = parser.parse_args()
    from excelnet.convert import build, load_network
    from excelnet.engines.formulas_engine import FormulasWorkbook

    header("formulas (Python library): load and evaluation of the default workbook")
    network = load_network(None)
    x = np.random.default_rng(0).uniform(0, 1, (args.inputs,) + tuple(network.input_shape))
    with tempfile.TemporaryDirectory() as folder:
        path = args.workbook or build(output=Path(folder) / "mnist_cnn.xlsx").path
        quiet = contextlib.redirect_stderr(io.StringIO())     # formulas draws its own tqdm bars
        with quiet:
            started = time.perf_counter()
            book = FormulasWorkbook(path)
            loaded = time.perf_counter() - started
            times, worst = [], 0.0
            for v in x:
                started = time.perf_counter()
                got = book.probabilities(v)
                times.append(time.perf_counter() - started)
                worst = max(worst, float(np.abs(got - network.predict(v)).max()))
    rows = [["load (import, parse the .xlsx, dependency graph)", f"{loaded:.1f}"],
            [f"evaluate one input (median of {len(times)})", f"{float(np.median(times)):.1f}"],
            [f"evaluate one input (fastest of {len(times)})", f"{min(times):.1f}"]]
    print_table(f"{path.name}", ["step", "seconds"], rows)
    print(f"largest |workbook - NumPy reference| over {len(x)} random inputs: {worst:.1e}")


if __name__ == "__main__":
    main()
