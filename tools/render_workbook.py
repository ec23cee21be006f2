"""Render sheets of an excelnet workbook to PNG pictures, the way LibreOffice shows them.

    .venv/bin/python tools/render_workbook.py                  # default model -> docs/images/
    .venv/bin/python tools/render_workbook.py -m model.keras --samples digits.npz --sample 3

Builds the workbook (or takes one with --workbook), then, on a temporary copy:
sets Sample, hides every sheet that is not wanted, and gives each wanted sheet a
landscape page that fits its print area on one page. `soffice --headless
--convert-to pdf` then recalculates and prints it, one page per picture, and
`pdftoppm` turns each page into an image whose white border is trimmed.

Needs LibreOffice (soffice) and poppler-utils (pdftoppm) on the PATH; no macros,
no extra Python packages (PNG is written with zlib). Install fonts-crosextra-carlito
too: Carlito has Calibri's metrics, so cells come out as square as in Excel (without
it LibreOffice substitutes a wider font and the tool warns)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PICTURES = ["guide=Guide", "input=Input", "layer=@1", "output=Output"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workbook", type=Path, help="an existing excelnet .xlsx (default: build one)")
    parser.add_argument("-m", "--model", help="Keras model to build from (default: the shipped MNIST CNN)")
    parser.add_argument("--samples", help=".npz of sample inputs (x) and labels (y)")
    parser.add_argument("--labels", help="class names, comma separated")
    parser.add_argument("--sample", type=int, default=1, help="the Sample to show (default 1)")
    parser.add_argument("--stroke", action="append", default=[], metavar="R0,C0,R1,C1",
                        help="draw a line of ink (1) on the Canvas from row R0, column C0 to R1, C1 "
                             "(0-based, inside the canvas); may be repeated")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="type a number into a named cell first (e.g. ExplainLayer=3); may be repeated")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNGs")
    parser.add_argument("--dpi", type=int, default=110, help="resolution of the pictures")
    parser.add_argument("pictures", nargs="*", default=DEFAULT_PICTURES,
                        help="NAME=SHEET[!A1:Z40]: one picture per sheet, optionally of a range; "
                             "SHEET '@k' is the k-th layer sheet (default: %(default)s)")
    return parser.parse_args(argv)


def build_workbook(args, folder: Path) -> Path:
    from excelnet.convert import build

    labels = [part.strip() for part in args.labels.split(",")] if args.labels else None
    return build(args.model, folder / "workbook.xlsx", labels, args.samples).path


def resolve(workbook, pictures: list[str]) -> list[tuple[str, str, str | None]]:
    """(picture name, sheet title, range or None) for each NAME=SHEET[!RANGE]."""
    layers = [ws.title for ws in workbook.worksheets if ws.title[:1].isdigit()]
    wanted = []
    for spec in pictures:
        name, _, target = spec.partition("=")
        sheet, _, area = target.partition("!")
        if sheet.startswith("@"):
            sheet = layers[int(sheet[1:]) - 1]
        if sheet not in workbook.sheetnames:
            raise SystemExit(f"no sheet {sheet!r} in the workbook (sheets: {', '.join(workbook.sheetnames)})")
        wanted.append((name, sheet, area or None))
    return wanted


def used_area(ws) -> str:
    """The used range, widened to the right so that text running over empty cells is not cut off."""
    widths = {}

    def width(col: int) -> float:       # pixels, as Excel draws a column
        if col not in widths:
            dimension = ws.column_dimensions.get(get_column_letter(col))
            widths[col] = (dimension.width if dimension is not None and dimension.width else 8.43) * 7
        return widths[col]

    right = ws.max_column
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and not cell.value.startswith("="):
                size = cell.font.sz or 11
                reach, col = len(cell.value) * size * 0.6, cell.column
                while reach > width(col):
                    reach -= width(col)
                    col += 1
                right = max(right, col)
    return f"A1:{get_column_letter(right)}{ws.max_row}"


def draw(workbook, strokes: list[str]) -> None:
    """Type 1s into the canvas along straight lines, as a student would."""
    if not strokes:          # nothing to draw (and a workbook without a canvas, e.g. --from-scratch)
        return
    name = "Canvas" if "Canvas" in workbook.defined_names else "Canvas_1"
    (title, cells), = workbook.defined_names[name].destinations
    ws = workbook[title]
    top_left = ws[cells.replace("$", "").split(":")[0]]
    for stroke in strokes:
        r0, c0, r1, c1 = (int(v) for v in stroke.split(","))
        steps = max(abs(r1 - r0), abs(c1 - c0)) + 1
        for r, c in zip(np.linspace(r0, r1, steps).round(), np.linspace(c0, c1, steps).round()):
            ws.cell(top_left.row + int(r), top_left.column + int(c)).value = 1


def type_into(workbook, settings: list[str]) -> None:
    """NAME=V1[,V2...]: numbers into a defined name's cells, from its first cell along its row."""
    for setting in settings:
        name, values = setting.split("=", 1)
        for title, cells in workbook.defined_names[name].destinations:
            first = workbook[title][cells.replace("$", "").split(":")[0]]
            for k, value in enumerate(values.split(",")):
                workbook[title].cell(first.row, first.column + k).value = float(value)


def prepare(source: Path, target: Path, pictures: list[str], sample: int, strokes: list[str],
            settings: list[str] = ()) -> list[str]:
    """A copy where only the wanted sheets print, each on one landscape page; returns picture names
    in page order."""
    workbook = load_workbook(source)
    wanted = resolve(workbook, pictures)
    if "Sample" in workbook.defined_names:
        for title, cells in workbook.defined_names["Sample"].destinations:
            workbook[title][cells.replace("$", "")].value = sample
    draw(workbook, strokes)
    type_into(workbook, list(settings))
    areas = {sheet: area for _, sheet, area in wanted}
    for ws in workbook.worksheets:
        if ws.title not in areas:
            ws.sheet_state = "hidden"
            continue
        ws.sheet_state = "visible"
        ws.print_area = areas[ws.title] or used_area(ws)
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A3
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 1
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.page_margins.left = ws.page_margins.right = ws.page_margins.top = ws.page_margins.bottom = 0.2
        ws.page_margins.header = ws.page_margins.footer = 0
        ws.oddHeader.center.text = ws.oddFooter.center.text = None
    workbook.active = workbook.sheetnames.index(wanted[0][1])
    workbook.save(target)
    order = {sheet: k for k, sheet in enumerate(workbook.sheetnames)}
    return [name for name, sheet, _ in sorted(wanted, key=lambda w: order[w[1]])]


def warn_without_carlito() -> None:
    try:
        found = subprocess.run(["fc-match", "Calibri"], capture_output=True, text=True).stdout
    except OSError:
        return
    if "Carlito" not in found and "Calibri" not in found:
        print("warning: neither Calibri nor Carlito is installed (apt-get install fonts-crosextra-carlito); "
              f"LibreOffice uses {found.strip() or 'another font'} and the cells will not be square",
              file=sys.stderr)


def to_pdf(xlsx: Path, folder: Path) -> Path:
    profile = Path(tempfile.mkdtemp(prefix="lo-render-"))
    try:
        subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                        "--convert-to", "pdf", "--outdir", str(folder), str(xlsx)],
                       check=True, capture_output=True, timeout=600)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return folder / (xlsx.stem + ".pdf")


def read_ppm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:                  # magic, width, height, maxval
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    width, height = int(fields[1]), int(fields[2])
    return np.frombuffer(data, np.uint8, width * height * 3, pos + 1).reshape(height, width, 3)


def trim(image: np.ndarray, border: int = 12) -> np.ndarray:
    ink = np.argwhere((image < 250).any(axis=2))
    if len(ink) == 0:
        return image
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0)
    top, left = max(top - border, 0), max(left - border, 0)
    return image[top:bottom + border + 1, left:right + border + 1]


def write_png(image: np.ndarray, path: Path) -> None:
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def render(source: Path, pictures: list[str], out: Path, sample: int, dpi: int,
           strokes: list[str] = (), settings: list[str] = ()) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="excelnet-render-") as temporary:
        folder = Path(temporary)
        names = prepare(source, folder / "render.xlsx", pictures, sample, list(strokes), list(settings))
        pdf = to_pdf(folder / "render.xlsx", folder)
        subprocess.run(["pdftoppm", "-r", str(dpi), str(pdf), str(folder / "page")], check=True)
        pages = sorted(folder.glob("page-*.ppm"))
        if len(pages) != len(names):
            raise SystemExit(f"expected {len(names)} pages, LibreOffice printed {len(pages)}")
        for name, page in zip(names, pages):
            path = out / f"{name}.png"
            write_png(trim(read_ppm(page)), path)
            written.append(path)
    return written


def main(argv=None) -> None:
    args = parse_args(argv)
    warn_without_carlito()
    with tempfile.TemporaryDirectory(prefix="excelnet-build-") as folder:
        source = args.workbook or build_workbook(args, Path(folder))
        for path in render(source, args.pictures, args.out, args.sample, args.dpi, args.stroke, args.set):
            print(path)


if __name__ == "__main__":
    main()
