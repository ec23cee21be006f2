"""excelnet's commands as two (or more) commits run them, in turns: build, build --learn, verify.

    .venv/bin/python benchmarks/compare_commits.py [REV ...] [--runs 4] [--only build,learn,verify]

Each REV (default: ff6cfe2, where the second speed round started, and HEAD) is checked out
into a temporary git worktree and run with this checkout's virtualenv (PYTHONPATH points at the
worktree). Every run does one command for every commit in turn, so a change in a shared
machine's speed hits all of them alike: on this project's host, one commit timed after another
differed by a third. Whole processes, wall time; verify uses LibreOffice on 20 digits."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, header, median, print_table

COMMANDS = {
    "build": ["build", "-o", "{out}/plain.xlsx"],
    "learn": ["build", "--learn", "-o", "{out}/learn.xlsx"],
    "verify": ["verify", "{workbook}", "-n", "20", "--engine", "libreoffice", "-q"],
}


def worktree(revision: str, folder: Path) -> tuple[str, Path]:
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    path = folder / commit
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), commit], cwd=ROOT, check=True)
    return commit, path


def run(tree: Path, arguments: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "EXCELNET_NO_FORK")}
    env["PYTHONPATH"] = str(tree)             # this commit's excelnet, not the installed one
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "excelnet", *arguments], cwd=tree, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{' '.join(arguments)} failed in {tree}:\n{done.stdout}{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revisions", nargs="*", default=["ff6cfe2", "HEAD"])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--only", default=",".join(COMMANDS))
    args = parser.parse_args()
    header("excelnet's commands at several commits, run in turns (whole processes)")
    wanted = [name for name in args.only.split(",") if name in COMMANDS]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        trees = []
        try:
            for revision in args.revisions:
                trees.append(worktree(revision, folder))
            out = folder / "out"
            out.mkdir()
            workbook = out / "verified.xlsx"           # one workbook for every commit's verify
            run(trees[-1][1], ["build", "-o", str(workbook)])
            for name in wanted:
                times: dict[str, list[float]] = {commit: [] for commit, _ in trees}
                for _ in range(args.runs):
                    for commit, tree in trees:
                        arguments = [a.format(out=out, workbook=workbook) for a in COMMANDS[name]]
                        times[commit].append(run(tree, arguments))
                print_table(f"excelnet {' '.join(COMMANDS[name][:2 if name == 'learn' else 1])}: "
                            f"{args.runs} runs per commit, in turns (s)",
                            ["commit", "median", "fastest", "slowest"],
                            [[commit, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}"] for commit, t in times.items()])
            print(f"load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        finally:
            for _, tree in trees:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    main()
