"""Run every benchmark in turn and write their printed tables into benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py [--only layouts,libreoffice] [--fidelity-limit N]

The full set takes about half an hour on a 2-core machine (fidelity over 10,000 digits
and the `formulas` engine are the long ones). Sections not run keep their previous text."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"

BENCHMARKS = [
    ("accuracy", "Accuracy of the default model", []),
    ("build_time", "Build time of the default workbook", ["--profile"]),
    ("verify_time", "Verify time of the default workbook (LibreOffice, every cell traced)", []),
    ("compare_commits", "build, build --learn and verify at the speed round's start and now (in turns)",
     ["dfe294c", "HEAD", "--runs", "6"]),
    ("scaling", "Scaling to a million formula cells", []),
    ("layouts", "Convolution layouts in LibreOffice (the measured hint)", []),
    ("libreoffice", "LibreOffice: load, recalculation, one edit", []),
    ("compare_workbooks", "LibreOffice: this workbook beside earlier ones (interleaved)",
     ["--git", "199f572", "17e1d60", "HEAD"]),
    ("helper_blocks", "LibreOffice: what each helper block costs", ["--repeat", "10", "--rounds", "3"]),
    ("sheet_costs", "LibreOffice: what each sheet costs (one sheet live, the rest frozen)", ["--both"]),
    ("recalc_cost", "Cost models behind `excelnet summary` (recalculation, file size)", ["--repeat", "9"]),
    ("formulas_engine", "The `formulas` library", []),
    ("fidelity", "Fidelity: 10,000 MNIST test digits in LibreOffice vs Keras", []),
    ("learn", "The learning workbook (excelnet build --learn)", []),
    ("onnx_lenet", "LeNet-5 from ONNX beside the same network from Keras", ["--repeat", "5"]),
    ("real_models", "The tutorial networks (issue 18): build, LibreOffice, verify", []),
]

INTRO = """# Benchmark results

Produced by `benchmarks/run_all.py` (each script can also be run alone; see its docstring).
Every section starts with the machine and time it ran on; numbers from a shared machine
vary with its load (shown as "load now"), so the LibreOffice tables give the median and the
fastest run.
"""


def sections(text: str) -> dict[str, str]:
    found = {}
    for match in re.finditer(r"^<!-- (\w+) -->\n(.*?)^<!-- /\1 -->\n", text, re.S | re.M):
        found[match.group(1)] = match.group(2)
    return found


def replace_blocks(text: str, blocks: dict[str, str]) -> str:
    """Put each benchmark's output between its own markers, leaving every other line as it is.

    The hand-written sections (the target table, the discussion under each block, the issue
    sections) are never rewritten; a benchmark with no block yet gets a new section at the end.
    """
    for name, body in blocks.items():
        pattern = re.compile(rf"^<!-- {name} -->\n.*?^<!-- /{name} -->\n", re.S | re.M)
        block = f"<!-- {name} -->\n{body}<!-- /{name} -->\n"
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text, count=1)
        else:
            title = next(t for n, t, _ in BENCHMARKS if n == name)
            text = text.rstrip("\n") + f"\n\n## {title}\n\n{block}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--fidelity-limit", type=int, help="digits for fidelity.py (default: all 10,000)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    old = sections(RESULTS.read_text()) if RESULTS.exists() else {}
    for name, _, extra in BENCHMARKS:
        if only and name not in only:
            continue
        if name == "fidelity" and args.fidelity_limit:
            extra = extra + ["--limit", str(args.fidelity_limit)]
        command = [sys.executable, str(HERE / f"{name}.py"), *extra]
        print("running", " ".join(Path(c).name if k < 2 else c for k, c in enumerate(command)), flush=True)
        run = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        body = run.stdout.rstrip() + ("" if run.returncode == 0 else f"\n(exit status {run.returncode})")
        old[name] = (f"```\n$ python benchmarks/{name}.py {' '.join(extra)}".rstrip() + f"\n{body}\n```\n")
        print(body, flush=True)
    text = RESULTS.read_text() if RESULTS.exists() else INTRO
    RESULTS.write_text(replace_blocks(text, {name: old[name] for name, _, _ in BENCHMARKS if name in old}))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
