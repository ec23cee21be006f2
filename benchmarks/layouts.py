"""Why excelnet lays convolutions out the way it does: one 16 -> 32 channel 3x3 convolution
(+ bias, ReLU) on 13x13 maps, 11 x 11 x 32 = 3,872 output cells, written four ways, each
recalculated in headless LibreOffice.

    .venv/bin/python benchmarks/layouts.py [--repeat 15]

A  per-channel:   planar input (one 13x13 grid per channel, a picture each); each cell is
                  16 SUMPRODUCTs, one per input channel, over 3x3 windows.
B  interleaved:   the input as one block, rows = y, columns = x*C + c; each cell is ONE
                  SUMPRODUCT over a 3 x 48 window and the filter stored the same way.
C  written out:   each cell is the 144 products typed out: a*w + b*v + ...
D  excelnet:      planar input grids (the pictures students look at) + an interleaved copy
                  (2,704 cells of =grid cell) + B's single SUMPRODUCT. What excelnet writes.

The workbooks are written with openpyxl directly; every variant computes the same numbers
(checked against NumPy)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from openpyxl.utils import get_column_letter as col
from openpyxl.workbook.defined_name import DefinedName

from common import header, median, ms, print_table

H = W = 13
CIN, COUT, K = 16, 32, 3
HO, WO = H - K + 1, W - K + 1


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (H, W, CIN))
    kernel = rng.normal(0, 0.3, (K, K, CIN, COUT))
    bias = rng.normal(0, 0.3, COUT)
    out = np.zeros((HO, WO, COUT))
    for i in range(K):
        for j in range(K):
            out += x[i:i + HO, j:j + WO, :] @ kernel[i, j]
    return x, kernel, bias, np.maximum(out + bias, 0)


def a1(row: int, column: int) -> str:
    return f"{col(column)}{row}"


def span(row: int, column: int, rows: int, columns: int, absolute: bool = False) -> str:
    d = "$" if absolute else ""
    return (f"{d}{col(column)}{d}{row}:{d}{col(column + columns - 1)}{d}{row + rows - 1}")


def planar_input(ws, x) -> list[tuple[int, int]]:
    """16 pictures side by side in rows 1..13; returns each grid's top-left (row, col)."""
    origins = []
    for c in range(CIN):
        r0, c0 = 1, 1 + c * (W + 1)
        origins.append((r0, c0))
        for y in range(H):
            for xx in range(W):
                ws.cell(r0 + y, c0 + xx, float(x[y, xx, c]))
    return origins


def interleaved_values(ws, x, top: int) -> None:
    for y in range(H):
        for xx in range(W):
            for c in range(CIN):
                ws.cell(top + y, 1 + xx * CIN + c, float(x[y, xx, c]))


def interleaved_kernels(ws, kernel, bias, top: int) -> list[tuple[int, int]]:
    """Filter co as a 3 x 48 block (columns j*C + c), its bias in the cell below."""
    origins = []
    for co in range(COUT):
        r0, c0 = top, 1 + co * (K * CIN + 1)
        origins.append((r0, c0))
        for i in range(K):
            for j in range(K):
                for c in range(CIN):
                    ws.cell(r0 + i, c0 + j * CIN + c, float(kernel[i, j, c, co]))
        ws.cell(r0 + K, c0, float(bias[co]))
    return origins


def output_grid(co: int, top: int) -> tuple[int, int]:
    return top + (co // 8) * (HO + 1), 1 + (co % 8) * (WO + 1)


def write_variant(kind: str, path: Path, x, kernel, bias) -> int:
    book = Workbook()
    ws = book.active
    ws.title = "conv"
    formulas = 0
    if kind == "A":
        grids = planar_input(ws, x)
        ktop = H + 2                        # per (co, c) 3x3 kernel blocks
        kpos = {}
        for co in range(COUT):
            for c in range(CIN):
                r0, c0 = ktop + co * (K + 1), 1 + c * (K + 1)
                kpos[co, c] = (r0, c0)
                for i in range(K):
                    for j in range(K):
                        ws.cell(r0 + i, c0 + j, float(kernel[i, j, c, co]))
            ws.cell(ktop + co * (K + 1), 1 + CIN * (K + 1), float(bias[co]))
        otop = ktop + COUT * (K + 1) + 1
        for co in range(COUT):
            r0, c0 = output_grid(co, otop)
            b = f"${col(1 + CIN * (K + 1))}${ktop + co * (K + 1)}"
            for y in range(HO):
                for xo in range(WO):
                    terms = [f"SUMPRODUCT({span(grids[c][0] + y, grids[c][1] + xo, K, K)},"
                             f"{span(*kpos[co, c], K, K, True)})" for c in range(CIN)]
                    ws.cell(r0 + y, c0 + xo, f"=MAX(0,{'+'.join(terms)}+{b})")
                    formulas += 1
    else:
        if kind == "D":
            grids = planar_input(ws, x)
            stop = H + 2
            for y in range(H):
                for xx in range(W):
                    for c in range(CIN):
                        ws.cell(stop + y, 1 + xx * CIN + c, f"={a1(grids[c][0] + y, grids[c][1] + xx)}")
                        formulas += 1
        else:
            stop = 1
            interleaved_values(ws, x, stop)
        ktop = stop + H + 1
        kernels = interleaved_kernels(ws, kernel, bias, ktop)
        otop = ktop + K + 2
        for co in range(COUT):
            r0, c0 = output_grid(co, otop)
            kr, kc = kernels[co]
            b = f"${col(kc)}${kr + K}"
            for y in range(HO):
                for xo in range(WO):
                    if kind == "C":
                        terms = [f"{a1(stop + y + i, 1 + (xo + j) * CIN + c)}*${col(kc + j * CIN + c)}${kr + i}"
                                 for i in range(K) for j in range(K) for c in range(CIN)]
                        body = "+".join(terms)
                    else:
                        body = (f"SUMPRODUCT({span(stop + y, 1 + xo * CIN, K, K * CIN)},"
                                f"{span(kr, kc, K, K * CIN, True)})")
                    ws.cell(r0 + y, c0 + xo, f"=MAX(0,{body}+{b})")
                    formulas += 1
    r0, c0 = output_grid(0, otop)
    book.defined_names["Out"] = DefinedName("Out", attr_text=f"conv!{span(r0, c0, HO, WO, True)}")
    book.save(path)
    return formulas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    from excelnet.engines.libreoffice import LibreOffice

    header("Layouts of a 16 -> 32 channel 3x3 convolution on 13x13 maps (3,872 output cells)")
    x, kernel, bias, expected = data()
    names = {"A": "A per-channel: 16 SUMPRODUCTs per cell",
             "B": "B interleaved: 1 SUMPRODUCT per cell",
             "C": "C products written out (144 per cell)",
             "D": "D excelnet: planar pictures + interleaved copy + B"}
    rows = []
    with tempfile.TemporaryDirectory() as folder, LibreOffice() as office:
        for kind in "ABCD":
            path = Path(folder) / f"layout_{kind}.xlsx"
            formulas = write_variant(kind, path, x, kernel, bias)
            office.open(path)
            office.call("recalc")
            times = sorted(office.call("recalc")["seconds"] for _ in range(args.repeat))
            got = np.array(office.call("read", names=["Out"])["Out"], dtype=float)
            error = float(np.abs(got - expected[:, :, 0]).max())
            rows.append([names[kind], f"{formulas:,}", f"{path.stat().st_size / 1e3:.0f}", ms(median(times)),
                         ms(times[0]), f"{error:.1e}"])
    print_table(f"Full recalculation in LibreOffice, median and min of {args.repeat} (ms)",
                ["layout", "formula cells", "file kB", "median", "min", "max |err|"], rows)


if __name__ == "__main__":
    main()
