"""One Canvas pixel -> ProbabilitiesAfter in two learning workbooks, timed in turns in one soffice.

    .venv/bin/python benchmarks/learn_turns.py --git c534ee8 --build [--rounds 6] [--repeat 10]
    .venv/bin/python benchmarks/learn_turns.py --books A.xlsx B.xlsx [--parts]

--build: `excelnet build --learn` at the commit (a temporary git worktree, this virtualenv) and in
this checkout (uncommitted changes included), into a temporary folder. Each round opens one
workbook, then the other (which goes first alternates), and times --repeat edits of the pixel
inside soffice (engines/in_office.py): a change of a shared host's speed hits both alike. Prints
the median wall-clock and CPU time of soffice per edit for each, and the ratio (second / first).

--parts: the same edit read part by part (in_office.time_edit_parts): typing alone, then the first
forward pass (Probabilities), the output layer's kernel gradient, conv2's and conv1's kernel
gradients (the backward deltas on the way), and ProbabilitiesAfter (the step and the pass after
it). Every read is on the path of the edit, so the parts add up to the whole edit."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, header, median, ms, print_table

PARTS = {"typing (nothing read)": None, "-> Probabilities (first forward pass)": "Probabilities",
         "-> output layer's kernel gradient": "Grad_{last}_1", "-> conv2's kernel gradient": "Grad_3_1",
         "-> conv1's kernel gradient": "Grad_1_1", "-> ProbabilitiesAfter (step, pass after it)": "ProbabilitiesAfter"}


def build(tree: Path, out: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "EXCELNET_NO_FORK")}
    env["PYTHONPATH"] = str(tree)             # that commit's excelnet, not this one
    done = subprocess.run([sys.executable, "-m", "excelnet", "build", "--learn", "-o", str(out)], cwd=tree,
                          env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"build --learn failed in {tree}:\n{done.stdout}{done.stderr}")
    return out


def build_both(revision: str, folder: Path) -> dict[str, Path]:
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    tree = folder / commit
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), commit], cwd=ROOT, check=True)
    try:
        before = build(tree, folder / f"{commit}.xlsx")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return {commit: before, "this checkout": build(ROOT, folder / "checkout.xlsx")}


def area_text(area) -> str:
    from excelnet.layout import column_letter

    return (f"{area.sheet}!{column_letter(area.left)}{area.top}:"
            f"{column_letter(area.right)}{area.bottom}")


def reads(path: Path) -> list[str]:
    """The part reads of PARTS for this workbook, as "Sheet!A1:B2|..." (a name of several areas)."""
    from excelnet.engines.names import read_named_areas

    names = read_named_areas(path)
    last = max(int(n.split("_")[1]) for n in names if n.startswith("Grad_"))
    return ["|".join(area_text(a) for a in names[name.format(last=last)]) for name in PARTS.values() if name]


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git", default="HEAD", help="the commit to compare this checkout with (with --build)")
    parser.add_argument("--build", action="store_true", help="build both workbooks (else --books)")
    parser.add_argument("--books", nargs="+", type=Path, metavar="XLSX",
                        help="workbooks already built (two or more; each compared with the first)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--pixel", default="14,14", help="row,col of the Canvas cell (0-based)")
    parser.add_argument("--parts", action="store_true", help="time the edit part by part too")
    args = parser.parse_args()
    if not args.build and not args.books:
        parser.error("give --build (with --git) or --books")
    from excelnet.engines.libreoffice import LibreOffice

    header("One Canvas pixel -> ProbabilitiesAfter, two learning workbooks in turns (inside soffice)")
    row, col = (int(v) for v in args.pixel.split(","))
    with tempfile.TemporaryDirectory() as folder:
        books = build_both(args.git, Path(folder)) if args.build else {p.name: p for p in args.books}
        part_reads = {label: reads(path) for label, path in books.items()} if args.parts else {}
        loads = [load()]
        edits = {label: [] for label in books}            # (wall, cpu) per edit
        parts = {label: [] for label in books}            # per edit: (wall, cpu) per part
        values = [float(k % 2) * 0.8 + 0.1 for k in range(args.repeat)]
        with LibreOffice() as office:
            for turn in range(args.rounds):
                order = list(books)[turn % len(books):] + list(books)[:turn % len(books)]
                order = order if turn % 2 == 0 else order[::-1]
                for label in order:
                    office.open(books[label])
                    office.in_office("time_edits", "Canvas", row, col, [0.5], "ProbabilitiesAfter")    # warm
                    timed = office.in_office("time_edit_parts", "Canvas", row, col, values, ["ProbabilitiesAfter"])
                    edits[label] += [(sum(p[0] for p in e), sum(p[1] for p in e)) for e in timed]
                    if args.parts:
                        parts[label] += office.in_office("time_edit_parts", "Canvas", row, col, values,
                                                         part_reads[label])
            loads.append(load())
    first = list(books)[0]
    rows = []
    for label in books:
        wall, cpu = (median([e[k] for e in edits[label]]) for k in (0, 1))
        rows.append([label, ms(wall), ms(min(e[0] for e in edits[label])), ms(cpu)])
    for second in list(books)[1:]:
        ratio = [median([e[k] for e in edits[second]]) / median([e[k] for e in edits[first]]) for k in (0, 1)]
        rows.append([f"{second} / {first}", f"{ratio[0]:.2f}x", "", f"{ratio[1]:.2f}x"])
    print_table(f"pixel ({row},{col}) -> ProbabilitiesAfter: {args.rounds} rounds x {args.repeat} edits (ms)",
                ["workbook", "median wall", "fastest wall", "median CPU (soffice)"], rows)
    if args.parts:
        table = []
        for k, what in enumerate(PARTS):
            table.append([what] + [f"{ms(median([e[k][0] for e in parts[label]]))} / "
                                   f"{ms(median([e[k][1] for e in parts[label]]))}" for label in books])
        table.append(["all"] + [f"{ms(median([sum(p[0] for p in e) for e in parts[label]]))} / "
                                f"{ms(median([sum(p[1] for p in e) for e in parts[label]]))}" for label in books])
        print_table("Part by part, median wall / CPU (ms)", ["edit, then read"] + list(books), table)
    print(f"load average (1, 5, 15 min) before: {loads[0]}; after: {loads[1]}")


if __name__ == "__main__":
    main()
