"""The Guide sheet: what this is, how to use it, the network in a table, the colours."""

from __future__ import annotations

from ..sheet import SheetPlan

STEPS = [
    "1. Go to the Input sheet. Type a number into Sample to load a real handwritten test digit.",
    "2. Draw your own: type numbers into the Canvas cells (delete them to go back to the sample).",
    "3. Walk through the layer sheets, left to right: every cell is a plain formula. Click one to see it.",
    "4. The Output sheet shows the probability of each class and the network's prediction.",
    "5. Change a weight, or switch a filter off (its 'on' cell to 0), and watch the prediction change.",
    "If nothing updates, press F9 (Excel) or Ctrl+Shift+F9 (LibreOffice) to recalculate.",
]

LEGEND = [
    ("input", "Pixels: grayscale pictures; the yellow Canvas is where you type"),
    ("layer", "Feature maps and values: light = low, dark blue = high"),
    ("weights", "Weights: red = negative, white = zero, blue = positive; editable"),
    ("output", "Probabilities as bars; the prediction is highlighted"),
]

TABLE_HEADER = ["sheet", "layer", "type", "what each cell computes", "output shape", "parameters", "formula cells"]


def emit_guide(sheet: SheetPlan, model_name: str, rows: list[list], source: str, sha256: str,
               skipped: list[tuple[str, str]]) -> None:
    sheet.line("excelnet: a neural network made of spreadsheet formulas", "title")
    sheet.line(f"This workbook is the trained model '{model_name}'. It reads a picture and says which class it "
               "shows, using only additions, multiplications, MAX and EXP.", "note")
    sheet.line("No macros: every number you see is either a weight, an input pixel, or a formula you can read.",
               "note", skip=1)
    sheet.line("How to use it", "heading")
    for step in STEPS:
        sheet.line(step)
    sheet.next_row += 1
    sheet.line("The network", "heading")
    header = sheet.next_row
    for k, title in enumerate(TABLE_HEADER):
        sheet.put(header, 1 + k, title, "heading")
    for r, row in enumerate(rows):
        for k, value in enumerate(row):
            sheet.put(header + 1 + r, 1 + k, value)
    sheet.next_row = header + len(rows) + 2
    if skipped:
        names = ", ".join(f"{name} ({cls})" for name, cls in skipped)
        sheet.line(f"Not shown: {names}; they do nothing once the network is trained.", "note", skip=1)
    sheet.line("Colours", "heading")
    for kind, text in LEGEND:
        row = sheet.line(kind, f"tab-{kind}")
        sheet.put(row, 2, text)
    sheet.next_row += 1
    row = sheet.line("model file", "label")
    sheet.put(row, 2, source)
    sheet.names["ModelSource"] = sheet.rect(row, 2, 1, 1)
    row = sheet.line("model SHA-256", "label")
    sheet.put(row, 2, sha256)
    sheet.names["ModelSHA256"] = sheet.rect(row, 2, 1, 1)
    sheet.wide_columns = {1: 22, 2: 24, 3: 20, 4: 60, 5: 14, 6: 12, 7: 13}
