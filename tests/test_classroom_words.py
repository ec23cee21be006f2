"""Words a student reads, on both shipped workbooks (plain and --learn): plain words instead of
symbols (the Guide's glossary keeps them beside the words), one loss wording, the last layer's
sheets named for what they show (`7 chances`), and the Explain sheet's links to each layer's part."""

from __future__ import annotations

import re

import pytest

from excelnet.workbook.words import GLOSSARY, NOT_PLAIN, loss_words

LAST_LAYER_SHEETS = {"7 chances", "chances weights"}
LEARNING_SHEETS = {"Back 7 chances", "chances gradients", "One weight"}


@pytest.fixture(scope="module")
def learn_path(tmp_path_factory):
    from excelnet.convert import build

    return build(output=tmp_path_factory.mktemp("words") / "mnist_cnn_learn.xlsx", learn=True).path


def _texts(path):
    """(sheet, cell, text) of every text a student can read: text cells and the text literals of formulas."""
    from openpyxl import load_workbook

    glossary_terms = {keras for _, keras, _ in GLOSSARY}
    for ws in load_workbook(path, read_only=True).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if not isinstance(value, str):
                    continue
                if ws.title == "Guide" and value in glossary_terms:
                    continue                                   # the glossary keeps the symbols
                texts = re.findall(r'"((?:[^"]|"")*)"', value) if value.startswith("=") else [value]
                for text in texts:
                    yield ws.title, cell.coordinate, text


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_no_symbol_a_student_cannot_read(which, default_build, learn_path):
    path = default_build.path if which == "plain" else learn_path
    found = [(sheet, at, text[:80]) for sheet, at, text in _texts(path) if any(s in text for s in NOT_PLAIN)]
    assert not found, f"{len(found)} labels with symbols, e.g. {found[:5]}"


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_one_loss_wording(which, default_build, learn_path):
    path = default_build.path if which == "plain" else learn_path
    wanted = {loss_words("the true label")} | ({loss_words("the Target")} if which == "learn" else set())
    said = [text for _, _, text in _texts(path) if "ln" in text and "Loss" in text or "−ln" in text]
    assert said and all(any(w in text for w in wanted) for text in said), [t for t in said
                                                                             if not any(w in t for w in wanted)]
    assert {w for w in wanted if any(w in text for text in said)} == wanted


def test_the_last_layer_is_named_for_what_it_shows(default_build, learn_path):
    from openpyxl import load_workbook

    plain = set(load_workbook(default_build.path, read_only=True).sheetnames)
    learn = set(load_workbook(learn_path, read_only=True).sheetnames)
    assert LAST_LAYER_SHEETS <= plain and LAST_LAYER_SHEETS | LEARNING_SHEETS <= learn
    assert not [s for s in plain | learn if "digit" in s]


def test_the_explain_table_links_to_each_layers_part(default_build):
    from openpyxl import load_workbook

    ws = load_workbook(default_build.path)["Explain"]
    links = [(c, c.hyperlink.location) for row in ws.iter_rows(max_row=40) for c in row if c.hyperlink]
    assert len(links) >= 5
    for cell, location in links:
        target = int(re.fullmatch(r"'?Explain'?!A(\d+)", location)[1])
        assert f"row {target}" in cell.value
        layer = ws.cell(cell.row, 1).value                    # "layer 3: conv2"
        part = ws.cell(target, 1).value
        assert part.lower().startswith(layer.lower()), f"{cell.coordinate} → A{target}: {part!r}, not {layer!r}"
