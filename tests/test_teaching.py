"""docs/teaching.md, performed in LibreOffice: every experiment is read from the markdown itself,
so the lesson cannot go stale. Within an experiment, in the order of the text:

- "Open **workbooks/X.xlsx**": a fresh copy of that prebuilt workbook;
- "**V** into **REF**": type V (a number, or numbers separated by commas along a row);
- "**REF** (...) shows **V**" / "shows about **V**": read REF (a defined name or Sheet!A1);
  "about" allows half a unit of the last decimal shown (percentages as shown, 97.7% = 0.977);
- "**REF** (...) turns white": every number in REF is 0;
- "**A** is smaller than **B**";
- "**NAME** (... `Sheet!A1` ...)": the name sits at that address."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LESSON = REPO / "docs" / "teaching.md"

STEP = re.compile(
    r"Open \*\*(?P<open>[^*]+)\*\*"
    r"|\*\*(?P<value>[^*]+)\*\* into \*\*(?P<target>[^*]+)\*\*"
    r"|\*\*(?P<shown>[^*]+)\*\*(?: \([^)]*\))? shows (?P<about>about )?\*\*(?P<expected>[^*]+)\*\*"
    r"|\*\*(?P<white>[^*]+)\*\*(?: \([^)]*\))? turns white"
    r"|\*\*(?P<small>[^*]+)\*\* is smaller than \*\*(?P<large>[^*]+)\*\*")
ADDRESS = re.compile(r"\*\*(?P<name>\w+)\*\* \((?P<inside>[^)]*)\)")


def experiments() -> list[tuple[str, str]]:
    text = LESSON.read_text(encoding="utf-8")
    parts = re.split(r"^## (Experiment \d+: .*)$", text, flags=re.M)
    # an experiment ends at the next section ("## ..."): later sections are not its steps
    # ... and a step may wrap ("**3** into\n  **MagnifyPicture**"): read each as one line of words
    return [(parts[k], " ".join(re.split(r"^## ", parts[k + 1], flags=re.M)[0].split()))
            for k in range(1, len(parts) - 1, 2)]


def test_the_lesson_has_the_experiments_the_issue_asks_for():
    titles = " | ".join(title.lower() for title, _ in experiments())
    assert len(experiments()) >= 6
    for words in ("filter off", "draw", "weight", "explain", "loss", "step of learning", "one weight"):
        assert words in titles, words
    for title, body in experiments():
        steps = [m for m in STEP.finditer(body)]
        assert any(m["open"] for m in steps), f"{title}: says which workbook to open"
        assert any(m["target"] for m in steps), f"{title}: has something to type"
        assert any(m["shown"] or m["white"] or m["small"] for m in steps), f"{title}: says what happens"


def _number(text: str) -> tuple[float, float]:
    """(value, half a unit of the last decimal shown) of '97.7%', '1.27', '100.00%'."""
    text = text.strip()
    percent = text.endswith("%")
    digits = text.rstrip("%")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    scale = 100 if percent else 1
    return float(digits) / scale, 0.5 * 10 ** -decimals / scale + 1e-12


def _read(office, ref):
    return office.call("get", refs=[ref])[ref]


def _check_shows(office, where, ref, expected, about):
    got = _read(office, ref)[0][0]
    try:
        value, tolerance = _number(expected)
    except ValueError:
        assert str(got) == expected, f"{where}: {ref} shows {got!r}, the lesson says {expected!r}"
        return
    assert isinstance(got, float), f"{where}: {ref} shows {got!r}, the lesson says {expected}"
    if about:
        assert abs(got - value) <= tolerance, f"{where}: {ref} shows {got}, the lesson says about {expected}"
    else:
        assert got == value, f"{where}: {ref} shows {got}, the lesson says {expected}"


def _perform(office, tmp_path, title, body):
    for match in STEP.finditer(body):
        where = f"{title}, at '{match[0]}'"
        if match["open"]:
            source = REPO / match["open"]
            if not source.exists():
                pytest.skip(f"{source.name} is not in this checkout yet (built by `excelnet build --learn`)")
            copy = tmp_path / source.name
            shutil.copy(source, copy)
            office.open(copy)
            _check_addresses(copy, body, title)
        elif match["target"]:
            values = [float(v) for v in match["value"].split(",")]
            office.call("put", ref=match["target"], values=values if len(values) > 1 else values[0])
        elif match["shown"]:
            _check_shows(office, where, match["shown"], match["expected"], match["about"])
        elif match["white"]:
            grid = _read(office, match["white"])
            assert all(v == 0 for row in grid for v in row), f"{where}: not all 0"
        else:
            small, large = (_read(office, match[k])[0][0] for k in ("small", "large"))
            assert small < large, f"{where}: {match['small']} = {small}, {match['large']} = {large}"
    assert office.errors() == {}, f"{title}: error cells {office.call('error_cells')}"


def _check_addresses(path, body, title):
    """**Sample** (... `Input!B7` ...): the name really is there."""
    from excelnet.engines.names import read_named_areas

    names = read_named_areas(path)
    for match in ADDRESS.finditer(body):
        addresses = [a for a in re.findall(r"`([^`]+)`", match["inside"]) if "!" in a]
        if not addresses or match["name"] not in names:
            continue
        sheet, cells = addresses[0].rsplit("!", 1)
        area = names[match["name"]][0]
        assert sheet.strip("'") == area.sheet, f"{title}: {match['name']} is on {area.sheet}, not {sheet}"
        top_left = cells.split(":")[0]
        assert top_left == _a1(area.top, area.left), \
            f"{title}: {match['name']} starts at {_a1(area.top, area.left)}, the lesson says {top_left}"


def _a1(row: int, col: int) -> str:
    from excelnet.layout import address

    return address(row, col)


@pytest.mark.libreoffice
@pytest.mark.parametrize("number", range(1, 9))
def test_experiment_happens_as_the_lesson_says(libreoffice, tmp_path, number):
    found = {int(re.match(r"Experiment (\d+)", title)[1]): (title, body) for title, body in experiments()}
    assert number in found, f"docs/teaching.md has no Experiment {number}"
    _perform(libreoffice, tmp_path, *found[number])


def test_the_guide_lists_the_lessons_experiments_in_short_form(default_build):
    """Same titles, in the same order, and the short form names the lesson's own cells and values."""
    from openpyxl import load_workbook

    from excelnet.workbook.guide import EXPERIMENTS

    lesson = experiments()
    assert [title for title, _ in EXPERIMENTS] == [title for title, _ in lesson]
    for (title, short), (_, body) in zip(EXPERIMENTS, lesson):
        tokens = re.findall(r"'[^']+'!\w+|[\w.]+", short)
        for token in [t.rstrip(".") for t in tokens if re.search(r"[\d_]", t)]:
            assert token in body, f"{title}: the Guide says {token!r}, the lesson does not"
    guide = load_workbook(default_build.path)["Guide"]
    texts = [c.value for row in guide.iter_rows() for c in row if isinstance(c.value, str)]
    for _, short in EXPERIMENTS:
        assert short in texts
