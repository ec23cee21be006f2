"""The four networks people bring first, built, opened and verified as a new user would.

    .venv/bin/python benchmarks/real_models.py [--models DIR] [--repeat 10]

--models is a folder written by examples/tutorial_models.py (the keras.io MNIST convnet, the
TensorFlow CIFAR-10 CNN, LeNet-5, and pytorch/examples' MNIST Net from both PyTorch exporters).
Without it the Keras ones are made into a temp folder with this Python; the PyTorch exports need
torch, which excelnet does not: make them once with another environment, e.g.
`/path/to/torchenv/bin/python examples/tutorial_models.py --out DIR`, and pass --models DIR.

Per model: `excelnet build` as a whole process (wall time, peak resident memory), file size,
cells (formulas and plain numbers), the longest formula, and in a headless LibreOffice the full
recalculation and one Canvas pixel → Probabilities, both timed inside soffice as
benchmarks/libreoffice.py does, then `excelnet verify -n 3` as a whole process.
Targets (issue 18): Net build ≤ 6 s and ≤ 600 MB, verify ≤ 30 s, one pixel ≤ 60 ms;
keras.io convnet one pixel ≤ 20 ms; longest formula < 2,000 characters."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import EXCELNET, ROOT, header, mb, median, ms, print_table, run_process

MODELS = ["keras_mnist_convnet.keras", "tf_cifar10_cnn.keras", "lenet5.keras",
          "pytorch_mnist_net.onnx", "pytorch_mnist_net_dynamo.onnx"]
FORMULA = re.compile(rb"<f>(.*?)</f>", re.S)
CELL = re.compile(rb"<c ")


def workbook_cells(path: Path) -> tuple[int, int, int]:
    """(formula cells, all cells, longest formula in characters with its '='), from the XML."""
    formulas = cells = longest = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = archive.read(name)
                cells += len(CELL.findall(xml))
                lengths = [len(f) for f in FORMULA.findall(xml)]     # escaped text: an upper bound
                formulas += len(lengths)
                longest = max([longest] + lengths)
    return formulas, cells, longest + 1


def in_libreoffice(workbook: Path, repeat: int) -> tuple[list[float], list[float], int]:
    """(full recalculations, one-pixel edits → Probabilities) in seconds, inside soffice, and the
    number of error cells."""
    from excelnet.engines.libreoffice import LibreOffice

    office = LibreOffice()
    try:
        office.open(workbook)
        recalcs = office.in_office("time_recalcs", repeat)
        canvas = "Canvas" if not _multichannel(workbook) else "Canvas_1"
        values = [float((k % 2) * 0.8 + 0.1) for k in range(repeat)]
        edits = office.in_office("time_edits", canvas, 14, 14, values, "Probabilities")
        errors = sum(office.errors().values())
    finally:
        office.close()
    return list(recalcs), list(edits), errors


def _multichannel(workbook: Path) -> bool:
    with zipfile.ZipFile(workbook) as archive:
        return b'name="Canvas_1"' in archive.read("xl/workbook.xml")


def make_keras_models(folder: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "examples" / "tutorial_models.py"), "--out", str(folder)],
                   check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="folder written by examples/tutorial_models.py")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-office", action="store_true", help="build only: no LibreOffice, no verify")
    args = parser.parse_args()
    header("The tutorial networks: build, LibreOffice, verify")
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.models or Path(temporary)
        if args.models is None:
            make_keras_models(folder)
        rows, office_rows = [], []
        for name in MODELS:
            model = folder / name
            if not model.exists():
                rows.append([name, "not made", "", "", "", "", "", ""])
                continue
            workbook = Path(temporary) / (model.stem + ".xlsx")
            built = run_process(EXCELNET + ["build", "-m", str(model), "-o", str(workbook)], cwd=ROOT)
            if built.returncode:
                reason = (built.stderr.strip().splitlines() or ["?"])[-1][:150]
                rows.append([name, "refused", f"{built.seconds:.2f}", mb(built.peak_bytes), "", "", "", reason])
                continue
            formulas, cells, longest = workbook_cells(workbook)
            rows.append([name, "built", f"{built.seconds:.2f}", mb(built.peak_bytes), mb(workbook.stat().st_size),
                         f"{cells:,}", f"{formulas:,}", f"{longest:,}"])
            if args.no_office:
                continue
            recalcs, edits, errors = in_libreoffice(workbook, args.repeat)
            checked = run_process(EXCELNET + ["verify", str(workbook), "-m", str(model), "-n", "3"], cwd=ROOT)
            verdict = "OK" if checked.returncode == 0 else "FAILED"
            office_rows.append([name, ms(median(recalcs)), ms(min(recalcs)), ms(median(edits)), ms(min(edits)),
                                errors, f"{checked.seconds:.1f}", verdict])
    print_table("excelnet build, whole process", ["model", "result", "wall s", "peak MB", "file MB", "cells",
                                                  "formula cells", "longest formula"], rows)
    if office_rows:
        print_table(f"LibreOffice, timed inside soffice ({args.repeat} each, ms), and excelnet verify -n 3",
                    ["model", "recalc median", "recalc min", "pixel median", "pixel min", "error cells",
                     "verify s", "verify"], office_rows)


if __name__ == "__main__":
    main()
