"""What each sheet of a workbook costs in LibreOffice, and what its conditional formatting costs.

    .venv/bin/python benchmarks/sheet_costs.py [--learn | --both | --workbook W] [--rounds 3] [--repeat 8]

--learn: the learning workbook (build --learn); --both: the default one, then the learning one.

A sheet's formulas cannot simply be removed (the sheets after it read them), so each variant
keeps ONE sheet's formulas and freezes every other formula cell to its cached value (the
value the writer stored beside it): a full recalculation of that variant is what the one
sheet costs. Besides those:

- as built:                    the workbook itself;
- nothing live:                every formula frozen (LibreOffice's fixed cost of calculateAll);
- no conditional formatting:   the workbook without its colour scales, data bars and highlights
                               (they colour the pictures; the formulas are the same).

The one-pixel edit types into the centre of the Canvas and reads Probabilities
(ProbabilitiesAfter in a learning workbook: the whole backward pass and the step). Each round
opens every variant once (interleaved: a change of the shared machine's load hits all alike);
median and fastest over all rounds. Timed inside soffice (see benchmarks/libreoffice.py)."""

from __future__ import annotations

import argparse
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from common import header, median, ms, print_table

FORMULA = re.compile(r"<f>[^<]*</f>")
CONDITIONAL = re.compile(r"<conditionalFormatting\b.*?</conditionalFormatting>", re.S)


def sheet_files(book: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its part in the package, in tab order."""
    workbook = book.read("xl/workbook.xml").decode()
    rels = book.read("xl/_rels/workbook.xml.rels").decode()
    targets = {}
    for rel in re.findall(r"<Relationship\b[^>]*>", rels):
        ident, target = re.search(r'Id="([^"]+)"', rel).group(1), re.search(r'Target="([^"]+)"', rel).group(1)
        targets[ident] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    out = {}
    for tag in re.findall(r"<sheet\b[^>]*>", workbook):
        name = re.search(r'name="([^"]+)"', tag).group(1).replace("&amp;", "&")
        out[name] = targets[re.search(r'r:id="([^"]+)"', tag).group(1)]
    return out


def variant(source: Path, target: Path, change: Callable[[str, str], str]) -> Path:
    """A copy of `source` with each worksheet's XML passed through change(part name, xml)."""
    with zipfile.ZipFile(source) as book, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        sheets = set(sheet_files(book).values())
        for item in book.infolist():
            data = book.read(item.filename)
            if item.filename in sheets:
                data = change(item.filename, data.decode()).encode()
            out.writestr(item.filename, data)
    return target


def variants(workbook: Path, folder: Path) -> list[tuple[str, int, Path]]:
    """(label, live formula cells, path) for the workbook, nothing live, no conditional formatting
    and each sheet with formulas alone."""
    with zipfile.ZipFile(workbook) as book:
        files = sheet_files(book)
        counts = {name: len(FORMULA.findall(book.read(part).decode())) for name, part in files.items()}
    total = sum(counts.values())
    out = [("as built", total, workbook),
           ("nothing live", 0, variant(workbook, folder / "none.xlsx", lambda part, xml: FORMULA.sub("", xml))),
           ("no conditional formatting", total,
            variant(workbook, folder / "no_cf.xlsx", lambda part, xml: CONDITIONAL.sub("", xml)))]
    for k, (name, part) in enumerate(files.items()):
        if counts[name]:
            keep = part
            out.append((f"only '{name}'", counts[name], variant(
                workbook, folder / f"only_{k}.xlsx",
                lambda p, xml, keep=keep: xml if p == keep else FORMULA.sub("", xml))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workbook", type=Path, help="default: build the default (or learning) workbook")
    parser.add_argument("--learn", action="store_true", help="the learning workbook (build --learn)")
    parser.add_argument("--both", action="store_true", help="the default workbook, then the learning one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=8)
    args = parser.parse_args()
    header("What each sheet costs in LibreOffice")
    for learn in ([False, True] if args.both else [args.learn]):
        measure(args.workbook, learn, args.rounds, args.repeat)


def measure(workbook: Path | None, learn: bool, rounds: int, repeat: int) -> None:
    from excelnet.convert import build
    from excelnet.engines.libreoffice import LibreOffice

    read = "ProbabilitiesAfter" if learn else "Probabilities"
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        workbook = workbook or build(output=folder / "workbook.xlsx", learn=learn).path
        rows = variants(workbook, folder)
        full = {label: [] for label, _, _ in rows}
        pixel = {label: [] for label, _, _ in rows}
        values = [float(k % 2) * 0.8 + 0.1 for k in range(repeat)]
        with LibreOffice() as office:
            for _ in range(rounds):
                for label, _, path in rows:
                    office.open(path)
                    full[label] += office.in_office("time_recalcs", repeat)
                    pixel[label] += office.in_office("time_edits", "Canvas", 14, 14, values, read)
    parts = [label for label, _, _ in rows if label.startswith("only")]
    table = [[label, f"{cells:,}", f"{ms(median(full[label]))} / {ms(min(full[label]))}",
              f"{ms(median(pixel[label]))} / {ms(min(pixel[label]))}"] for label, cells, _ in rows]
    table.append(["sum of the 'only' rows", "",
                  f"{ms(sum(median(full[p]) for p in parts))} / {ms(sum(min(full[p]) for p in parts))}", ""])
    kind = "learning workbook (build --learn)" if learn else "default workbook"
    print_table(f"{workbook.name if workbook.name != 'workbook.xlsx' else kind}: {rounds} rounds x {repeat} runs, "
                f"median / fastest (ms); one pixel reads {read}",
                ["variant", "live formula cells", "full recalculation", "one pixel (14,14)"], table)


if __name__ == "__main__":
    main()
