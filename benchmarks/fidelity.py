"""Fidelity: MNIST test digits through the default workbook in LibreOffice, against Keras.

    .venv/bin/python benchmarks/fidelity.py [--data DIR] [--limit N] [--workers 2]

Each digit is typed into the Canvas (pixels / 255, the float32 values Keras sees), the
workbook is fully recalculated (calculateAll) and Probabilities are read back. One
LibreOffice session per worker (each with its own copy of the workbook), digits split
between them. Reports the largest |workbook - Keras|, how many digits are not within
rtol 1e-5 / atol 1e-6, and the arg-max agreement; also against the NumPy reference."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_MNIST, header, print_table

RTOL, ATOL = 1e-5, 1e-6


def run_libreoffice(workbook: Path, inputs: np.ndarray, workers: int, folder: Path) -> tuple[np.ndarray, dict]:
    from excelnet.engines.libreoffice import LibreOffice, canvas_grids
    from excelnet.progress import bar

    results = np.full((len(inputs), 10), np.nan)
    errors: dict[str, int] = {}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work(k: int, progress) -> None:
        copy = folder / f"worker{k}.xlsx"      # LibreOffice locks an open file: one copy per session
        shutil.copy(workbook, copy)
        try:
            with LibreOffice() as office:
                office.open(copy)
                for i in range(k, len(inputs), workers):
                    answer = office.run(canvas_grids(inputs[i]))
                    results[i] = [row[0] if isinstance(row[0], float) else np.nan
                                  for row in answer["Probabilities"]]
                    if i == k:
                        found = office.errors()
                    with lock:
                        progress.update(1)
                found = {**found, **office.errors()}
                with lock:
                    for sheet, count in found.items():
                        errors[sheet] = max(count, errors.get(sheet, 0))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    with bar(length=len(inputs), label=f"LibreOffice x{workers}") as progress:
        threads = [threading.Thread(target=work, args=(k, progress)) for k in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return results, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_MNIST), help="MNIST IDX folder or mnist.npz")
    parser.add_argument("--limit", type=int, default=10_000, help="first N test digits (default all 10,000)")
    parser.add_argument("--workers", type=int, default=2, help="parallel LibreOffice sessions")
    parser.add_argument("--workbook", type=Path, help="default: build the default workbook into a temp folder")
    parser.add_argument("--model", type=Path, help="default: the shipped model")
    args = parser.parse_args()
    import keras

    from excelnet.assets import DEFAULT_MODEL
    from excelnet.convert import build, load_network
    from excelnet.training import load_mnist

    model_path = args.model or DEFAULT_MODEL
    header(f"Fidelity: MNIST test digits through the workbook in LibreOffice vs Keras ({model_path.name})")
    _, (x_test, y_test) = load_mnist(args.data)
    x = (x_test[:args.limit].astype(np.float32) / np.float32(255))[..., None]
    y = y_test[:args.limit].astype(int)
    keras_out = keras.saving.load_model(model_path).predict(x, batch_size=1000, verbose=0).astype(np.float64)
    network = load_network(model_path)
    started = time.perf_counter()
    reference = np.array([network.predict(v) for v in x])
    numpy_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        workbook = args.workbook or build(model_path if args.model else None, Path(folder) / "mnist_cnn.xlsx").path
        started = time.perf_counter()
        got, errors = run_libreoffice(workbook, x.astype(np.float64), args.workers, Path(folder))
        seconds = time.perf_counter() - started

    def compare(a: np.ndarray, b: np.ndarray) -> list:
        diff = np.abs(a - b)
        diff = np.where(np.isnan(diff), np.inf, diff)
        worst = np.unravel_index(int(diff.argmax()), diff.shape)
        close = np.isclose(a, b, rtol=RTOL, atol=ATOL).all(axis=1)
        agree = (np.nan_to_num(a, nan=-1).argmax(axis=1) == b.argmax(axis=1))
        return [f"{diff.max():.2e}", f"digit {worst[0]}, class {worst[1]}", f"{int((~close).sum())}",
                f"{int(agree.sum()):,}/{len(a):,} ({100 * agree.mean():.2f}%)"]

    n = len(x)
    print(f"{n:,} digits; LibreOffice: {seconds:.0f} s with {args.workers} sessions "
          f"({1000 * seconds / n:.1f} ms per digit, wall); NumPy reference {1000 * numpy_seconds / n:.2f} ms per digit\n")
    print_table("Largest differences (rtol 1e-5, atol 1e-6)",
                ["comparison", "max |diff|", "where", "digits not allclose", "arg-max agreement"],
                [["workbook (LibreOffice) vs Keras"] + compare(got, keras_out),
                 ["workbook (LibreOffice) vs NumPy reference"] + compare(got, reference),
                 ["NumPy reference vs Keras"] + compare(reference, keras_out)])
    accuracy = lambda out: f"{100 * np.mean(np.nan_to_num(out, nan=-1).argmax(axis=1) == y):.2f}%"  # noqa: E731
    print(f"accuracy on these {n:,} digits: workbook {accuracy(got)}, Keras {accuracy(keras_out)}")
    print(f"error cells: {errors or 'none'}")
    close = np.isclose(got, keras_out, rtol=RTOL, atol=ATOL).all()
    agree = (np.nan_to_num(got, nan=-1).argmax(axis=1) == keras_out.argmax(axis=1)).all()
    print(f"target (all within tolerance, 100% arg-max agreement): {'met' if close and agree else 'NOT MET'}")


if __name__ == "__main__":
    main()
