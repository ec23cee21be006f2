"""Render sheets of an excelnet workbook to PNG pictures, the way LibreOffice shows them.

    .venv/bin/python tools/render_workbook.py                  # default model -> docs/images/
    .venv/bin/python tools/render_workbook.py --workbook workbooks/mnist_cnn.xlsx --out handout \\
        --set "'1 conv1'!L71=0" conv1="1 conv1" filters="'1 conv1'!A69:AM74" output=Output

Each picture is NAME=SHEET or NAME=SHEET!RANGE (quote a sheet name with spaces as in a formula:
'1 conv1'!A1:P12; '@k' is the k-th layer sheet); any sheet, of any size, and as many pictures of
one sheet as you like. Builds the workbook (or takes one with --workbook), then, on a temporary
copy: sets Sample, draws --stroke lines on the Canvas, types each --set value (into a defined name
or any cell by address), and hides the rows and columns outside each wanted range. `soffice
--headless --convert-to pdf` with the SinglePageSheets option then recalculates it and prints each
sheet on one page as large as the sheet (so no sheet is too big), and `pdftoppm` turns each wanted
page into an image whose white border is trimmed. Several pictures of one sheet take one soffice
run each. The workbook itself is never changed.

Needs LibreOffice (soffice) and poppler-utils (pdftoppm) on the PATH; no macros,
no extra Python packages (PNG is written with zlib). Install fonts-crosextra-carlito
too: Carlito has Calibri's metrics, so cells come out as square as in Excel (without
it LibreOffice substitutes a wider font and the tool warns). Errors print one line and
exit with status 2."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PICTURES = ["guide=Guide", "input=Input", "layer=@1", "output=Output"]
# LibreOffice's PDF export option "whole sheet export": each sheet on one page as large as the
# sheet. Fit-to-page cannot shrink below 10 %, so big sheets used to come out on several pages.
PDF_FILTER = 'pdf:calc_pdf_Export:{"SinglePageSheets":{"type":"boolean","value":"true"}}'
PICTURE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class RenderError(Exception):
    """A mistake in the command line or a failed step: printed as one line, exit status 2."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workbook", type=Path, help="an existing excelnet .xlsx (default: build one)")
    parser.add_argument("-m", "--model", help="model to build from (default: the shipped MNIST CNN)")
    parser.add_argument("--samples", help=".npz of sample inputs (x) and labels (y)")
    parser.add_argument("--labels", help="class names, comma separated")
    parser.add_argument("--learn", action="store_true",
                        help="build the learning workbook (excelnet build --learn) instead of the plain one")
    parser.add_argument("--sample", type=int, default=1, help="the Sample to show (default 1)")
    parser.add_argument("--stroke", action="append", default=[], metavar="R0,C0,R1,C1",
                        help="draw a line of ink (1) on the Canvas from row R0, column C0 to R1, C1 "
                             "(0-based, inside the canvas); may be repeated")
    parser.add_argument("--set", action="append", default=[], metavar="CELL=VALUE",
                        help="type a value first: CELL is a defined name (ExplainLayer=3) or any cell by "
                             "address ('1 conv1'!L71=0); V1,V2,... fill cells along the row; may be repeated")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNGs")
    parser.add_argument("--dpi", type=int, default=110, help="resolution of the pictures")
    parser.add_argument("pictures", nargs="*", default=DEFAULT_PICTURES,
                        help="NAME=SHEET[!A1:Z40]: one picture NAME.png per argument, of a whole sheet "
                             "or a range; SHEET '@k' is the k-th layer sheet (default: %(default)s)")
    return parser.parse_args(argv)


def build_workbook(args, folder: Path) -> Path:
    from excelnet.convert import build

    labels = [part.strip() for part in args.labels.split(",")] if args.labels else None
    return build(args.model, folder / "workbook.xlsx", labels, args.samples, learn=args.learn).path


def split_reference(text: str) -> tuple[str | None, str]:
    """'Sheet name'!B4 or Sheet!B4 -> (sheet, 'B4'); a bare B4 or name -> (None, text)."""
    if text.startswith("'"):
        end = text.find("'!")
        while end != -1 and text[end - 1:end + 1] == "''" and end > 1:   # '' is a quote inside the name
            end = text.find("'!", end + 1)
        if end == -1:
            raise RenderError(f"{text!r}: a quoted sheet name must end with '! (e.g. '1 conv1'!B4)")
        return text[1:end].replace("''", "'"), text[end + 2:]
    sheet, bang, rest = text.rpartition("!")
    return (sheet, rest) if bang else (None, text)


def find_sheet(workbook, sheet: str) -> str:
    if sheet.startswith("@"):
        layers = [ws.title for ws in workbook.worksheets if ws.title[:1].isdigit()]
        if not sheet[1:].isdigit() or not 1 <= int(sheet[1:]) <= len(layers):
            raise RenderError(f"{sheet!r}: the workbook has layer sheets @1 to @{len(layers)}")
        return layers[int(sheet[1:]) - 1]
    if sheet not in workbook.sheetnames:
        raise RenderError(f"no sheet {sheet!r} in the workbook (sheets: {', '.join(workbook.sheetnames)})")
    return sheet


def checked_range(area: str, what: str) -> tuple[int, int, int, int]:
    """(min_col, min_row, max_col, max_row) of A1 or A1:Z40."""
    try:
        bounds = range_boundaries(area.replace("$", "").upper())
    except ValueError:
        bounds = (None,)
    if None in bounds or not (1 <= bounds[0] <= bounds[2] <= 16384 and 1 <= bounds[1] <= bounds[3] <= 1048576):
        raise RenderError(f"{what}: {area!r} is not a cell or range like B4 or A1:P12")
    return bounds


def resolve(workbook, pictures: list[str]) -> list[tuple[str, str, str | None]]:
    """(picture name, sheet title, range or None) for each NAME=SHEET[!RANGE]."""
    wanted, names = [], set()
    for spec in pictures:
        name, equals, target = spec.partition("=")
        if not equals or not PICTURE_NAME.fullmatch(name) or not target:
            raise RenderError(f"{spec!r}: a picture is NAME=SHEET or NAME=SHEET!A1:P12, NAME of letters, "
                              "digits, _ . -")
        if name in names:
            raise RenderError(f"two pictures are called {name!r}")
        names.add(name)
        sheet, area = split_reference(target) if target.startswith("'") or "!" in target else (target, "")
        sheet = find_sheet(workbook, sheet)
        if area:
            checked_range(area, spec)
        wanted.append((name, sheet, area or None))
    return wanted


def rounds(wanted: list[tuple[str, str, str | None]]) -> list[list[tuple[str, str, str | None]]]:
    """Pictures grouped so that no sheet appears twice in a group: one soffice run per group."""
    groups: list[list] = []
    for picture in wanted:
        group = next((g for g in groups if all(sheet != picture[1] for _, sheet, _ in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(picture)
    return groups


def draw(workbook, strokes: list[str]) -> None:
    """Type 1s into the canvas along straight lines, as a student would."""
    if not strokes:          # nothing to draw (and a workbook without a canvas, e.g. --from-scratch)
        return
    name = next((n for n in ("Canvas", "Canvas_1") if n in workbook.defined_names), None)
    if name is None:
        raise RenderError("--stroke: this workbook has no Canvas")
    (title, cells), = workbook.defined_names[name].destinations
    ws = workbook[title]
    left, top, right, bottom = checked_range(cells, name)
    for stroke in strokes:
        try:
            r0, c0, r1, c1 = (int(v) for v in stroke.split(","))
        except ValueError:
            raise RenderError(f"--stroke {stroke!r}: four whole numbers R0,C0,R1,C1") from None
        if not all(0 <= r <= bottom - top for r in (r0, r1)) or not all(0 <= c <= right - left for c in (c0, c1)):
            raise RenderError(f"--stroke {stroke!r}: rows 0-{bottom - top}, columns 0-{right - left}")
        steps = max(abs(r1 - r0), abs(c1 - c0)) + 1
        for r, c in zip(np.linspace(r0, r1, steps).round(), np.linspace(c0, c1, steps).round()):
            ws.cell(top + int(r), left + int(c)).value = 1


def typed(value: str):
    """A number where the text is one, else the text as typed (a formula if it starts with =)."""
    try:
        return float(value)
    except ValueError:
        return value


def first_cell(workbook, target: str) -> tuple[str, int, int]:
    """(sheet, row, column) of a defined name's first cell or of 'Sheet'!B4."""
    sheet, address = split_reference(target)
    if sheet is None and target in workbook.defined_names:
        destinations = list(workbook.defined_names[target].destinations)
        if not destinations:
            raise RenderError(f"--set {target}: the name does not point at cells")
        sheet, address = destinations[0]
    elif sheet is None:
        raise RenderError(f"--set {target}: no defined name {target!r}; for a cell give its sheet: 'Sheet'!B4")
    sheet = find_sheet(workbook, sheet)
    column, row, _, _ = checked_range(address, f"--set {target}")
    return sheet, row, column


def type_into(workbook, settings: list[str]) -> None:
    """CELL=V1[,V2...]: values into a defined name's or an address's cells, along the row."""
    for setting in settings:
        sheet_part = len(setting) - len(split_reference(setting)[1]) if setting.startswith("'") else 0
        target, equals, values = setting[sheet_part:].partition("=")      # a value may hold '=' (a formula)
        target = setting[:sheet_part] + target
        if not equals or not target:
            raise RenderError(f"--set {setting!r}: give CELL=VALUE, e.g. ExplainLayer=3 or '1 conv1'!L71=0")
        sheet, row, column = first_cell(workbook, target.strip())
        for k, value in enumerate(values.split(",")):
            workbook[sheet].cell(row, column + k).value = typed(value.strip())


def show_only(ws, area: str | None) -> None:
    """Hide every row and column outside `area` (SinglePageSheets prints the whole sheet and
    ignores print areas; hidden rows and columns it leaves out). None: the whole sheet."""
    if area is None:
        return
    left, top, right, bottom = checked_range(area, ws.title)
    if left > 1:
        ws.column_dimensions.group("A", get_column_letter(left - 1), hidden=True)
    ws.column_dimensions.group(get_column_letter(right + 1), "XFD", hidden=True)
    for row in [*range(1, top), *range(bottom + 1, ws.max_row + 1)]:
        ws.row_dimensions[row].hidden = True


def with_inputs(source: Path, sample: int, strokes: list[str], settings: list[str]):
    """The workbook with Sample, the strokes and every --set value typed in (checked on the way)."""
    workbook = open_workbook(source)
    if "Sample" in workbook.defined_names:
        for title, cells in workbook.defined_names["Sample"].destinations:
            workbook[title][cells.replace("$", "")].value = sample
    draw(workbook, strokes)
    type_into(workbook, settings)
    return workbook


def prepare(workbook, group, target: Path) -> None:
    """Save a copy where the group's sheets show only their ranges and every other sheet prints as
    an empty page (its columns hidden; its formulas still compute). Changes `workbook`."""
    areas = {sheet: area for _, sheet, area in group}
    for ws in workbook.worksheets:
        if ws.title in areas:
            show_only(ws, areas[ws.title])
        else:
            ws.column_dimensions.group("A", "XFD", hidden=True)
    workbook.save(target)


def open_workbook(path: Path):
    try:
        return load_workbook(path)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise RenderError(f"cannot read {path}: {error}") from None


def warn_without_carlito() -> None:
    try:
        found = subprocess.run(["fc-match", "Calibri"], capture_output=True, text=True).stdout
    except OSError:
        return
    if "Carlito" not in found and "Calibri" not in found:
        print("warning: neither Calibri nor Carlito is installed (apt-get install fonts-crosextra-carlito); "
              f"LibreOffice uses {found.strip() or 'another font'} and the cells will not be square",
              file=sys.stderr)


def run_tool(command: list[str], what: str, timeout: int = 600) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise RenderError(f"{command[0]} is not installed ({what})") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{command[0]} did not finish in {timeout} s") from None
    except subprocess.CalledProcessError as error:
        last = (error.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RenderError(f"{command[0]} failed (status {error.returncode}): {last[0]}") from None


def to_pdf(xlsx: Path, folder: Path) -> Path:
    from excelnet.engines.libreoffice import office_environment, soffice_path

    soffice = soffice_path()
    if soffice is None:
        raise RenderError("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    profile = Path(tempfile.mkdtemp(prefix="lo-render-"))
    try:
        command = [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                   "--convert-to", PDF_FILTER, "--outdir", str(folder), str(xlsx)]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=600, env=office_environment())
        except subprocess.SubprocessError as error:
            raise RenderError(f"LibreOffice could not print the workbook: {error}") from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    pdf = folder / (xlsx.stem + ".pdf")
    if not pdf.exists():
        raise RenderError("LibreOffice printed no PDF (is another soffice holding the profile?)")
    return pdf


def page_count(pdf: Path) -> int:
    """Pages in a PDF LibreOffice wrote (its page tree says /Count n at the top)."""
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf.read_bytes())]
    counts += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf.read_bytes())]
    return max(counts, default=0)


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


def render_group(workbook, group, out: Path, folder: Path, dpi: int) -> list[Path]:
    """One soffice run: each sheet of the workbook is one page, in tab order."""
    prepare(workbook, group, folder / "render.xlsx")
    pdf = to_pdf(folder / "render.xlsx", folder)
    sheets = workbook.sheetnames
    if page_count(pdf) != len(sheets):
        raise RenderError(f"expected one page per sheet ({len(sheets)}), LibreOffice printed {page_count(pdf)} "
                          "(LibreOffice before 7.4 ignores the whole-sheet option)")
    written = []
    for name, sheet, _ in group:
        page = sheets.index(sheet) + 1
        run_tool(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf),
                  str(folder / "page")], "apt-get install poppler-utils")
        path = out / f"{name}.png"
        write_png(trim(read_ppm(folder / "page.ppm")), path)
        written.append(path)
    return written


def render(source: Path, pictures: list[str], out: Path, sample: int, dpi: int,
           strokes: list[str] = (), settings: list[str] = ()) -> list[Path]:
    """The pictures, in the order given; every input is checked before soffice starts."""
    workbook = with_inputs(source, sample, list(strokes), list(settings))
    wanted = resolve(workbook, pictures)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for k, group in enumerate(rounds(wanted)):
        if k > 0:        # the previous round hid rows and columns of this copy: start again
            workbook = with_inputs(source, sample, list(strokes), list(settings))
        with tempfile.TemporaryDirectory(prefix="excelnet-render-") as temporary:
            paths = render_group(workbook, group, out, Path(temporary), dpi)
            written.update(zip((name for name, _, _ in group), paths))
    return [written[name] for name, _, _ in wanted]


def main(argv=None) -> None:
    args = parse_args(argv)
    from excelnet.errors import ExcelnetError

    try:
        if args.workbook is not None and not args.workbook.is_file():
            raise RenderError(f"no workbook {args.workbook}")
        warn_without_carlito()
        with tempfile.TemporaryDirectory(prefix="excelnet-build-") as folder:
            source = args.workbook or build_workbook(args, Path(folder))
            for path in render(source, args.pictures, args.out, args.sample, args.dpi, args.stroke, args.set):
                print(path)
    except (RenderError, ExcelnetError) as error:
        print(f"render_workbook: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
