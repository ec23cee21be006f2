"""The 'One weight' sheet of a --learn workbook: one weight, picked with yellow cells, and the rule
of gradient descent written out with its numbers: new = old − rate × gradient.

A student types a layer, a unit (filter or unit), and the row and column of the weight inside
that unit's block, as the layer's sheet shows it ("filter 3", "unit 12"). The sheet reads the old
value from the layer's sheet, the gradient from the Back (or gradients) sheet at the same place,
the learning rate from the Output sheet and the new value from the Step sheet (or, for a big
Dense kernel that the Step sheet does not copy, old − rate × gradient), beside the loss before
and after the step. The unit's bias gets the same three numbers.

Only functions every engine here knows (INDEX, CHOOSE, MATCH, FIXED, MID, ...): the sheet is
checked like every other one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import Rect, column_letter
from ..ops import Network
from ..ops.base import Book, Params, SteppedWeights, WeightCells
from ..sheet import CONTROL, SheetPlan
from ..text import formula_string

TITLE = "One weight"
CHOOSE_AT_MOST = 30       # LibreOffice's CHOOSE takes at most 30 values: more units are chosen in steps
LETTERS = '"ABCDEFGHIJKLMNOPQRSTUVWXYZ"'
TABLE_COL = 20            # the one-row-per-layer table, out of the way on the right
PICKS = ("WeightLayer", "WeightUnit", "WeightRow", "WeightColumn")


@dataclass(frozen=True)
class PickableLayer:
    """A layer whose first array is a kernel with one block per unit (its last axis), and
    perhaps a bias of one number per unit."""

    index: int
    name: str
    noun: str                     # filter / unit
    weights: WeightCells
    grads: WeightCells
    new: WeightCells | None       # None: the Step sheet does not copy it (old − rate × gradient here)
    bias: tuple[WeightCells, WeightCells, WeightCells | None] | None

    @property
    def units(self) -> int:
        return self.weights.shape[-1]

    @property
    def block(self) -> tuple[int, int]:
        return max(a.rows for a in self.weights.areas), max(a.cols for a in self.weights.areas)


def one_block_per_unit(cells: WeightCells) -> bool:
    """Every unit's weights fill one area of their own (unit u ↔ area u): a (unit, row, column)
    pick then names exactly one cell."""
    if len(cells.shape) < 2 or len(cells.areas) != cells.shape[-1]:
        return False
    units = np.moveaxis(cells.area_index, -1, 0).reshape(cells.shape[-1], -1)
    return bool(np.all(units == np.arange(cells.shape[-1])[:, None]))


def unit_kernels(network: Network, params: dict[int, Params]):
    """(layer number, op, its noun: filter / unit, its weight arrays) of every layer whose first
    array is a kernel with one block per unit: One weight picks from them, the Magnifier shows them."""
    from .learning import NOUNS

    for index, op in enumerate(network.ops, start=1):
        arrays = params.get(index, Params()).arrays
        if arrays and isinstance(arrays[0], WeightCells) and one_block_per_unit(arrays[0]):
            yield index, op, NOUNS.get(op.title, "unit"), arrays


def pickable_layers(network: Network, params: dict[int, Params], grads: dict[int, tuple[WeightCells, ...]],
                    updated: dict[int, Params]) -> list[PickableLayer]:
    layers = []
    for index, op, noun, arrays in unit_kernels(network, params):
        new = [a if isinstance(a, WeightCells) and a is not old else None
               for a, old in zip(updated[index].arrays, arrays)]
        bias = None
        if len(arrays) > 1 and arrays[1].shape == (arrays[0].shape[-1],):
            bias = (arrays[1], grads[index][1], new[1])
        layers.append(PickableLayer(index, op.name, noun, arrays[0], grads[index][0], new[0], bias))
    return layers


def choose(which: str, options: list[str]) -> str:
    """CHOOSE(which, options...), in steps of at most CHOOSE_AT_MOST options (LibreOffice's CHOOSE
    answers an error for more than 30)."""
    if len(options) == 1:
        return options[0]
    if len(options) <= CHOOSE_AT_MOST:
        return f"CHOOSE({which},{','.join(options)})"
    size = CHOOSE_AT_MOST
    while len(options) > size * CHOOSE_AT_MOST:
        size *= CHOOSE_AT_MOST
    groups = [options[k:k + size] for k in range(0, len(options), size)]
    inner = [choose(f"{which}-{k * size}" if k else which, g) for k, g in enumerate(groups)]
    return f"CHOOSE(INT(({which}-1)/{size})+1,{','.join(inner)})"


def _picked(cells: WeightCells, unit: str, row: str, col: str, here: str) -> str:
    """The value at (row, col) of unit `unit`'s block."""
    return choose(unit, [area.ref(here, True) if area.rows == area.cols == 1   # IronCalc and Gnumeric:
                          else f"INDEX({area.ref(here, True)},{row},{col})"        # INDEX(one cell,1,1) is #REF!
                          for area in cells.areas])


def _picked_bias(cells: WeightCells, unit: str, here: str) -> str:
    return choose(unit, [cells.ref((u,), here) for u in range(cells.shape[0])])


def _address(cells: WeightCells, unit: str, row: str, col: str) -> str:
    """Text: 'sheet'!B67, the cell the pick names (column letters written out with MID: no ADDRESS,
    which not every engine here has)."""
    top = choose(unit, [str(a.row) for a in cells.areas])
    left = choose(unit, [str(a.col) for a in cells.areas])
    c = f"({left}+{col}-1)"
    letters = (f'IF({c}>26,MID({LETTERS},INT(({c}-1)/26),1),"")&MID({LETTERS},MOD({c}-1,26)+1,1)')
    sheet = cells.sheet.replace("'", "''")
    return f"{formula_string(chr(39) + sheet + chr(39) + '!')}&{letters}&({top}+{row}-1)"


def _bias_address(cells: WeightCells, unit: str) -> str:
    sheet = cells.sheet.replace("'", "''")
    texts = [formula_string(f"'{sheet}'!{column_letter(c)}{r}") for r, c in cells.positions()]
    return choose(unit, texts)


def shown(x: str) -> str:
    """A number as text with enough significant digits: 6 decimals, or 6 significant digits and a
    power of ten for a tiny one (a gradient of 1e-6 must not read 0.000000); a negative one in
    brackets, so that "− 0.01 × (−0.2)" reads as arithmetic."""
    exponent = f"INT(LN(ABS({x}))/LN(10))"
    text = (f'IF({x}=0,"0",IF(ABS({x})>=0.001,FIXED(ABS({x}),6,TRUE),'
            f'FIXED(ABS({x})/10^{exponent},5,TRUE)&"×10^"&{exponent}))')
    return f'IF({x}<0,"(−"&{text}&")",{text})'


COLUMNS = ("layer", "units", "rows", "columns", "weight", "gradient", "new", "weight cell", "gradient cell",
           "bias", "bias gradient", "bias new", "bias cell", "bias gradient cell")


def emit_worked_weight(book: Book, layers: list[PickableLayer], rate: Rect, loss: Rect, loss_after: Rect,
                       position: int) -> SheetPlan | None:
    """The sheet, placed at `position` in the book (after Step). None when no layer has a kernel
    with one block per unit."""
    if not layers:
        return None
    sheet = book.add_sheet(TITLE, "step")
    book.sheets.insert(position, book.sheets.pop())
    here = sheet.title
    sheet.line("One weight: how one step of learning changes it", "title")
    sheet.line("Type a layer, a unit (a filter or a unit), and the row and column of one weight inside that "
               "unit's block, as its sheet shows it (\"filter 3\", \"unit 12\"). Rows and columns count from 1.",
               "note")
    sheet.line("Learning moves every weight a little against its gradient: new = old − rate × gradient. "
               "Here is that rule for the weight you picked, with its numbers.", "note", skip=1)
    first = layers[0]
    top = sheet.next_row
    defaults = (first.index, 1, 1, 1)
    labels = ("Layer (its number)", "Unit (filter or unit)", "Row in the block", "Column in the block")
    choices = ", ".join(str(l.index) for l in layers)
    hints = (f"← layers with weights: {choices}", "← which filter or unit", "← counting from the top",
             "← counting from the left")
    refs = []
    for k, (label, name, value, hint) in enumerate(zip(labels, PICKS, defaults, hints)):
        sheet.put(top + k, 1, label, "heading")
        sheet.put(top + k, 2, value)
        rect = sheet.block(sheet.rect(top + k, 2, 1, 1), CONTROL)
        sheet.names[name] = rect
        sheet.row_heights[top + k] = 22
        refs.append(rect.ref(here, True))
        sheet.put(top + k, 3, hint, "note")
    table = _table(sheet, layers, refs[1:], top, rate)
    layer = refs[0]
    found = f"MATCH({layer},{table['layer'].ref(here, True)},0)"

    def pick(column: str) -> str:
        return f"INDEX({table[column].ref(here, True)},{found})"

    ok = (f"IF(ISNUMBER({found}),AND({refs[1]}>=1,{refs[1]}<={pick('units')},{refs[2]}>=1,{refs[2]}<={pick('rows')},"
          f"{refs[3]}>=1,{refs[3]}<={pick('columns')}),FALSE)")   # AND reads every argument: no INDEX of #N/A
    row = top + len(PICKS) + 1
    sheet.put(row, 1, "Your pick", "heading")
    sheet.formula(row, 2, f'IF(ISNUMBER({found}),IF({ok},"the weight in cell "&{pick("weight cell")}&", its gradient '
                          f'in cell "&{pick("gradient cell")},"pick a unit from 1 to "&{pick("units")}&", a row from 1 '
                          f'to "&{pick("rows")}&" and a column from 1 to "&{pick("columns")}),"layer "&{layer}&" has '
                          f'no weights to pick: try {choices}")', "note")
    row += 2
    rows = [("WeightOld", "old value", "weight", "from the layer's sheet"),
            ("WeightGradient", "gradient", "gradient", "from its Back sheet: how the loss changes when this weight "
                                                       "grows (positive: growing it raises the loss)"),
            ("LearningRate", "learning rate", None, "from the Output sheet: how big a step"),
            ("WeightNew", "new value", "new", "from the Step sheet: old − rate × gradient")]
    _rule_rows(sheet, row, rows, pick, ok, rate, "weight")
    row += len(rows)
    sheet.formula(row, 2, f'IF({ok},"new = old − rate × gradient = "&{shown("B" + str(row - 4))}&" − "&'
                          f'{shown("B" + str(row - 2))}&" × "&{shown("B" + str(row - 3))}&" = "&'
                          f'{shown("B" + str(row - 1))},"")', "note")
    sheet.names["WeightRule"] = sheet.rect(row, 2, 1, 1)
    row += 2
    if any(l.bias is not None for l in layers):
        sheet.put(row, 1, "The unit's bias", "heading")
        sheet.formula(row, 2, f'IF({ok},"cell "&{pick("bias cell")}&", its gradient in cell "&'
                              f'{pick("bias gradient cell")},"")', "note")
        row += 1
        bias_rows = [("BiasOld", "old bias", "bias", ""), ("BiasGradient", "its gradient", "bias gradient", ""),
                     ("BiasNew", "new bias", "bias new", "old − rate × gradient")]
        _rule_rows(sheet, row, bias_rows, pick, ok, rate, "bias")
        row += len(bias_rows) + 1
    sheet.put(row, 1, "Loss before the step", "heading")
    sheet.formula(row, 2, loss.ref(here, True), "precise")
    sheet.put(row + 1, 1, "Loss after the step", "heading")
    sheet.formula(row + 1, 2, loss_after.ref(here, True), "precise")
    sheet.put(row + 1, 3, "← every weight took its step at once; this is the whole network's loss after it "
                          "(Output sheet)", "note")
    sheet.put(top - 1, TABLE_COL - 1, "behind the scenes: the pick in every layer with weights", "label")
    sheet.wide_columns.update({1: 24, 2: 18, 3: 60, TABLE_COL - 1: 10,
                               **{TABLE_COL + k: 12 if k < 7 else 16 for k in range(len(COLUMNS))}})
    sheet.freeze = (2, 1)
    return sheet


def _rule_rows(sheet: SheetPlan, row: int, rows, pick, ok: str, rate: Rect, what: str) -> None:
    here = sheet.title
    for k, (name, label, column, note) in enumerate(rows):
        sheet.put(row + k, 1, label, "heading")
        value = rate.ref(here, True) if column is None else pick(column)
        sheet.formula(row + k, 2, f'IF({ok},{value},"")', "precise")
        if column is not None:                  # the rate keeps its one name, on the Output sheet
            sheet.names[name] = sheet.rect(row + k, 2, 1, 1)
        if note:
            sheet.put(row + k, 3, note, "note")


def _table(sheet: SheetPlan, layers: list[PickableLayer], picks: list[str], top: int, rate: Rect) -> dict[str, Rect]:
    """One row per pickable layer, far right: its sizes, and the picked weight's numbers and cells."""
    unit, row, col = picks
    here = sheet.title
    for k, heading in enumerate(COLUMNS):
        sheet.put(top - 1, TABLE_COL + k, heading, "label")
    rate = rate.ref(here, True)
    for n, layer in enumerate(layers):
        r = top + n
        rows, cols = layer.block
        weight = _picked(layer.weights, unit, row, col, here)
        gradient = _picked(layer.grads, unit, row, col, here)
        new = (_picked(layer.new, unit, row, col, here) if layer.new is not None
               else f"{column_letter(TABLE_COL + 4)}{r}-{rate}*{column_letter(TABLE_COL + 5)}{r}")
        guard = f"AND({unit}>=1,{unit}<={layer.units},{row}>=1,{row}<={rows},{col}>=1,{col}<={cols})"
        values = [str(layer.index), str(layer.units), str(rows), str(cols), weight, gradient, new,
                  _address(layer.weights, unit, row, col), _address(layer.grads, unit, row, col)]
        if layer.bias is not None:
            old_b, grad_b, new_b = layer.bias
            values += [_picked_bias(old_b, unit, here), _picked_bias(grad_b, unit, here),
                       _picked_bias(new_b, unit, here) if new_b is not None
                       else f"{column_letter(TABLE_COL + 9)}{r}-{rate}*{column_letter(TABLE_COL + 10)}{r}",
                       _bias_address(old_b, unit), _bias_address(grad_b, unit)]
        else:
            values += ['""'] * 5
        for k, value in enumerate(values):
            if k < 4:
                sheet.put(r, TABLE_COL + k, int(value))
            else:
                sheet.formula(r, TABLE_COL + k, f'IF({guard},{value},"")' if k >= 4 else value)
        sheet.put(r, TABLE_COL - 1, layer.name, "label")
    return {heading: sheet.rect(top, TABLE_COL + k, len(layers), 1) for k, heading in enumerate(COLUMNS)}
