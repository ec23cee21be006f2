"""One meaning per colour and labels a class can read, on both shipped workbooks (plain and --learn):
every picture's colour scale is orange / white at 0 / blue, symmetric about 0; red and green fill
only right/wrong cells; the Guide's legend shows every tab colour; the last layer's grids name
the classes; no number format can show "-0.000"."""

from __future__ import annotations

import re

import pytest

from excelnet.writer import NEGATIVE, POSITIVE, TAB_COLOURS

RED_GREEN = {"B02418", "1E7B34", "DFF0D8", "F8D7DA", "C0392B", "2E9E44"}


@pytest.fixture(scope="module")
def books(default_build, tmp_path_factory):
    from openpyxl import load_workbook

    from excelnet.convert import build

    learn = build(output=tmp_path_factory.mktemp("colours") / "learn.xlsx", learn=True)
    return {"plain": load_workbook(default_build.path), "learn": load_workbook(learn.path)}


def _rgb(colour) -> str:
    return (colour.rgb if hasattr(colour, "rgb") else str(colour))[-6:].upper()


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_every_picture_is_orange_white_blue_about_zero(books, which):
    scales = 0
    for ws in books[which].worksheets:
        for span in ws.conditional_formatting:
            for rule in span.rules:
                if rule.colorScale is None:
                    continue
                cfvo, colours = rule.colorScale.cfvo, [_rgb(c) for c in rule.colorScale.color]
                if colours[0] == "FFFFFF" and colours[-1] == "000000":     # ink on paper: 0 white
                    assert cfvo[0].type == "num", f"{ws.title} {span.sqref}"
                    continue
                scales += 1
                assert colours == [NEGATIVE, "FFFFFF", POSITIVE], f"{ws.title} {span.sqref}: {colours}"
                assert (cfvo[1].type, float(cfvo[1].val)) == ("num", 0.0), f"{ws.title} {span.sqref}: 0 is not white"
                low, high = cfvo[0].val, cfvo[2].val
                assert cfvo[0].type == cfvo[2].type == "formula" and low == f"-{high}", \
                    f"{ws.title} {span.sqref}: not symmetric ({low} .. {high})"
                first = str(span.sqref).split()[0].split(":")[0]
                assert first.replace("$", "") in high.replace("$", ""), f"{ws.title}: the scale reads its own block"
    assert scales > 10


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_red_and_green_mean_only_wrong_and_right(books, which):
    for ws in books[which].worksheets:
        for span in ws.conditional_formatting:
            for rule in span.rules:
                fill = rule.dxf.fill if rule.dxf is not None else None
                colour = _rgb(fill.fgColor) if fill is not None and fill.fgColor is not None else ""
                if colour[-6:] in RED_GREEN:
                    text = " ".join(rule.formula or [])
                    assert re.search(r'"yes"|"no"|"same"|"differ|<|>', text), f"{ws.title} {span.sqref}: red/green for {text}"


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_the_guide_legend_shows_every_tab_colour(books, which):
    book = books[which]
    tabs = {_rgb(ws.sheet_properties.tabColor) for ws in book.worksheets if ws.sheet_properties.tabColor}
    guide = book["Guide"]
    fills = {_rgb(c.fill.fgColor) for row in guide.iter_rows(max_col=1) for c in row
             if c.fill is not None and c.fill.fill_type == "solid"}
    assert tabs <= fills, f"tab colours without a legend line: {tabs - fills}"
    if which == "learn":
        assert {TAB_COLOURS["backward"], TAB_COLOURS["step"]} <= tabs


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_no_number_format_shows_minus_zero(books, which):
    for ws in books[which].worksheets:
        for row in ws.iter_rows():
            for cell in row:
                fmt = cell.number_format
                if "." in fmt and not fmt.startswith("[") and "%" not in fmt:
                    pytest.fail(f"{ws.title}!{cell.coordinate}: {fmt!r} can show -0.0…")


def test_the_last_layer_names_the_classes(books):
    book = books["learn"]
    back = book["Back 7 chances"]
    labels = [back.cell(r, 1).value for r in range(1, 40)]
    assert [f"class {k}" for k in range(10)] == [l for l in labels if isinstance(l, str) and l.startswith("class ")]
    assert not [l for l in labels if isinstance(l, str) and re.fullmatch(r"unit \d+", l)]
    after = book["After the step"]
    start = next(r for r in range(1, after.max_row + 1) if str(after.cell(r, 1).value).startswith("Layer 7: "))
    header = next(r for r in range(start, start + 6) if after.cell(r, 1).value == "class")
    assert [after.cell(header, 2 + k).value for k in range(10)] == list(range(10))
    plain = books["plain"]["7 chances"]
    assert any(plain.cell(r, 1).value == "class" for r in range(1, 12))


def test_the_saliency_legend_matches_its_colours(books):
    """Saliency = the gradient of the loss: negative where more ink raises the chance of the Target.
    Negative is orange, so the legend says orange = raise."""
    texts = [c.value for row in books["learn"]["Input"].iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("Saliency")]
    assert texts and "orange = more ink here would raise the chance of the Target" in texts[0]


def test_a_pooling_windows_winner_reads_as_a_whole_number(books):
    """The winner (1 = top left, ...) is a position: '4', not '4.00'."""
    sheet = books["learn"]["Back 2 pool1"]
    label = next(c for row in sheet.iter_rows(max_row=20) for c in row if c.value == "channel 1")
    first = sheet.cell(label.row + 1, label.column + 1)          # right of the row numbers
    assert str(first.value).startswith("="), first.value
    assert first.number_format == "0", first.number_format


@pytest.mark.parametrize("which", ["plain", "learn"])
def test_brown_and_teal_name_only_tabs(books, which):
    """Pictures are orange, white and blue; brown and teal are only tab colours, so a sentence
    that names them for cells sends a student looking for colours that are not there."""
    wrong = [(sheet.title, cell.coordinate, cell.value) for sheet in books[which].worksheets
             for row in sheet.iter_rows() for cell in row
             if isinstance(cell.value, str) and not cell.value.startswith("=")
             and any(word in cell.value.lower() for word in ("brown", "teal")) and "tab" not in cell.value.lower()]
    assert not wrong, wrong[:5]
