"""tools/render_workbook.py in a real LibreOffice and pdftoppm: a sheet far too big for
fit-to-page comes out whole on one picture, several pictures of one sheet in one run, --set by
defined name and by address (the values recalculate before printing), and every mistake is one
line with exit status 2.

The workbook is made here with openpyxl (a few hundred cells), so a run takes two soffice starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import PatternFill
from openpyxl.workbook.defined_name import DefinedName

from conftest import IN_CI

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "render_workbook.py"
RED, BLUE = "FF0000", "0000FF"
BIG_COLUMNS = 260      # 260 default columns are ~12,500 pt wide: more than 10 A3 pages, fit-to-page's floor


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO)


def needs_office_and_poppler() -> None:
    from excelnet.engines.libreoffice import soffice_path

    missing = [what for what, found in (("LibreOffice (soffice)", soffice_path()),
                                         ("pdftoppm (poppler-utils)", shutil.which("pdftoppm"))) if not found]
    if missing:
        reason = f"the render tool needs {' and '.join(missing)}"
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def red_when_over_ten(ws, cells: str) -> None:
    ws.conditional_formatting.add(cells, CellIsRule(operator="greaterThan", formula=["10"],
                                                    fill=PatternFill("solid", start_color=RED, end_color=RED)))


def handout_workbook(path: Path) -> Path:
    """'Data': B4 (no name) and C4 (named Speed) feed B5 = B4*2 and C5 = C4*3, red above 10; B6 =
    B4-100 is never red. 'Big': BIG_COLUMNS columns × 3 rows, its last column filled blue."""
    workbook = Workbook()
    data = workbook.active
    data.title = "Data"
    data["A1"] = "inputs and what they become"
    data["B4"], data["C4"] = 1, 0
    data["B5"], data["C5"], data["B6"] = "=B4*2", "=C4*3", "=B4-100"
    red_when_over_ten(data, "B5:C6")
    workbook.defined_names["Speed"] = DefinedName("Speed", attr_text="'Data'!$C$4")
    big = workbook.create_sheet("1 big layer")
    for row in range(1, 4):
        for column in range(1, BIG_COLUMNS + 1):
            big.cell(row, column).value = f"=ROW()+{column}"
    for row in range(1, 4):
        big.cell(row, BIG_COLUMNS).fill = PatternFill("solid", start_color=BLUE, end_color=BLUE)
    workbook.save(path)
    return path


def read_png(path: Path) -> np.ndarray:
    """The tool's own PNGs: 8-bit RGB, one zlib stream, filter 0 on every row."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * 3)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, 3)


def share(image: np.ndarray, colour: str) -> float:
    """The fraction of pixels close to `colour` (RRGGBB)."""
    target = np.array([int(colour[k:k + 2], 16) for k in (0, 2, 4)])
    return float((np.abs(image.astype(int) - target).max(axis=2) < 40).mean())


@pytest.mark.libreoffice
@pytest.mark.slow
def test_big_sheet_ranges_of_one_sheet_and_set_by_name_and_address(tmp_path):
    needs_office_and_poppler()
    source = handout_workbook(tmp_path / "handout.xlsx")
    result = run_tool("--workbook", str(source), "--out", str(tmp_path / "out"), "--dpi", "40",
                      "--set", "'Data'!B4==3+4", "--set", "Speed=5",
                      "big=@1", "inputs=Data!B5:C5", "never=Data!B6")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert result.stdout.split() == [str(out / f"{name}.png") for name in ("big", "inputs", "never")]

    big = read_png(out / "big.png")
    height, width, _ = big.shape
    assert width > 20 * height, f"{width}x{height}: not all {BIG_COLUMNS} columns of 3 rows on one picture"
    right_edge, left_edge = big[:, -width // BIG_COLUMNS:], big[:, :width // BIG_COLUMNS]
    assert share(right_edge, BLUE) > 0.3 and share(left_edge, BLUE) == 0, "the last column is cut off"

    inputs = read_png(out / "inputs.png")       # B5 = (3+4)*2 (a formula set by address), C5 = 5*3 (by name)
    half = inputs.shape[1] // 2
    assert share(inputs[:, :half], RED) > 0.3 and share(inputs[:, half:], RED) > 0.3
    never = read_png(out / "never.png")          # B6 = 7-100, the same rule, never red
    assert share(never, RED) == 0 and never.shape[1] < inputs.shape[1]


@pytest.mark.parametrize("arguments, message", [
    (["--workbook", "{missing}"], "no workbook"),
    (["--workbook", "{broken}"], "cannot read"),
    (["nope=No such sheet"], "no sheet 'No such sheet'"),
    (["layer=@9"], "layer sheets @1 to @1"),
    (["a=Data!B5:ZZZ0"], "is not a cell or range"),
    (["just-a-sheet-name"], "a picture is NAME=SHEET"),
    (["a=Data", "a=Data!B5"], "two pictures are called 'a'"),
    (["--set", "Nowhere=3", "a=Data"], "no defined name 'Nowhere'"),
    (["--set", "'Data'!B4", "a=Data"], "give CELL=VALUE"),
    (["--set", "'Gone'!B4=1", "a=Data"], "no sheet 'Gone'"),
    (["--stroke", "0,0,1,1", "a=Data"], "no Canvas"),
])
def test_mistakes_are_one_line_and_status_2(tmp_path, arguments, message):
    source = handout_workbook(tmp_path / "handout.xlsx")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip file")
    arguments = [a.replace("{missing}", str(tmp_path / "missing.xlsx")).replace("{broken}", str(tmp_path / "broken.xlsx"))
                 for a in arguments]
    if "--workbook" not in arguments:
        arguments = ["--workbook", str(source), *arguments]
    result = run_tool("--out", str(tmp_path / "out"), *arguments)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("render_workbook: error: ") and message in lines[0], lines
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
