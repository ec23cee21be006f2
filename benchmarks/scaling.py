"""How `excelnet build` scales: models from ~16,000 to ~1,000,000 formula cells.

    .venv/bin/python benchmarks/scaling.py [--sizes 24,48,96,134,189] [--libreoffice]

The model family: an H x H x 1 input, Conv2D(8, 3, same, relu), Conv2D(8, 3, same, relu),
MaxPooling2D(2), GlobalAveragePooling2D, Dense(10, softmax) - about 28 H^2 formula cells,
so H = 189 gives ~1,000,000. Each build is a fresh `python -m excelnet build` process:
wall time, its peak memory, the file size. A least-squares line through (cells, seconds)
shows whether time grows linearly. --libreoffice also loads each workbook in LibreOffice
and times a full recalculation (slow for the big ones)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import EXCELNET, header, mb, print_table, run_process


def make_model(size: int, path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([keras.Input((size, size, 1)),
                              layers.Conv2D(8, 3, padding="same", activation="relu"),
                              layers.Conv2D(8, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(2),
                              layers.GlobalAveragePooling2D(),
                              layers.Dense(10, activation="softmax")], name=f"scaling_{size}")
    model.save(path)
    return path


def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """y = a + b x by least squares; returns a, b, R^2."""
    b, a = np.polyfit(x, y, 1)
    predicted = a + b * x
    r2 = 1 - ((y - predicted) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-300)
    return float(a), float(b), float(r2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="24,48,96,134,189", help="input sizes H, comma separated")
    parser.add_argument("--libreoffice", action="store_true", help="also time load and full recalculation")
    args = parser.parse_args()
    from excelnet.progress import bar
    from excelnet.summary import summarize

    sizes = [int(s) for s in args.sizes.split(",")]
    header("Scaling of `excelnet build` with the number of formula cells")
    rows, cells, seconds, peaks, office_rows = [], [], [], [], []
    office = None
    if args.libreoffice:
        from excelnet.engines.libreoffice import LibreOffice

        office = LibreOffice()
    try:
        with tempfile.TemporaryDirectory() as folder, bar(sizes, label="building") as items:
            for size in items:
                model = make_model(size, Path(folder) / f"h{size}.keras")
                summary = summarize(model, max_cells=5_000_000)
                out = Path(folder) / f"h{size}.xlsx"
                run = run_process(EXCELNET + ["build", "-m", str(model), "-o", str(out), "--max-cells", "5000000"])
                if run.returncode:
                    sys.exit(run.stderr)
                n, file_size = summary.total.formulas, out.stat().st_size
                cells.append(n)
                seconds.append(run.seconds)
                peaks.append(run.peak_bytes)
                rows.append([f"{size}x{size}", f"{n:,}", f"{run.seconds:.2f}", mb(run.peak_bytes), mb(file_size),
                             mb(summary.estimated_bytes), f"{n / run.seconds:,.0f}",
                             f"{1e6 * run.seconds / n:.1f}"])
                if office is not None:
                    load = office.open(out)
                    recalc = min(office.call("recalc")["seconds"] for _ in range(3))
                    office_rows.append([f"{size}x{size}", f"{n:,}", f"{load:.2f}", f"{recalc:.3f}",
                                        f"{summary.estimated_recalc_seconds:.3f}"])
                out.unlink()
    finally:
        if office is not None:
            office.close()
    print_table("`excelnet build -m model.keras` (whole process, one run each)",
                ["input", "formula cells", "wall s", "peak MB", "file MB", "estimated MB", "cells/s", "µs/cell"],
                rows)
    x, t, m = np.array(cells, float), np.array(seconds), np.array(peaks, float)
    a, b, r2 = fit(x, t)
    am, bm, r2m = fit(x, m)
    print(f"time   = {a:.2f} s + {1e6 * b:.2f} µs x cells   (R² = {r2:.4f})")
    print(f"memory = {am / 1e6:.0f} MB + {bm:.0f} bytes x cells   (R² = {r2m:.4f})")
    largest = int(np.argmax(x))
    print(f"target at {cells[largest]:,} cells: <= 30 s and <= 2 GB -> "
          f"{'met' if t[largest] <= 30 and m[largest] <= 2e9 else 'NOT MET'} "
          f"({t[largest]:.1f} s, {m[largest] / 1e9:.2f} GB)")
    if office_rows:
        print()
        print_table("LibreOffice", ["input", "formula cells", "load s", "full recalc s", "estimated s"], office_rows)


if __name__ == "__main__":
    main()
