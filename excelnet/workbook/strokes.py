"""Draw with a few strokes instead of typing a hundred 1s: still only formulas and typing.

A stroke is a straight line from (row, column) to (row, column), typed into four yellow cells.
Each pixel of the "Your strokes" picture is as dark as it is close to the nearest stroke:
MAX(0, 1.5 − distance), so a line is about two pixels wide with soft edges, like the
handwritten digits the network learned from. An empty stroke costs one comparison per pixel."""

from __future__ import annotations

import numpy as np

from ..layout import Rect
from ..ops.cells import rulers
from ..sheet import ENTRY, PICTURE, Each, SheetPlan, mark
from ..templates import formula_templates

STROKES = 4


def emit_strokes(sheet: SheetPlan, picture: Rect, table_top: int) -> Rect:
    """Fill `picture` with the ink of the strokes typed into a table at `table_top` (same columns)."""
    here, col = sheet.title, picture.col
    sheet.put(table_top, col, "Strokes: type 4 numbers on a line: from row, from column, to row, to column "
              "(counting from 1, like the Canvas)", "heading")
    strokes = []
    for s in range(STROKES):
        row = table_top + 1 + s
        sheet.put(row, col, f"{s + 1}", "label")
        stroke = sheet.block(sheet.rect(row, col + 1, 1, 4), ENTRY)
        sheet.names[f"Stroke_{s + 1}"] = stroke
        strokes.append([stroke.cell_ref(0, k, here, True) for k in range(4)])
    sheet.put(table_top + 1 + STROKES, col + 1, "e.g. 5, 20, 24, 12 draws the long line of a 7", "note")
    rows, cols = rulers(sheet, picture, "label")
    top = table_top + STROKES + 3
    sheet.put(top, col, "worked out for the strokes (along and across each line, per row and column)", "label")
    helpers = [_helpers(sheet, top + 1 + 5 * s, col, cells, rows, cols) for s, cells in enumerate(strokes)]
    r, c = np.indices((picture.rows, picture.cols)).reshape(2, -1)
    places = {}
    for s, (length, parts) in enumerate(helpers):
        places[f"length{s}"] = length
        for name, cells in parts.items():      # per pixel, the cell of its column or of its row
            places[f"{name}{s}"] = Each([cells[k] for k in (c if name.startswith("col") else r).tolist()], True)
    template = f"MAX({','.join(_ink(s) for s in range(len(helpers)))})"
    formula_templates(sheet, picture.row + r, picture.col + c, [template], None, places)
    sheet.next_row = max(sheet.next_row, top + 1 + 5 * STROKES)
    sheet.names["StrokeInk"] = picture
    return sheet.block(picture, PICTURE)


def _helpers(sheet: SheetPlan, top: int, col: int, cells: list[str], rows: list[str], cols: list[str]):
    """Per stroke: its length L ("" until all four cells are typed), and for each column C and row R
    the parts of (pixel − start) along the line (C·ux, R·uy) and across it (C·uy, R·ux), so that a
    pixel only adds them up: along = colA + rowA, across = colP − rowP. Returns the length's
    cell and, per part, the cell of each column (or row)."""
    here = sheet.title
    r0, c0, r1, c1 = cells
    length = sheet.rect(top, col, 1, 1)
    at = length.ref(here, True)
    sheet.formula(top, col, f'IF(COUNT({r0},{c0},{r1},{c1})<4,"",SQRT(({r1}-{r0})^2+({c1}-{c0})^2))',
                  "label")
    # the line's direction; a dot (length 0) gets any direction, its distance is then from the dot
    ux, uy = f"IF({at}=0,1,({c1}-{c0})/{at})", f"IF({at}=0,0,({r1}-{r0})/{at})"
    parts = {"colA": (cols, c0, ux), "colP": (cols, c0, uy), "rowA": (rows, r0, uy), "rowP": (rows, r0, ux)}
    places = {}
    for k, (name, (ruler, start, unit)) in enumerate(parts.items(), start=1):
        places[name] = []
        for n, number in enumerate(ruler):
            sheet.formula(top + k, col + n, f'IF({at}="","",({number}-{start})*{unit})', "label")
            places[name].append(sheet.rect(top + k, col + n, 1, 1))
    return length, places


def _ink(s: int) -> str:
    """How dark a pixel is from stroke s: 1.5 minus its distance to the segment, at least 0 (a
    template: its column's and row's helper cells and the stroke's length are marked places)."""
    length = mark(f"length{s}")
    along = f"({mark(f'colA{s}')}+{mark(f'rowA{s}')})"
    across = f"({mark(f'colP{s}')}-{mark(f'rowP{s}')})"
    distance = f"SQRT({across}^2+MAX(0,-{along},{along}-{length})^2)"
    return f'IF({length}="",0,MAX(0,MIN(1,1.5-{distance})))'
