"""docs/teaching.md, its last section ("Learning from nothing"), performed in LibreOffice on the
shipped workbooks/digits_from_scratch.xlsx with the grammar of test_teaching.py: the workbook is
opened once and the tries follow each other in the order of the text."""

from __future__ import annotations

import re

import pytest

from test_teaching import LESSON, STEP, _perform

HEADING = "## Learning from nothing"


def section() -> str:
    text = LESSON.read_text(encoding="utf-8")
    assert HEADING in text, f"docs/teaching.md has no section '{HEADING}'"
    return re.split(r"^## ", text.split(HEADING, 1)[1], flags=re.M)[0]


def test_the_section_tries_what_the_issue_asks_for():
    body = section()
    steps = list(STEP.finditer(body))
    assert sum(1 for m in steps if m["open"]) == 1, "opens the workbook once"
    rates = [m["value"] for m in steps if m["target"] == "TrainRate"]
    for rate in ("0.01", "1", "5", "0", "0.3"):
        assert rate in rates, f"the section has no try with rate {rate}"
    assert any(m["target"] and m["target"].startswith("Start!") for m in steps), "the all-zero filters"
    assert "--seed" in body
    shown = [m for m in steps if m["shown"] or m["white"]]
    assert len(shown) >= 8, "each try says what happens"


@pytest.mark.libreoffice
@pytest.mark.slow
def test_the_section_happens_as_it_says(libreoffice, tmp_path):
    _perform(libreoffice, tmp_path, "Learning from nothing", section())
