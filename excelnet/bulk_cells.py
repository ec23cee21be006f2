"""Write the bulk of a workbook's cells straight into the sheets' XML.

openpyxl builds an object for every cell (about 10 µs each); a workbook holds tens of
thousands of weights and formulas that share a handful of looks. Those cells are
collected here as ready XML text instead, and merged, row by row, into the sheets
openpyxl wrote. writer.py decides which cells go this way."""

from __future__ import annotations

import re
import zipfile
from collections import defaultdict
from pathlib import Path
from xml.sax.saxutils import escape

from .layout import address

SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>(.*?)</sheetData>", re.S)
ROW = re.compile(rb'<row r="(\d+)"([^>]*?)(?:/>|>(.*?)</row>)', re.S)
CELL = re.compile(rb'<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')


class BulkCells:
    """Numbers and formulas of one sheet, as XML, by row."""

    def __init__(self):
        self.rows: dict[int, list[tuple[int, bytes]]] = defaultdict(list)

    def __len__(self) -> int:
        return sum(len(cells) for cells in self.rows.values())

    def number(self, row: int, col: int, value: float, style: int) -> None:
        self.rows[row].append((col, f'<c r="{address(row, col)}" s="{style}"><v>{value!r}</v></c>'.encode()))

    def formula(self, row: int, col: int, expression: str, style: int, value=None) -> None:
        """A formula with its cached value (what a viewer that does not calculate shows;
        the workbook still recalculates on opening): a float, str, bool, XLError or None."""
        xml = f'<c r="{address(row, col)}" s="{style}"{_cached(value)}'.replace("\x00", escape(expression), 1)
        self.rows[row].append((col, xml.encode()))


def _cached(value) -> str:
    """The rest of a formula cell's XML after its style; \x00 stands for the formula text."""
    kind = type(value)
    if kind is float:
        return f"><f>\x00</f><v>{value!r}</v></c>"
    if kind is str:
        return f' t="str"><f>\x00</f><v>{escape(value)}</v></c>'
    if kind is bool:
        return f' t="b"><f>\x00</f><v>{int(value)}</v></c>'
    if value is None:
        return "><f>\x00</f><v></v></c>"
    return f' t="e"><f>\x00</f><v>{escape(str(value))}</v></c>'   # an error value such as #DIV/0!


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def merge_sheet(xml: bytes, bulk: BulkCells, dimension: str) -> bytes:
    """The sheet XML with the bulk cells added to openpyxl's rows, in column order."""
    match = SHEET_DATA.search(xml)
    rows: dict[int, tuple[bytes, list[tuple[int, bytes]]]] = {}
    for row in ROW.finditer(match.group(1) or b""):
        cells = [(_column(cell.group(1)), cell.group(0)) for cell in CELL.finditer(row.group(3) or b"")]
        rows[int(row.group(1))] = (row.group(2), cells)
    parts = [b"<sheetData>"]
    for number in sorted(set(rows) | set(bulk.rows)):
        attributes, cells = rows.get(number, (b"", []))
        cells = sorted(cells + bulk.rows.get(number, []), key=lambda cell: cell[0])
        parts.append(b'<row r="%d"%s>' % (number, attributes) + b"".join(xml for _, xml in cells) + b"</row>")
    parts.append(b"</sheetData>")
    xml = xml[:match.start()] + b"".join(parts) + xml[match.end():]
    return DIMENSION.sub(f'<dimension ref="{dimension}"/>'.encode(), xml, count=1)


def patch_workbook(path: str | Path, sheets: dict[str, tuple[BulkCells, str]]) -> None:
    """Merge bulk cells into the saved workbook at `path` (sheet part name -> cells, dimension)."""
    path = Path(path)
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            if info.filename in sheets:
                bulk, dimension = sheets[info.filename]
                data = merge_sheet(data, bulk, dimension)
            target.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
