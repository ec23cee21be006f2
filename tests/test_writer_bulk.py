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


def test_cached_values_from_the_forked_child_equal_those_worked_out_here(tmp_path, monkeypatch):
    """build evaluates the formulas in a forked child while openpyxl lays the workbook out
    (background.py): the file is the same byte for byte as without the child."""
    import threading

    from excelnet import background
    from excelnet.convert import build

    _stop_tqdm_monitor()        # an earlier test's progress bar (the formulas library) leaves a thread
    assert background.can_fork(), f"this test needs Linux (os.fork) and no other thread: {threading.enumerate()}"
    forked = build(None, tmp_path / "forked.xlsx").path
    monkeypatch.setenv("EXCELNET_NO_FORK", "1")
    assert not background.can_fork()
    here = build(None, tmp_path / "here.xlsx").path
    with zipfile.ZipFile(forked) as a, zipfile.ZipFile(here) as b:
        names = [n for n in a.namelist() if n != "docProps/core.xml"]      # core.xml: the time of the build
        assert names == [n for n in b.namelist() if n != "docProps/core.xml"]
        assert all(a.read(n) == b.read(n) for n in names)


def _stop_tqdm_monitor() -> None:
    import sys

    tqdm = sys.modules.get("tqdm")
    monitor = getattr(getattr(tqdm, "tqdm", None), "monitor", None)
    if monitor is not None:
        monitor.exit()
        monitor.join()
        tqdm.tqdm.monitor = None


def test_an_error_in_the_forked_child_is_told_as_without_it(tmp_path, monkeypatch):
    """Whatever fails in the child is worked out again here, so the user sees the real error, and
    no file is written."""
    from excelnet import convert
    from excelnet.errors import ExcelnetError

    def broken(sheets):
        raise ExcelnetError("the evaluator cannot read this workbook")

    monkeypatch.setattr(convert, "cached_values", broken)
    with pytest.raises(ExcelnetError, match="cannot read this workbook"):
        convert.build(None, tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_background_work_comes_back_or_is_done_here():
    from excelnet.background import Background

    with Background(lambda: {"sheet": ([1, 2], [3, 4], [0.5, "text"])}) as work:
        assert work.pid is not None
        assert work.result() == {"sheet": ([1, 2], [3, 4], [0.5, "text"])}
    calls = []

    def count():
        calls.append(1)
        return len(calls)

    with Background(count) as work:     # the child counts to 1 in its own memory; here nothing ran yet
        assert work.result() == 1 and calls == []
    with Background(lambda: 1 / 0) as work:
        with pytest.raises(ZeroDivisionError):
            work.result()                # failed in the child: done again here, and told here
    with Background(lambda: 7) as work:
        pass                             # never asked: the child is stopped and waited for
    assert work.pid is None
