"""Check that two builds wrote the same workbook: every part of the .xlsx zip byte for byte,
except docProps/core.xml (it holds the time of the build).

    git archive main | tar -x -C /tmp/main-tree          # the reference, e.g. before a speed-up
    (cd /tmp/main-tree && PYTHONPATH=. .venv/bin/python -m excelnet build -o /tmp/before.xlsx)
    .venv/bin/python -m excelnet build -o /tmp/after.xlsx
    .venv/bin/python tools/same_workbook.py /tmp/before.xlsx /tmp/after.xlsx

Exit status 0 when they are the same, 1 (naming each part that differs) when not."""

from __future__ import annotations

import sys
import zipfile

IGNORED = {"docProps/core.xml"}


def differences(first: str, second: str) -> list[str]:
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        names_a, names_b = a.namelist(), b.namelist()
        found = [] if names_a == names_b else [f"the parts differ: {sorted(set(names_a) ^ set(names_b))} "
                                                "or their order"]
        found += [name for name in names_a if name not in IGNORED and name in names_b
                  and a.read(name) != b.read(name)]
    return found


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    found = differences(sys.argv[1], sys.argv[2])
    for line in found:
        print(f"different: {line}")
    if not found:
        print(f"same workbook (every part but {', '.join(sorted(IGNORED))})")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
