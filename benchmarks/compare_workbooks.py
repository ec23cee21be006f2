"""Several workbooks side by side in one LibreOffice, in interleaved rounds: full recalculation
and one-pixel edits, timed inside soffice (see benchmarks/libreoffice.py).

    .venv/bin/python benchmarks/compare_workbooks.py A.xlsx B.xlsx ... [--rounds 5] [--repeat 10]
    .venv/bin/python benchmarks/compare_workbooks.py --rounds 5 --git 199f572 17e1d60 HEAD

--git REV takes workbooks/mnist_cnn.xlsx as committed at REV (e.g. the previous round's).
Each round opens every workbook once and times it, so a change in a shared machine's load hits
all of them alike; one workbook timed after another can differ by 50% on such a machine."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, header, median, ms, print_table

PIXELS = {"centre": (14, 14), "corner": (0, 0)}


def from_git(revision: str, folder: Path) -> Path:
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    path = folder / f"mnist_cnn_{commit}.xlsx"
    path.write_bytes(subprocess.run(["git", "show", f"{commit}:workbooks/mnist_cnn.xlsx"], cwd=ROOT,
                                    check=True, capture_output=True).stdout)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workbooks", nargs="*", type=Path)
    parser.add_argument("--git", nargs="*", default=[], metavar="REV")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    from excelnet.engines.libreoffice import LibreOffice

    header("Workbooks side by side in LibreOffice (interleaved rounds, timed inside soffice)")
    with tempfile.TemporaryDirectory() as temporary:
        paths = list(args.workbooks) + [from_git(rev, Path(temporary)) for rev in args.git]
        times = {p: {"full": [], "centre": [], "corner": []} for p in paths}
        values = [float(k % 2) * 0.8 + 0.1 for k in range(args.repeat)]
        with LibreOffice() as office:
            for _ in range(args.rounds):
                for path in paths:
                    office.open(path)
                    times[path]["full"] += office.in_office("time_recalcs", args.repeat)
                    for name, (r, c) in PIXELS.items():
                        times[path][name] += office.in_office("time_edits", "Canvas", r, c, values, "Probabilities")
    rows = [[p.name] + [f"{ms(median(times[p][k]))} / {ms(min(times[p][k]))}" for k in ("full", "centre", "corner")]
            for p in paths]
    print_table(f"{args.rounds} rounds x {args.repeat} runs each, median / fastest (ms)",
                ["workbook", "full recalculation", "one pixel (14,14)", "one pixel (0,0)"], rows)


if __name__ == "__main__":
    main()
