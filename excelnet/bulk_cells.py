"""Write the bulk of a workbook's cells straight into the sheets' XML.

openpyxl builds an object for every cell (about 10 µs each); a workbook holds tens of
thousands of weights, formulas and texts that share a handful of looks. Those cells are
collected here as ready XML text instead, a whole sheet's worth at a time (one list
comprehension, one escape of all formula text), and merged, row by row, into the
sheets openpyxl wrote. writer.py decides which cells go this way."""

from __future__ import annotations

import copy
import re
import zipfile
from operator import itemgetter
from pathlib import Path
from typing import Callable
import numpy as np

from .layout import column_letter

SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>(.*?)</sheetData>", re.S)
ROW = re.compile(r'<row r="(\d+)"([^>]*?)(?:/>|>(.*?)</row>)', re.S)
CELL = re.compile(r'<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
# openpyxl writes a styled cell without a value as a number with no value; IronCalc reads that as 0.
EMPTY_NUMBER = re.compile(rb'(<c r="[A-Z]+\d+"(?: s="\d+")?) t="n"(?:/>|></c>)')
_NOT_PLAIN = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")
_PRESERVE = ' xml:space="preserve"'


class BulkCells:
    """Numbers and formulas of one sheet: where each goes, and its XML."""

    def __init__(self):
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.xml: list[str] = []
        self.widths: dict[int, float] = {}      # column -> width, for the sheet's <cols>

    def __len__(self) -> int:
        return len(self.xml)

    def numbers(self, rows: list[int], cols: list[int], values: list, styles: list[int]) -> None:
        """Plain numbers (float or int), stored exactly (repr)."""
        letters = _letters(cols)
        self._add(rows, cols, [f'<c r="{letters[c]}{r}" s="{s}"><v>{v!r}</v></c>'
                               for r, c, v, s in zip(rows, cols, values, styles)])

    def value_block(self, row: int, col: int, numbers: np.ndarray, style: int) -> None:
        """A block of plain numbers (SheetPlan.values), one entry per row of it: the XML of the
        row's cells in one string, made by one str.format of a template per row (10^6 weights)."""
        height, width = numbers.shape
        letters = _letters([col + width - 1])
        template = "".join(f'<c r="{letters[c]}{{0}}" s="{style}"><v>{{{k}}}</v></c>'
                           for k, c in enumerate(range(col, col + width), start=1))
        texts = list(map(repr, numbers.reshape(-1).tolist()))     # exact, as numbers() writes them
        rows = list(range(row, row + height))
        self._add(rows, [col] * height, [template.format(r, *texts[k * width:(k + 1) * width])
                                         for k, r in enumerate(rows)])

    def formulas(self, rows: list[int], cols: list[int], expressions: list[str], styles: list[int],
                 values: list | None = None) -> None:
        """Formulas with their cached values (what a viewer that does not calculate shows; the
        workbook still recalculates on opening): each a float, str, bool, XLError or None."""
        self.add_formulas(self.prepare_formulas(rows, cols, expressions, styles), values)

    @staticmethod
    def prepare_formulas(rows: list[int], cols: list[int], expressions: list[str], styles: list[int]) -> tuple:
        """formulas() in two halves: the XML that does not depend on the values, made while they
        are still being worked out (convert.build), then add_formulas() with them."""
        letters = _letters(cols)
        heads = [f'<c r="{letters[c]}{r}" s="{s}"' for r, c, s in zip(rows, cols, styles)]
        return rows, cols, heads, _escape_all(expressions)

    def add_formulas(self, prepared: tuple, values: list | None = None) -> None:
        rows, cols, heads, texts = prepared
        values = values if values is not None else [None] * len(rows)
        if len(values) != len(rows):
            raise ValueError(f"{len(values)} cached values for {len(rows)} formulas")
        self._add(rows, cols, [f"{h}><f>{e}</f><v>{v!r}</v></c>" if type(v) is float
                               else h + _cached(v).replace("\x00", e, 1)
                               for h, e, v in zip(heads, texts, values)])

    def texts(self, rows: list[int], cols: list[int], values: list[str], styles: list[int | None]) -> None:
        """Text as inline strings, byte for byte as openpyxl (lxml) writes them: style None for an
        unstyled cell, xml:space="preserve" where the text starts or ends with white space, and
        characters beyond ASCII as &#number; references. Only for texts that plain_text accepts."""
        letters = _letters(cols)
        styled = ["" if s is None else f' s="{s}"' for s in styles]
        escaped = [e.encode("ascii", "xmlcharrefreplace").decode() if not e.isascii() else e for e in _escape_all(values)]
        self._add(rows, cols, [f'<c r="{letters[c]}{r}"{s} t="inlineStr"><is><t{_PRESERVE if v != v.strip() else ""}>'
                               f'{e}</t></is></c>' for r, c, v, e, s in zip(rows, cols, values, escaped, styled)])

    @staticmethod
    def plain_text(text: str) -> bool:
        """A text whose XML is just its characters with &, < and > escaped (lxml writes a carriage
        return as &#13; and refuses control characters: those stay with openpyxl)."""
        return bool(text) and not _NOT_PLAIN.search(text)

    def number(self, row: int, col: int, value: float, style: int) -> None:
        self.numbers([row], [col], [value], [style])

    def formula(self, row: int, col: int, expression: str, style: int, value=None) -> None:
        self.formulas([row], [col], [expression], [style], [value])

    def _add(self, rows: list[int], cols: list[int], xml: list[str]) -> None:
        self.rows += rows
        self.cols += cols
        self.xml += xml


def escape(text: str) -> str:
    """&, < and > as XML entities, as xml.sax.saxutils.escape does (importing that module pulls in
    urllib.request and http.client: 20 ms of every build)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _letters(cols: list[int]) -> list[str]:
    """Column letters by column number, for every column up to the last one used."""
    return [column_letter(c) for c in range(max(cols, default=0) + 1)]


def _escape_all(expressions: list[str]) -> list[str]:
    """escape() of each text, done once over all of them (the separator never occurs in a formula)."""
    if not expressions:
        return []
    joined = "\x00".join(expressions)
    parts = escape(joined).split("\x00")
    return parts if len(parts) == len(expressions) else [escape(e) for e in expressions]


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


def _column(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def _columns(widths: dict[int, float]) -> str:
    """<cols> as openpyxl writes it (just before <sheetData>): a <col> per column in order, the
    width as '%.16g'; a column of width 0 is left out, and <cols> when there is none."""
    cols = [f'<col width="{float(width):.16g}" customWidth="1" min="{col}" max="{col}"/>'
            for col, width in sorted(widths.items()) if width]
    return f"<cols>{''.join(cols)}</cols>" if cols else ""


def merge_sheet(xml: bytes, bulk: BulkCells, dimension: str) -> bytes:
    """The sheet XML with the bulk cells added to openpyxl's rows, in column order."""
    return b"".join(merged_pieces(xml, bulk, dimension))


def merged_pieces(xml: bytes, bulk: BulkCells, dimension: str):
    """merge_sheet() in pieces, a few hundred rows each, to be written as they come: a sheet of
    10^6 weights is 60 MB of XML, and joining, encoding and splicing it made three more copies."""
    match = SHEET_DATA.search(xml)
    written: dict[int, tuple[str, list[tuple[int, str]]]] = {}
    for row in ROW.finditer((match.group(1) or b"").decode()):
        cells = [(_column(cell.group(1)), cell.group(0)) for cell in CELL.finditer(row.group(3) or "")]
        written[int(row.group(1))] = (row.group(2), cells)
    rows, cols = np.array(bulk.rows, np.int64), np.array(bulk.cols, np.int64)
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    cells = [bulk.xml[i] for i in order.tolist()]
    starts = np.flatnonzero(np.diff(rows, prepend=-1)).tolist()
    spans = dict(zip(rows[starts].tolist(), zip(starts, starts[1:] + [len(rows)])))
    head = DIMENSION.sub(f'<dimension ref="{dimension}"/>'.encode(), xml[:match.start()], count=1)
    yield head + (_columns(bulk.widths) + "<sheetData>").encode()
    parts = []
    for number in sorted(set(written) | set(spans)):
        attributes, own = written.get(number, ("", []))
        start, end = spans.get(number, (0, 0))
        if own:
            merged = sorted(own + list(zip(cols[start:end].tolist(), cells[start:end])), key=itemgetter(0))
            body = "".join(text for _, text in merged)
        else:
            body = "".join(cells[start:end])
        parts.append(f'<row r="{number}"{attributes}>{body}</row>')
        if len(parts) == 256:
            yield "".join(parts).encode()
            parts = []
    parts.append("</sheetData>")
    yield "".join(parts).encode()
    yield xml[match.end():]


def empty_cells_untyped(xml: bytes) -> bytes:
    """A styled empty cell (the Canvas, the Stroke lines) as empty: its style and no type. openpyxl
    writes <c r=".." s=".." t="n"></c>, which IronCalc reads as the number 0, not a blank, so the
    network saw a blank picture there and the Sample never showed through the Canvas."""
    return EMPTY_NUMBER.sub(rb"\1/>", xml)


PREFIX_DECLARATION = re.compile(rb' xmlns:([A-Za-z0-9_]+)="([^"]*)"')
ROOT_TAG_END = re.compile(rb"<(?![?!])[^>]*?(/?)>")


def namespaces_on_root(xml: bytes) -> bytes:
    """A chart or drawing part with every `xmlns:p` declared on its root element. openpyxl declares
    `a:` and `c:` on the elements that use them; Gnumeric knows only the root's declarations, so
    it dropped the Training sheet's loss chart ("Unexpected element 'a:graphic'"). Left as it is
    when one prefix stands for two namespaces."""
    declared = dict(PREFIX_DECLARATION.findall(xml))
    if len(declared) != len(set(PREFIX_DECLARATION.findall(xml))):
        return xml
    root = ROOT_TAG_END.search(xml)
    if root is None or root.group(1):
        return xml
    head, body = xml[:root.end() - 1], PREFIX_DECLARATION.sub(b"", xml[root.end() - 1:])
    head = PREFIX_DECLARATION.sub(b"", head)
    return head + b"".join(b' xmlns:%s="%s"' % item for item in declared.items()) + body


def patch_workbook(saved, path: str | Path, sheets: dict[str, tuple[BulkCells, str]],
                   waiting: "set[str] | frozenset[str]" = frozenset(),
                   finish: "Callable[[], dict[str, tuple[BulkCells, str]]] | None" = None) -> None:
    """Write the workbook openpyxl `saved` (a path or file object) to `path`, compressed, with the
    bulk cells merged into its sheets (sheet part name -> cells, dimension).

    The parts named in `waiting` are written last, after finish() has completed their cells and
    returned `sheets` anew: everything else is merged and compressed first, while the cached
    values are still being worked out (convert.build). Part order in a package carries no meaning."""
    with zipfile.ZipFile(saved) as source:
        parts = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(Path(path), "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            if info.filename not in waiting:
                _write_part(target, info, data, sheets)
        if finish is not None:
            sheets = finish()
        for info, data in parts:
            if info.filename in waiting:
                _write_part(target, info, data, sheets)


def _write_part(target: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes,
                sheets: dict[str, tuple[BulkCells, str]]) -> None:
    if info.filename.startswith("xl/worksheets/") and b't="n"></c>' in data:
        data = empty_cells_untyped(data)
    if info.filename.startswith(("xl/drawings/", "xl/charts/")) and info.filename.endswith(".xml"):
        data = namespaces_on_root(data)
    # level 1: a quarter of the time of the default level 6 for a 15% larger file
    if info.filename not in sheets:
        target.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
        return
    bulk, dimension = sheets[info.filename]
    info = copy.copy(info)
    info.compress_type = zipfile.ZIP_DEFLATED
    for name in ("compress_level", "_compresslevel"):   # what writestr(compresslevel=1) sets: its
        if hasattr(info, name):                        # public name from Python 3.13, before that private
            setattr(info, name, 1)
            break
    with target.open(info, "w") as stream:
        for piece in merged_pieces(data, bulk, dimension):
            stream.write(piece)
