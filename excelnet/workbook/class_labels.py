"""Class names (0–9, or --labels) where the last layer's units are the classes: its own sheet, its
Back sheet and its part of 'After the step' say "class 3" where the layer's code wrote "unit 4".

One pass over the finished sheets, so the layers' own code (shared by every layer, where a unit
is just a unit) stays as it is."""

from __future__ import annotations

from ..sheet import SheetPlan, Text


def _text(value) -> str | None:
    return value.value if isinstance(value, Text) else value if isinstance(value, str) else None


def _is_unit_header(sheet: SheetPlan, row: int, count: int) -> bool:
    """'unit' in column A, then 1, 2, ..., count along the row."""
    cells = sheet.cells
    if _text(cells.get((row, 1))) != "unit":
        return False
    return all(str(getattr(cells.get((row, 2 + k)), "value", cells.get((row, 2 + k)))) == str(k + 1)
               for k in range(count)) and (row, 2 + count) not in cells


def name_classes(sheet: SheetPlan, names: list, first_row: int = 1, last_row: int | None = None) -> int:
    """Rename the unit labels of rows first_row..last_row; returns how many labels changed."""
    count, changed = len(names), 0
    last_row = last_row or max((r for r, _ in sheet.cells), default=0)
    for row in range(first_row, last_row + 1):
        if _is_unit_header(sheet, row, count):
            sheet.cells[(row, 1)] = Text("class")
            for k, name in enumerate(names):
                sheet.cells[(row, 2 + k)] = name if isinstance(name, int) else Text(str(name))
            changed += count
            continue
        label = _text(sheet.cells.get((row, 1)))
        if label and label.startswith("unit ") and label[5:].isdigit() and 1 <= int(label[5:]) <= count:
            sheet.cells[(row, 1)] = Text(f"class {names[int(label[5:]) - 1]}")
            changed += 1
    return changed


def header_above(sheet: SheetPlan, row: int, names: list, style: str = "label") -> None:
    """'class' and the names in the row above a row of one value per class, when that row is free."""
    above = row - 1
    if above < 1 or any((above, c) in sheet.cells for c in range(1, len(names) + 2)):
        return
    sheet.put(above, 1, "class", style)
    for k, name in enumerate(names):
        sheet.put(above, 2 + k, name, style)


def label_last_layer(sheets: list[SheetPlan], index: int, layer_name: str, names: list) -> None:
    """The last layer (number `index`)'s sheets get the class names."""
    by_title = {s.title: s for s in sheets}
    for title in (f"{index} {layer_name}", f"Back {index} {layer_name}"):
        if title in by_title:
            name_classes(by_title[title], names)
    back = by_title.get(f"Back {index} {layer_name}")
    if back is not None:            # the gradient before the softmax: one value per class, row 5
        first = min((r for (r, c), v in back.cells.items() if c == 2 and not isinstance(v, Text)), default=None)
        if first is not None:
            header_above(back, first, names)
    after = by_title.get("After the step")
    if after is not None:
        heading = f"Layer {index}: "
        start = next((r for (r, c), v in sorted(after.cells.items()) if c == 1 and
                      (_text(v) or "").startswith(heading)), None)
        if start is not None:
            name_classes(after, names, start)
