"""The default workbook in the `formulas` library (pure Python): load and evaluation time.

    .venv/bin/python benchmarks/formulas_engine.py [--workbook W] [--inputs 3]

Steps as excelnet.engines.formulas_engine.FormulasWorkbook does them: parse the .xlsx
(ExcelModel().loads), build the dependency graph (finish), compile a function from the
Canvas cells to Probabilities (compile), then call it per input. Slow - minutes - which
is why the tests use `formulas` on tiny models only and LibreOffice for the real workbook."""

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
    parser.add_argument("--inputs", type=int, default=3, help="inputs to evaluate after compiling")
    args = parser.parse_args()
    from excelnet.convert import build, load_network
    from excelnet.engines.formulas_engine import FormulasWorkbook

    header("formulas (Python library): load and evaluation of the default workbook")
    with tempfile.TemporaryDirectory() as folder:
        result = None if args.workbook else build(output=Path(folder) / "mnist_cnn.xlsx")
        path = args.workbook or result.path
        quiet = contextlib.redirect_stderr(io.StringIO())     # formulas draws its own tqdm bars
        started = time.perf_counter()
        import formulas
        imported = time.perf_counter() - started
        with quiet:
            started = time.perf_counter()
            model = formulas.ExcelModel().loads(str(path))
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            model.finish()
            finished = time.perf_counter() - started
            started = time.perf_counter()
            book = FormulasWorkbook.__new__(FormulasWorkbook)   # reuse the loaded model: only compile here
            book.path = Path(path)
            from excelnet.engines.names import read_public_cells
            book.public = read_public_cells(path)
            book._inputs = [book._key(r.sheet, a, b) for r in book.public.canvases for a, b in r.cells()]
            outputs = [book._key(book.public.probabilities.sheet, a, b) for a, b in book.public.probabilities.cells()]
            book._function = model.compile(inputs=book._inputs, outputs=outputs)
            compiled = time.perf_counter() - started
        network = load_network(None)
        x = np.random.default_rng(0).uniform(0, 1, (args.inputs,) + tuple(network.input_shape))
        times, worst = [], 0.0
        for v in x:
            started = time.perf_counter()
            got = book.probabilities(v)
            times.append(time.perf_counter() - started)
            worst = max(worst, float(np.abs(got - network.predict(v)).max()))
    rows = [["import formulas", f"{imported:.1f}"], ["load (parse the .xlsx)", f"{loaded:.1f}"],
            ["finish (dependency graph)", f"{finished:.1f}"], ["compile Canvas -> Probabilities", f"{compiled:.1f}"],
            [f"evaluate one input (median of {len(times)})", f"{float(np.median(times)):.2f}"]]
    print_table(f"{path.name}", ["step", "seconds"], rows,
                ["load + finish + compile", f"{loaded + finished + compiled:.1f}"])
    print(f"largest |workbook - NumPy reference| over {len(x)} random inputs: {worst:.1e}")


if __name__ == "__main__":
    main()
