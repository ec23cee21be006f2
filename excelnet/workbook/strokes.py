"""Draw with a few strokes instead of typing a hundred 1s: still only formulas and typing.

A stroke is a straight line from (row, column) to (row, column), typed into four yellow cells.
Each pixel of the "Your strokes" picture is as dark as it is close to the nearest stroke:
MAX(0, 1.5 − distance), so a line is about two pixels wide with soft edges, like the
handwritten digits the network learned from. An empty stroke costs one comparison per pixel."""

from __future__ import annotations

from ..layout import Rect
from ..sheet import ENTRY, PICTURE, SheetPlan

STROKES = 4


def emit_strokes(sheet: SheetPlan, picture: Rect, table_top: int) -> Rect:
    """Fill `picture` with the ink of the strokes typed into a table at `table_top` (same columns)."""
    here, col = sheet.title, picture.col
    sheet.put(table_top, col, "Strokes: type 4 numbers on a line: from row, from column, to row, to column "
              "(counting from 1, like the Canvas)", "heading")
    helpers = []
    for s in range(STROKES):
        row = table_top + 1 + s
        sheet.put(row, col, f"{s + 1}", "label")
        stroke = sheet.block(sheet.rect(row, col + 1, 1, 4), ENTRY)
        sheet.names[f"Stroke_{s + 1}"] = stroke
        cells = [stroke.cell_ref(0, k, here, True) for k in range(4)]
        helpers.append(_helpers(sheet, row, col + 6, cells))
    sheet.put(table_top + 1 + STROKES, col + 1, "e.g. 5, 20, 24, 12 draws the long line of a 7", "note")
    rows, cols = rulers(sheet, picture)
    for r in range(picture.rows):
        for c in range(picture.cols):
            terms = [_ink(h, rows[r], cols[c]) for h in helpers]
            sheet.formula(picture.row + r, picture.col + c, f"MAX({','.join(terms)})")
    sheet.next_row = max(sheet.next_row, table_top + STROKES + 3)
    return sheet.block(picture, PICTURE)


def rulers(sheet: SheetPlan, picture: Rect) -> tuple[list[str], list[str]]:
    """Row numbers left of a picture and column numbers under it (1, 2, 3, ...): a student reads
    a pixel's position off them, and the formulas refer to them instead of repeating constants."""
    here = sheet.title
    rows, cols = [], []
    for r in range(picture.rows):
        sheet.put(picture.row + r, picture.col - 1, r + 1, "label")
        rows.append(sheet.rect(picture.row + r, picture.col - 1, 1, 1).ref(here, True))
    for c in range(picture.cols):
        sheet.put(picture.bottom + 1, picture.col + c, c + 1, "label")
        cols.append(sheet.rect(picture.bottom + 1, picture.col + c, 1, 1).ref(here, True))
    return rows, cols


def _helpers(sheet: SheetPlan, row: int, col: int, cells: list[str]) -> tuple:
    """length² of the stroke ("" until all four cells are typed), then the refs the pixels use."""
    r0, c0, r1, c1 = cells
    sheet.formula(row, col, f'IF(COUNT({r0},{c0},{r1},{c1})<4,"",MAX(({r1}-{r0})^2+({c1}-{c0})^2,1E-9))', "label")
    return sheet.rect(row, col, 1, 1).ref(sheet.title, True), r0, c0, r1, c1


def _ink(helper: tuple, r: str, c: str) -> str:
    """How dark pixel (r, c) is from one stroke: 1.5 minus its distance to the segment, at least 0."""
    length2, r0, c0, r1, c1 = helper
    t = f"MAX(0,MIN(1,(({c}-{c0})*({c1}-{c0})+({r}-{r0})*({r1}-{r0}))/{length2}))"
    distance = f"SQRT(({c}-{c0}-{t}*({c1}-{c0}))^2+({r}-{r0}-{t}*({r1}-{r0}))^2)"
    return f'IF({length2}="",0,MAX(0,MIN(1,1.5-{distance})))'
