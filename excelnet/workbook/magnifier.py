"""The Magnifier sheet: any one picture of the workbook (a feature map, a filter, a gradient, a
new filter after the step) in big cells with big numbers, for a projector.

The layer, Back and Step sheets show every picture of a layer at once, in 20-pixel cells with
7-point numbers, zoomed out to fit: a good overview, unreadable from the back of a classroom. The
Magnifier shows one of them at a time at 100%, 12-point numbers with enough digits to differ (a
gradient of 3.4E-06 does not read 0.00), row and column numbers, and the same colours.

A student types two numbers (yellow): a group from the list on the right (a sheet and what its
pictures are: "'3 conv2', channel, 32 pictures of 11 × 11") and which picture of it. How it is
computed, so that a pixel edit stays as fast as it was:
- behind the scenes, one block per group: cell (r, c) is CHOOSE(picture, that cell of each of the
  group's pictures), and "" unless the group is the one picked. Every cell of every picture has
  one reference to it, from one cell here: a change anywhere tells one more cell, never the whole
  big grid (a range reference would, for each of the thousands of cells a pixel edit changes).
- the big grid: cell (r, c) is CHOOSE(group, cell (r, c) of each block).
Only functions every engine here knows (IF, AND, CHOOSE, INDEX): the sheet is checked like every other."""

from __future__ import annotations

from dataclasses import dataclass

from ..layout import Rect, column_letter
from ..sheet import ACTIVATIONS, CONTROL, SheetPlan
from ..ops import Network
from ..ops.base import Params
from .worked_weight import PickableLayer, choose, unit_kernels

TITLE = "Magnifier"
LARGEST = 32              # a picture wider or taller than this is not offered (a Dense kernel of 160 rows)
PER_GROUP = 64            # pictures in one group of the list at most ...
REFERENCES_LENGTH = 1600  # ... and fewer when long sheet names would make a block's formula long
MAX_SOURCE_CELLS = 150_000   # pictures' cells the sheet refers to at most: it stays a small part of a big model
MAX_GROUPS = 100          # rows of the list at most: the big grid's formula picks one of them
PICKS = ("MagnifyGroup", "MagnifyPicture")
GRID_TOP = 9              # the big grid's first row (its row numbers in column A)
GRID_LEFT = 2
LIST_TOP = GRID_TOP       # the list's first row, beside the big grid: its rows as tall as the grid's
PICK_COL = GRID_LEFT + 4  # the yellow cells, right of their labels
CELL_WIDTH = 9            # characters: "-3.4E-06" fits in 12-point figures ...
CELL_HEIGHT = 24          # ... points: a 26 x 26 picture fills a 1920 x 1080 screen at 100%
LIST_COLUMNS = ("group", "sheet", "what", "under the heading", "pictures", "rows", "columns", "picked?",
                "the picked one")
ROWS, COLUMNS, PICKED, SAID = 5, 6, 7, 8   # where these are in LIST_COLUMNS


@dataclass(frozen=True)
class Group:
    """Pictures of one kind on one sheet, numbered first, first + 1, ... ("channel 31"); `under`:
    the heading above them on their sheet, which tells two groups of one kind apart."""

    sheet: str
    what: str
    pictures: tuple[Rect, ...]
    first: int = 1
    under: str = ""

    @property
    def size(self) -> tuple[int, int]:
        return max(p.rows for p in self.pictures), max(p.cols for p in self.pictures)

    @property
    def last(self) -> int:
        return self.first + len(self.pictures) - 1

    @property
    def cells(self) -> int:
        return sum(p.rows * p.cols for p in self.pictures)


def kernel_pictures(network: Network, params: dict[int, Params],
                    learned: list[PickableLayer]) -> list[tuple[str, tuple[Rect, ...], str]]:
    """(what, one area per unit, heading) of every kernel with one block per unit (a convolution's
    filters): on its layer's sheet, and with --learn its gradient (Back sheet) and its value after
    the step."""
    found = [(noun, arrays[0].areas, f"the weights of {op.name}") for _, op, noun, arrays in unit_kernels(network, params)]
    for layer in learned:
        found.append((f"gradient of {layer.noun}", layer.grads.areas, f"the gradients of {layer.name}'s weights"))
        if layer.new is not None:
            found.append((f"new {layer.noun}", layer.new.areas, f"{layer.name}'s weights after the step"))
    return found


def picture_groups(sheets: list[SheetPlan], kernels: list[tuple[str, tuple[Rect, ...], str]]) \
        -> tuple[list[Group], int]:
    """Every picture group a student may want big, in the order of the tabs (then top to bottom):
    the pictures each sheet registered (new_planar, the input) and the kernels; and how many
    pictures were left out for the sheet's limits. Pictures of one cell and pictures over LARGEST
    are not offered; a group of more than PER_GROUP pictures (or of long references) is cut into
    several; groups that would pass MAX_SOURCE_CELLS cells or MAX_GROUPS rows are left out."""
    order = {sheet.title: k for k, sheet in enumerate(sheets)}
    found = [entry for sheet in sheets for entry in sheet.pictures] + list(kernels)
    seen, groups = set(), []
    for what, pictures, under in sorted(found, key=lambda f: (order.get(f[1][0].sheet, len(order)),
                                                               f[1][0].row, f[1][0].col)):
        key = pictures[0]
        if key in seen or pictures[0].sheet not in order:
            continue
        seen.add(key)
        if any(p.rows * p.cols < 2 or p.rows > LARGEST or p.cols > LARGEST for p in pictures):
            continue
        size = max(1, min(PER_GROUP, REFERENCES_LENGTH // _reference_length(pictures[-1])))
        for start in range(0, len(pictures), size):
            groups.append(Group(pictures[0].sheet, what, pictures[start:start + size], start + 1, under))
    kept, total, left_out = [], 0, 0
    for group in groups:
        if total + group.cells > MAX_SOURCE_CELLS or len(kept) == MAX_GROUPS:
            left_out += len(group.pictures)
            continue
        total += group.cells
        kept.append(group)
    return kept, left_out


def emit_magnifier(sheet: SheetPlan, groups: list[Group], default: int, left_out: int = 0) -> None:
    """The sheet's cells; `default`: the group shown when the workbook opens (1-based); `left_out`:
    pictures not in the list (picture_groups), said under the title."""
    here = sheet.title
    height = max(g.size[0] for g in groups)
    width = max(g.size[1] for g in groups)
    sheet.put(1, 1, "Magnifier: one picture in big print, for the projector", "title")
    sheet.put(2, 1, "Type a group from the list on the right and which picture of it. These are the numbers "
                    "of that picture on its sheet, in bigger cells, in the same colours (orange below zero, "
                    "white zero, blue above) and with enough digits to tell them apart.", "note")
    if left_out:
        sheet.put(3, 1, f"{left_out:,} pictures of the biggest layers are not in the list: the sheet reads at most "
                        f"{MAX_SOURCE_CELLS:,} cells in {MAX_GROUPS} groups, to keep the workbook fast.", "note")
    labels = ("Group (the list is right of the picture →)", "Picture (its number on that sheet)")
    refs = []
    for k, (label, name, value) in enumerate(zip(labels, PICKS, (default, 1))):
        row = 4 + k
        sheet.put(row, GRID_LEFT, label, "heading")
        sheet.put(row, PICK_COL, value)
        rect = sheet.block(sheet.rect(row, PICK_COL, 1, 1), CONTROL)
        sheet.names[name] = rect
        sheet.validations.append((rect, 1, len(groups) if k == 0 else max(g.last for g in groups)))
        sheet.row_heights[row] = 22
        refs.append(rect.ref(here, True))
    group, picture = refs
    list_col = GRID_LEFT + width + 2
    shown, said, (ok, tall, wide) = _list(sheet, groups, list_col, group, picture)
    sheet.formula(7, GRID_LEFT, f'IF({ok},{_row_of(said, group, here)},"pick a group from 1 to {len(groups)}, and '
                                f'a picture its row of the list names")', "heading")
    sheet.names["MagnifiedWhat"] = sheet.rect(7, GRID_LEFT, 1, 1)
    blocks = _behind_the_scenes(sheet, groups, GRID_TOP + height + 4, shown, picture)
    grid = sheet.rect(GRID_TOP, GRID_LEFT, height, width)
    for r in range(height):
        sheet.formula(GRID_TOP + r, GRID_LEFT - 1, f'IF({r + 1}<={tall},{r + 1},"")', "ruler-big")
        for c in range(width):
            options = [b.cell_ref(r, c, here) if r < b.rows and c < b.cols else '""' for b in blocks]
            sheet.formula(GRID_TOP + r, GRID_LEFT + c, f'IF({ok},{choose(group, options)},"")', "magnified")
    for c in range(width):
        sheet.formula(GRID_TOP - 1, GRID_LEFT + c, f'IF({c + 1}<={wide},{c + 1},"")', "ruler-big")
    sheet.block(grid, ACTIVATIONS)
    first = f"{column_letter(GRID_LEFT)}{GRID_TOP}"
    sheet.rules.append((grid, f"AND(ISNUMBER({first}),{first}<>0,ABS({first})<0.005)", "tiny"))
    sheet.names["Magnified"] = grid
    sheet.wide_columns.update({GRID_LEFT - 1: 4, **{GRID_LEFT + c: CELL_WIDTH for c in range(width)},
                               list_col: 7, list_col + 1: 16, list_col + 2: 18, list_col + 3: 40, list_col + 4: 9,
                               list_col + 5: 6, list_col + 6: 8, list_col + 7: 8, list_col + 8: 10})
    sheet.row_heights.update({GRID_TOP + r: CELL_HEIGHT for r in range(height)})
    sheet.zoom = 100
    sheet.freeze = (3, 1)


def _list(sheet: SheetPlan, groups: list[Group], col: int, group: str, picture: str) \
        -> tuple[Rect, Rect, tuple[str, str, str]]:
    """The list of groups, one row each from LIST_TOP. Returns its 'picked' column (1 on the picked
    group's row when the picture is one of it, else 0), the sentence for the picked picture (its sheet,
    what, size and cells; "" on every other row), and references to three cells under the list:
    whether a picture is picked, its rows and its columns."""
    here = sheet.title
    sheet.put(LIST_TOP - 2, col, "The pictures you can magnify", "heading")
    for k, heading in enumerate(LIST_COLUMNS):
        sheet.put(LIST_TOP - 1, col + k, heading, "heading")
    letter = {k: column_letter(col + k) for k in range(len(LIST_COLUMNS))}
    for n, g in enumerate(groups):
        row = LIST_TOP + n
        rows, cols = g.size
        pictures = f"{g.first}–{g.last}" if g.last > g.first else str(g.first)
        for k, value in enumerate((n + 1, g.sheet, g.what, g.under, pictures, rows, cols)):
            sheet.put(row, col + k, value, "text")      # names and headings from the model: text, never formulas
        # 1 or 0, not TRUE or FALSE: LibreOffice keeps a logical result as a number, Excel as a logical
        sheet.formula(row, col + PICKED, f"IF(AND({group}={n + 1},{picture}>={g.first},{picture}<={g.last}),1,0)",
                      "text")
        index = f"{picture}-{g.first - 1}" if g.first > 1 else picture
        spans = choose(index, ['"' + _span(p) + '"' for p in g.pictures])
        sheet.formula(row, col + SAID, f'IF({letter[PICKED]}{row},"sheet \'"&{letter[1]}{row}&"\', "&{letter[2]}{row}&'
                                       f'" "&{picture}&", "&{letter[ROWS]}{row}&" × "&{letter[COLUMNS]}{row}&" cells at "&{spans},"")',
                      "label")
    picked = sheet.rect(LIST_TOP, col + PICKED, len(groups), 1)
    row = LIST_TOP + len(groups) + 1
    sheet.put(row, col + 1, "the picked picture: is there one, its rows, its columns", "text")
    ok = sheet.rect(row, col + PICKED, 1, 1)
    sheet.formula(ok.row, ok.col, f"OR({picked.ref(here, True)})", "text")      # worked out once, read by every cell
    for k in (ROWS, COLUMNS):
        column = sheet.rect(LIST_TOP, col + k, len(groups), 1)
        sheet.formula(row, col + k, f"IF({ok.ref(here, True)},{_row_of(column, group, here)},0)", "text")
    helpers = tuple(sheet.rect(row, col + k, 1, 1).ref(here, True) for k in (PICKED, ROWS, COLUMNS))
    return picked, sheet.rect(LIST_TOP, col + SAID, len(groups), 1), helpers


def _row_of(column: Rect, group: str, here: str) -> str:
    """The picked group's cell of a column of the list (IronCalc: no INDEX of one cell)."""
    return f"INDEX({column.ref(here, True)},{group})" if column.rows > 1 else column.ref(here, True)


def _span(picture: Rect) -> str:
    return f"{column_letter(picture.col)}{picture.row}:{column_letter(picture.right)}{picture.bottom}"


def _reference_length(picture: Rect) -> int:
    """Characters of the longest reference to a cell of the picture, with its comma."""
    return len(picture.cell_ref(picture.rows - 1, picture.cols - 1, TITLE)) + 1


def _references_length(group: Group) -> int:
    return sum(map(_reference_length, group.pictures))


def _packed(groups: list[Group]) -> list[list[int]]:
    """Groups of one picture size share a block, up to PER_GROUP pictures in all (the first that
    fits): every block cell a pixel edit changes costs LibreOffice time, so fewer, fuller blocks
    (the learning workbook: 24 groups in 10 blocks, 2,074 cells instead of 5,775)."""
    blocks: list[list[int]] = []
    for n, g in enumerate(groups):
        home = next((b for b in blocks if groups[b[0]].size == g.size
                     and sum(len(groups[m].pictures) for m in b) + len(g.pictures) <= PER_GROUP
                     and sum(_references_length(groups[m]) for m in b) + _references_length(g) <= REFERENCES_LENGTH),
                    None)
        if home is None:
            blocks.append([n])
        else:
            home.append(n)
    return blocks


def _behind_the_scenes(sheet: SheetPlan, groups: list[Group], top: int, shown: Rect, picture: str) -> list[Rect]:
    """Blocks under the big grid, one per picture size (_packed): the picked picture when its group
    is in the block, else "". Each picture cell is read by exactly one cell here. Returns each
    group's block."""
    here = sheet.title
    sheet.put(top - 1, 1, "Behind the scenes: one block per picture size. The block of the picture you picked "
                          "holds its numbers (the number left of the block says which of its pictures); the big "
                          "grid above copies them.", "note")
    of_group: dict[int, Rect] = {}
    row = top
    for members in _packed(groups):
        rows, cols = groups[members[0]].size
        pictures, parts = [], []
        for n in members:
            g = groups[n]
            shift = len(pictures) - (g.first - 1)          # picture k of the group is the block's k + shift
            parts.append(f"IF({shown.cell_ref(n, 0, here, True)},{picture}{shift:+d},0)")
            pictures += g.pictures
        sheet.formula(row, 1, "+".join(parts), "text")         # which of the block's pictures: 0 for none
        index = f"$A${row}"
        for r in range(rows):
            for c in range(cols):
                options = [p.cell_ref(r, c, here) if r < p.rows and c < p.cols else '""' for p in pictures]
                sheet.formula(row + r, GRID_LEFT + c, f'IF({index}>0,{choose(index, options)},"")')
        block = sheet.rect(row, GRID_LEFT, rows, cols)
        of_group.update(dict.fromkeys(members, block))
        row += rows + 1
    sheet.next_row = row
    return [of_group[n] for n in range(len(groups))]
