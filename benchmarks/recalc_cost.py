"""Calibrate `excelnet summary`'s estimates: a full LibreOffice recalculation, the file size.

    .venv/bin/python benchmarks/recalc_cost.py [--repeat 5]

Builds a spread of workbooks (the default one, narrower and wider CNNs, a plain MLP,
'same' convolutions, big single images), times calculateAll in LibreOffice (fastest of
--repeat runs: the least disturbed by other processes), and fits
    seconds = a x formula cells + b x references + c x column pieces read + d x cells read
by non-negative least squares of the relative error, and the file size as
    bytes = fixed + e x formulas + f x formula characters + g x numbers + h x texts.
Prints the fits next to the constants excelnet.summary uses."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from common import header, print_table


def models(folder: Path) -> list[tuple[str, Path | None]]:
    import keras

    layers = keras.layers
    out: list[tuple[str, Path | None]] = [("default (shipped, with digits)", None)]

    def save(name, *stack, shape=(28, 28, 1)):
        keras.utils.set_random_seed(0)
        path = folder / (name.replace("/", "-").replace(" ", "_") + ".keras")
        keras.Sequential([keras.Input(shape), *stack]).save(path)
        out.append((name, path))

    for a, b in ((4, 8), (8, 16), (16, 32)):
        save(f"cnn {a}/{b} valid", layers.Conv2D(a, 3, activation="relu"), layers.MaxPooling2D(2),
             layers.Conv2D(b, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
             layers.Dense(10, activation="softmax"))
    save("cnn 16/32 same", layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
         layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
         layers.Dense(10, activation="softmax"))
    save("mlp 784-128-10", layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
         shape=(784,))
    # issue 18's tutorial networks (their public shapes, random weights)
    save("keras.io MNIST convnet", layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
         layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
         layers.Dense(10, activation="softmax"))
    save("PyTorch MNIST Net", layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
         layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(128, activation="relu"),
         layers.Dense(10, activation="softmax"))
    save("CIFAR-10 CNN", layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
         layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
         layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10), shape=(32, 32, 3))
    save("LeNet-5", layers.Conv2D(6, 5, padding="same", activation="tanh"), layers.AveragePooling2D(2),
         layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2), layers.Flatten(),
         layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"),
         layers.Dense(10, activation="softmax"))
    for size in (24, 48, 96):
        save(f"scaling {size}x{size}", layers.Conv2D(8, 3, padding="same", activation="relu"),
             layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
             layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax"), shape=(size, size, 1))
    return out


def soffice_cpu_seconds(office) -> float:
    """CPU time (ns resolution, /proc/<pid>/task/*/schedstat) of every thread of the soffice
    process group: far less disturbed than wall time by other programs on a busy host."""
    group, total = office.office.pid, 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != group:
                continue
            total += sum(int(task.read_text().split()[0]) for task in (stat.parent / "task").glob("*/schedstat"))
        except (OSError, ValueError, IndexError):
            continue          # a process that ended meanwhile
    return total / 1e9


def timed_recalc(office, cpu: bool) -> float:
    """One calculateAll: its CPU seconds in soffice (--cpu) or wall seconds."""
    if not cpu:
        return office.call("recalc")["seconds"]
    before = soffice_cpu_seconds(office)
    office.call("recalc")
    return soffice_cpu_seconds(office) - before


def nnls(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares of the *relative* errors with coefficients >= 0 (every subset of the few features
    is tried): a 40 ms and a 4 s workbook count the same."""
    features, target = features / target[:, None], np.ones_like(target)
    best, best_error = np.zeros(features.shape[1]), np.inf
    for k in range(1, features.shape[1] + 1):
        for subset in itertools.combinations(range(features.shape[1]), k):
            coef, *_ = np.linalg.lstsq(features[:, subset], target, rcond=None)
            if (coef < 0).any():
                continue
            error = float(((features[:, subset] @ coef - target) ** 2).sum())
            if error < best_error:
                best, best_error = np.zeros(features.shape[1]), error
                best[list(subset)] = coef
    return best


def record(path: Path, names, features, measured, args) -> None:
    """What was measured, with where and when, for tests/test_summary.py to hold the estimate to."""
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    data = {
        "command": f"python benchmarks/recalc_cost.py --repeat {args.repeat}" + (" --cpu" if args.cpu else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "load": os.getloadavg()[0],
        "clock": "cpu" if args.cpu else "wall",
        "workbooks": [
            {"name": n, "formulas": int(f[0]), "references": int(f[1]), "columns_read": int(f[2]),
             "cells_read": int(f[3]), "seconds": round(m, 5)}
            for n, f, m in zip(names, features, measured)
        ],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--record", type=Path, help="also write each workbook's features and measured seconds "
                        "as JSON (benchmarks/recalc_cost_measured.json: tests/test_summary.py holds summary's "
                        "estimate to it)")
    parser.add_argument("--cpu", action="store_true", help="time soffice's CPU seconds, not wall seconds "
                        "(for a busy host; the same on an idle one where calculateAll runs on one thread)")
    args = parser.parse_args()
    from excelnet import summary as summary_module
    from excelnet.convert import build
    from excelnet.engines.libreoffice import LibreOffice
    from excelnet.summary import summarize

    header("Cost of a full recalculation in LibreOffice, by workbook")
    names, features, measured, current = [], [], [], []
    size_features, sizes, size_now = [], [], []
    with tempfile.TemporaryDirectory() as folder, LibreOffice() as office:
        for name, path in models(Path(folder)):
            s = summarize(path, max_cells=5_000_000)
            out = build(path, Path(folder) / "w.xlsx", max_cells=5_000_000).path
            office.open(out)
            seconds = min(timed_recalc(office, args.cpu) for _ in range(args.repeat))
            t = s.total
            size_features.append([1, t.formulas, t.formula_chars, t.numbers, t.texts])
            sizes.append(out.stat().st_size)
            size_now.append(s.estimated_bytes)
            names.append(name)
            features.append([t.formulas, t.references, t.columns_read, t.cells_read])
            measured.append(seconds)
            current.append(s.estimated_recalc_seconds)
    if args.record:
        record(args.record, names, features, measured, args)
    x, y = np.array(features, float), np.array(measured)
    coef = nnls(x, y)
    fitted = x @ coef
    rows = [[n] + [f"{int(v):,}" for v in f] + [f"{1000 * m:.1f}", f"{1000 * p:.1f}", f"{1000 * c:.1f}"]
            for n, f, m, p, c in zip(names, features, measured, fitted, current)]
    print_table(f"calculateAll, fastest of {args.repeat} (ms)",
                ["workbook", "formulas", "references", "columns read", "cells read", "measured", "fit",
                 "summary now"], rows)

    def describe(a, b, c, d):
        return f"{a * 1e6:.3f} µs/formula + {b * 1e6:.3f} µs/reference + {c * 1e9:.1f} ns/column + {d * 1e9:.2f} ns/cell"

    s = summary_module
    print(f"fit:         {describe(*coef)}; largest relative error {np.max(np.abs(fitted - y) / y) * 100:.0f}%")
    print(f"summary now: {describe(s.SECONDS_PER_FORMULA, s.SECONDS_PER_REFERENCE, s.SECONDS_PER_COLUMN_READ, s.SECONDS_PER_CELL_READ)}; "
          f"largest relative error {np.max(np.abs(np.array(current) - y) / y) * 100:.0f}%")
    print()
    xs, ys = np.array(size_features, float), np.array(sizes, float)
    size_coef = nnls(xs, ys)
    size_fit = xs @ size_coef
    print_table("File size (kB)", ["workbook", "formulas", "formula chars", "numbers", "texts", "measured", "fit",
                                   "summary now"],
                [[n] + [f"{int(v):,}" for v in f[1:]] + [f"{m / 1e3:.0f}", f"{p / 1e3:.0f}", f"{c / 1e3:.0f}"]
                 for n, f, m, p, c in zip(names, size_features, ys, size_fit, size_now)])
    a, b, c, d, e = size_coef
    print(f"fit:         {a:.0f} B + {b:.2f} B/formula + {c:.3f} B/formula char + {d:.2f} B/number + "
          f"{e:.2f} B/text; largest relative error {np.max(np.abs(size_fit - ys) / ys) * 100:.0f}%")
    print(f"summary now: {s.BYTES_FIXED:.0f} B + {s.BYTES_PER_FORMULA:.2f} B/formula + "
          f"{s.BYTES_PER_FORMULA_CHAR:.3f} B/formula char + {s.BYTES_PER_NUMBER:.2f} B/number + "
          f"{s.BYTES_PER_TEXT:.2f} B/text; largest relative error "
          f"{np.max(np.abs(np.array(size_now) - ys) / ys) * 100:.0f}%")


if __name__ == "__main__":
    main()
