"""The writer puts plain text cells and column widths into the sheet XML itself (bulk_cells)
instead of making an openpyxl object for each: the file must be byte for byte what openpyxl
writes, styles included."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from excelnet.bulk_cells import BulkCells, _columns
from excelnet.layout import Rect
from excelnet.sheet import CANVAS, WEIGHTS, Formula, SheetPlan, Text
from excelnet.writer import write_workbook

TEXTS = ["plain", "  leading spaces", "trailing space ", "tab\tinside", "two\nlines", "\nstarts with a newline",
         "a & b < c > d", "quotes \" and '", "=1+SUM(A1:A2)", "@cmd|' /C calc'!A0", "28 × 28 × 1", "Ünïcödé",
         "right\u200fto\u202eleft", "emoji 😀 and 𝔸", "\u00a0non-breaking\u00a0", "carriage\rreturn", "x" * 300]


def _plans() -> list[SheetPlan]:
    """Two sheets whose texts, numbers, formulas, links and merges use looks first seen in different
    orders, so style ids depend on the order cells are numbered in."""
    first = SheetPlan("First", "layer")
    for k, text in enumerate(TEXTS):
        first.put(2 + k, 1, text, ["note", "label", None, "heading", "text"][k % 5])
        first.put(2 + k, 3, float(k) / 7, "weight" if k % 2 else None)
    first.cells[(30, 1)] = Text("")                          # empty text
    first.put(30, 2, "control\x01character")                # made safe by put()
    first.cells[(31, 2)] = Text("raw\rcarriage")             # a Text made directly: no safe_text
    first.formula(31, 1, "C2*2", "probability")
    first.put(32, 1, "a link", "link")
    first.links[(32, 1)] = "Second"
    first.put(33, 1, "merged", "big")
    first.put(33, 2, "covered by the merge")
    first.merges.append(Rect("First", 33, 1, 1, 3))
    first.block(Rect("First", 40, 2, 2, 3), WEIGHTS)
    first.put(40, 2, "in a weights block")
    second = SheetPlan("Second", "input")
    second.block(Rect("Second", 2, 2, 3, 3), CANVAS)     # empty canvas cells get their look from openpyxl
    second.put(1, 1, "title", "title")
    for k, text in enumerate(reversed(TEXTS)):
        second.put(6 + k, 1, text, ["class", "text", "table", None][k % 4])
    second.put(6, 2, 1.5, "score")
    return [first, second]


def _parts(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


def test_plain_texts_are_written_as_openpyxl_writes_them(tmp_path, monkeypatch):
    bulk = write_workbook(_plans(), tmp_path / "bulk.xlsx")
    monkeypatch.setattr(BulkCells, "plain_text", staticmethod(lambda text: False))   # every text by openpyxl
    by_openpyxl = write_workbook(_plans(), tmp_path / "openpyxl.xlsx")
    bulk_parts, openpyxl_parts = _parts(bulk), _parts(by_openpyxl)
    assert list(bulk_parts) == list(openpyxl_parts)
    for name in openpyxl_parts:
        assert bulk_parts[name] == openpyxl_parts[name], name
    sheet = bulk_parts["xl/worksheets/sheet1.xml"].decode()
    assert "28 &#215; 28 &#215; 1" in sheet and "a &amp; b &lt; c &gt; d" in sheet     # the texts are there


@pytest.mark.parametrize("text, plain", [("plain", True), ("tab\tand\nnewline", True), ("😀", True),
                                         ("", False), ("carriage\rreturn", False), ("nul\x00", False),
                                         ("lone \ud800 surrogate", False), ("\ufffe", False)])
def test_which_texts_go_in_bulk(text, plain):
    assert BulkCells.plain_text(text) is plain


def test_formula_text_stays_text(tmp_path):
    from openpyxl import load_workbook

    plan = SheetPlan("Only", "guide")
    plan.put(1, 1, "=1+1")
    plan.cells[(2, 1)] = Formula("1+1")
    book = load_workbook(write_workbook([plan], tmp_path / "t.xlsx"))
    assert book["Only"]["A1"].value == "=1+1" and book["Only"]["A1"].data_type == "s"
    assert book["Only"]["A2"].value == "=1+1" and book["Only"]["A2"].data_type == "f"


@pytest.mark.parametrize("widths", [{}, {1: 2.86}, {1: 14.35714285714286, 2: 2.86, 3: 2.86, 9: 22, 30: 96.5},
                                    {2: 0, 3: 1 / 3, 1: 9.357142857142858, 800: 44}])
def test_column_widths_are_written_as_openpyxl_writes_them(widths):
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook()
    for col, width in widths.items():
        book.active.column_dimensions[get_column_letter(col)].width = width
    saved = io.BytesIO()
    book.save(saved)
    sheet = zipfile.ZipFile(saved).read("xl/worksheets/sheet1.xml").decode()
    found = re.search(r"<cols>.*</cols>", sheet)
    assert _columns(widths) == (found.group(0) if found else "")
    if found:
        assert sheet.index(found.group(0)) + len(found.group(0)) == sheet.index("<sheetData")   # where merge_sheet puts it


# The fork is tested in fresh interpreters: this one has TensorFlow's thread pools (a fork with
# those is what background.can_fork refuses), as a user's `excelnet build` never has.
FORK_CHECK = """
import os, sys
forks = []
real_fork = os.fork
def counted():
    pid = real_fork()
    if pid:
        forks.append(pid)
    return pid
os.fork = counted
from excelnet import background, convert
assert "tensorflow" not in sys.modules
MODE = sys.argv[1]
if MODE == "build":
    convert.build(None, sys.argv[2])
elif MODE == "error":
    def broken(sheets):
        raise convert.ExcelnetError("the evaluator cannot read this workbook")
    convert.cached_values = broken
    try:
        convert.build(None, sys.argv[2])
    except convert.ExcelnetError as error:
        print("error:", error)
elif MODE == "background":
    import signal
    with background.Background(lambda: {"sheet": ([1, 2], [3, 4], [0.5, "text"])}) as work:
        assert work.result() == {"sheet": ([1, 2], [3, 4], [0.5, "text"])}
    calls = []
    with background.Background(lambda: calls.append(1) or len(calls)) as work:
        assert work.result() == 1 and calls == []       # counted in the child's memory, not here
    with background.Background(lambda: 1 / 0) as work:
        try:
            work.result()
            raise AssertionError("no error")
        except ZeroDivisionError:                       # failed there: done again here, told here
            pass
    big = "x" * 10_000_000                              # more than a pipe holds: the child waits to write
    with background.Background(lambda: big) as work:
        os.kill(work.pid, signal.SIGINT)                # Ctrl-C is the parent's: the child goes on
        assert work.result() == big
    with background.Background(lambda: 7) as work:
        pass                                            # never asked: stopped and reaped on leaving
    assert work.pid is None and work.pipe is None
    try:
        os.waitpid(-1, os.WNOHANG)
        raise AssertionError("a child is left")
    except ChildProcessError:
        pass
print("forks:", len(forks))
"""


def _fork_check(*args, no_fork: bool = False) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EXCELNET_NO_FORK"}
    if no_fork:
        env["EXCELNET_NO_FORK"] = "1"
    run = subprocess.run([sys.executable, "-c", FORK_CHECK, *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_cached_values_from_the_forked_child_equal_those_worked_out_here(tmp_path):
    """build evaluates the formulas in a forked child while openpyxl lays the workbook out
    (background.py): the file is the same byte for byte as without the child."""
    assert "forks: 1" in _fork_check("build", tmp_path / "forked.xlsx")
    assert "forks: 0" in _fork_check("build", tmp_path / "here.xlsx", no_fork=True)
    with zipfile.ZipFile(tmp_path / "forked.xlsx") as a, zipfile.ZipFile(tmp_path / "here.xlsx") as b:
        names = [n for n in a.namelist() if n != "docProps/core.xml"]      # core.xml: the time of the build
        assert names == [n for n in b.namelist() if n != "docProps/core.xml"]
        assert all(a.read(n) == b.read(n) for n in names)


def test_an_error_in_the_forked_child_is_told_as_without_it(tmp_path):
    """Whatever fails in the child is worked out again here, so the user sees the real error, and
    no file is written."""
    out = _fork_check("error", tmp_path / "out.xlsx")
    assert "error: the evaluator cannot read this workbook" in out and "forks: 1" in out
    assert list(tmp_path.iterdir()) == []


def test_background_work_comes_back_or_is_done_here():
    assert "forks: 5" in _fork_check("background")


def test_sheets_without_formulas_are_written_before_the_values_are_asked_for(tmp_path):
    """write_workbook compresses every part that needs no cached value while the forked child
    still works them out: when values() is called, those parts are already in the file, and the
    sheets with formulas follow with the values that came back."""
    weights, layer = SheetPlan("Weights", "weights"), SheetPlan("Layer", "layer")
    weights.put(1, 1, 0.25, "weight")
    layer.put(1, 1, "a layer")
    layer.formula(2, 1, "Weights!A1*2")
    out = tmp_path / "book.xlsx"
    seen = {}

    def values():
        temporary = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        seen["written so far"] = temporary[0].stat().st_size if len(temporary) == 1 else None
        return {"Layer": ([2], [1], [0.5])}

    write_workbook([weights, layer], out, values=values)
    assert seen["written so far"]            # the weights sheet (and openpyxl's parts) went first
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        sheet = archive.read(names[-1]).decode()
    assert names[-1] == "xl/worksheets/sheet2.xml" and "xl/worksheets/sheet1.xml" in names[:-1]
    assert '<c r="A2" s="' in sheet and "<f>Weights!A1*2</f><v>0.5</v>" in sheet
