"""Why excelnet lays convolutions out the way it does: one 16 -> 32 channel 3x3 convolution
(+ bias, ReLU) on 13x13 maps, 11 x 11 x 32 = 3,872 output cells, written six ways, each
recalculated in headless LibreOffice; then a dense layer of 800 inputs -> 64 units two ways.

    .venv/bin/python benchmarks/layouts.py [--repeat 15]

A  per-channel:   planar input (one 13x13 grid per channel, a picture each); each cell is
                  16 SUMPRODUCTs, one per input channel, over 3x3 windows.
B  interleaved:   the input as one block, rows = y, columns = x*C + c; each cell is ONE
                  SUMPRODUCT over a 3 x 48 window and the filter stored the same way.
C  written out:   each cell is the 144 products typed out: a*w + b*v + ...
D  previous:      planar input grids (the pictures students look at) + an interleaved copy
                  (2,704 cells of =grid cell) + B's single SUMPRODUCT. What excelnet wrote
                  before 2026-11-26 (with a formula copy of the filters besides).
E  bands:         planar input grids + one band per output row (rows = c*3 + i, columns = x:
                  6,864 cells of =grid cell); each cell is ONE SUMPRODUCT over a 48 x 3 window
                  with the filter as 16 small 3x3 pictures one below the other (48 x 3).
F  excelnet:      E, with every other row written SUMPRODUCT(filter, window) instead of
                  SUMPRODUCT(window, filter): the same sum, but LibreOffice no longer groups a
                  column of equal formulas. What excelnet writes.

Besides the full recalculation, "one edit" types one input value (centre of input channel 1)
and reads all outputs: LibreOffice recalculates only what depends on it. Timed inside soffice
(engines/in_office.py) when its Python macros are installed.

Dense: 64 units, each ONE SUMPRODUCT of the 800 inputs (formula cells copying numbers, as a
Flatten sheet holds) with its own weight block, laid out 5 x 160 (32 maps of 5 x 5 side by
side) or 160 x 5 (one below the other). LibreOffice stores a sheet column by column, and a
range costs about as much per column it spans as per cell.

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


def tall_kernels(ws, kernel, bias, top: int) -> list[tuple[int, int]]:
    """Filter co as CIN small 3x3 pictures one below the other (48 x 3), its bias below them."""
    origins = []
    for co in range(COUT):
        r0, c0 = top, 1 + co * (K + 1)
        origins.append((r0, c0))
        for c in range(CIN):
            for i in range(K):
                for j in range(K):
                    ws.cell(r0 + c * K + i, c0 + j, float(kernel[i, j, c, co]))
        ws.cell(r0 + CIN * K, c0, float(bias[co]))
    return origins


def bands(ws, grids, top: int) -> int:
    """One band per output row y: row c*K + i copies grid c's row y + i. Returns the cells written."""
    for y in range(HO):
        for c in range(CIN):
            for i in range(K):
                for xx in range(W):
                    ws.cell(top + y * (CIN * K + 1) + c * K + i, 1 + xx,
                            f"={a1(grids[c][0] + y + i, grids[c][1] + xx)}")
    return HO * CIN * K * W


def output_grid(co: int, top: int) -> tuple[int, int]:
    return top + (co // 8) * (HO + 1), 1 + (co % 8) * (WO + 1)


def write_outputs(ws, top: int, kernels: list[tuple[int, int]], bias_below: int, body) -> int:
    """Every output cell =MAX(0, body(y, x, kernel row, kernel col) + bias), the bias `bias_below`
    rows under its filter's top-left; returns the cells written."""
    for co in range(COUT):
        r0, c0 = output_grid(co, top)
        kr, kc = kernels[co]
        for y in range(HO):
            for xo in range(WO):
                ws.cell(r0 + y, c0 + xo, f"=MAX(0,{body(y, xo, kr, kc)}+${col(kc)}${kr + bias_below})")
    return COUT * HO * WO


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
    elif kind in "EF":
        grids = planar_input(ws, x)
        stop = H + 2
        formulas += bands(ws, grids, stop)
        ktop = stop + HO * (CIN * K + 1) + 1
        kernels = tall_kernels(ws, kernel, bias, ktop)
        otop = ktop + CIN * K + 2

        def body(y, xo, kr, kc):
            window, kernel_block = span(stop + y * (CIN * K + 1), 1 + xo, CIN * K, K), span(kr, kc, CIN * K, K, True)
            return f"SUMPRODUCT({kernel_block},{window})" if kind == "F" and y % 2 else \
                f"SUMPRODUCT({window},{kernel_block})"
        formulas += write_outputs(ws, otop, kernels, CIN * K, body)
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

        def body(y, xo, kr, kc):
            if kind == "C":
                return "+".join(f"{a1(stop + y + i, 1 + (xo + j) * CIN + c)}*${col(kc + j * CIN + c)}${kr + i}"
                                for i in range(K) for j in range(K) for c in range(CIN))
            return f"SUMPRODUCT({span(stop + y, 1 + xo * CIN, K, K * CIN)},{span(kr, kc, K, K * CIN, True)})"
        formulas += write_outputs(ws, otop, kernels, K, body)
    r0, c0 = output_grid(0, otop)
    book.defined_names["Out"] = DefinedName("Out", attr_text=f"conv!{span(r0, c0, HO, WO, True)}")
    r1, c1 = output_grid(COUT - 1, otop)
    book.defined_names["All"] = DefinedName("All", attr_text=f"conv!{span(r0, 1, r1 + HO - r0, c1 + WO, True)}")
    edited = (1, 1, H, W) if kind in "ADEF" else (1, 1, H, W * CIN)      # input channel 1's picture
    book.defined_names["In"] = DefinedName("In", attr_text=f"conv!{span(*edited, True)}")
    book.save(path)
    return formulas


def write_dense(path: Path, tall: bool, seed: int = 0) -> np.ndarray:
    """800 inputs (formulas copying numbers) -> 64 units of ReLU(SUMPRODUCT); returns the units."""
    rng = np.random.default_rng(seed)
    x, kernel = rng.uniform(0, 1, (5, 5, 32)), rng.normal(0, 0.1, (5 * 5 * 32, 64))
    rows, cols = (160, 5) if tall else (5, 160)
    book = Workbook()
    ws = book.active
    ws.title = "dense"
    for i, v in enumerate(x.reshape(-1)):      # Keras order (y, x, c)
        y, xx, c = np.unravel_index(i, x.shape)
        r, cc = (c * 5 + y, xx) if tall else (y, c * 5 + xx)
        ws.cell(200 + r, 1 + cc, float(v))                  # the numbers
        ws.cell(1 + r, 1 + cc, f"={a1(200 + r, 1 + cc)}")   # the Flatten-like copies the units read
        for u in range(64):
            wr, wc = (400 + r, 1 + u * (cols + 1) + cc) if tall else (400 + u * (rows + 1) + r, 1 + cc)
            ws.cell(wr, wc, float(kernel[i, u]))
    inputs = span(1, 1, rows, cols)
    for u in range(64):
        block = span(400, 1 + u * (cols + 1), rows, cols, True) if tall else span(400 + u * (rows + 1), 1, rows,
                                                                                   cols, True)
        ws.cell(180, 1 + u, f"=MAX(0,SUMPRODUCT({inputs},{block}))")
    book.defined_names["Out"] = DefinedName("Out", attr_text=f"dense!{span(180, 1, 1, 64, True)}")
    book.defined_names["In"] = DefinedName("In", attr_text=f"dense!{span(200, 1, rows, cols, True)}")
    book.save(path)
    return np.maximum(x.reshape(-1) @ kernel, 0)


def timings(office, repeat: int, read: str) -> tuple[list[float], list[float]]:
    """Full recalculations and one-value edits (centre of 'In', then read `read`), inside soffice
    where possible (else over the pipe, which adds about 5 ms to an edit)."""
    from excelnet.errors import ExcelnetError

    values = [float(k % 2) * 0.8 + 0.1 for k in range(repeat)]
    try:
        return office.in_office("time_recalcs", repeat), office.in_office("time_edits", "In", 2, 2, values, read)
    except ExcelnetError:
        return ([office.call("recalc")["seconds"] for _ in range(repeat)],
                [office.call("set_cell", name="In", row=2, col=2, value=v, read=[read])["seconds"] for v in values])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from excelnet.engines.libreoffice import LibreOffice

    header("Layouts of a 16 -> 32 channel 3x3 convolution on 13x13 maps (3,872 output cells)")
    x, kernel, bias, expected = data()
    names = {"A": "A per-channel: 16 SUMPRODUCTs per cell",
             "B": "B interleaved: 1 SUMPRODUCT per cell (3 x 48)",
             "C": "C products written out (144 per cell)",
             "D": "D previous excelnet: pictures + interleaved copy + B",
             "E": "E pictures + bands + 1 SUMPRODUCT per cell (48 x 3)",
             "F": "F excelnet: E, every other row's formula turned round"}
    rows, dense = [], []
    with tempfile.TemporaryDirectory() as folder, LibreOffice() as office:
        for _ in range(args.rounds):        # interleaved rounds: a change in the machine's load hits all alike
            for kind in "ABCDEF":
                path = Path(folder) / f"layout_{kind}.xlsx"
                formulas = write_variant(kind, path, x, kernel, bias)
                office.open(path)
                got = np.array(office.call("read", names=["Out"])["Out"], dtype=float)
                error = float(np.abs(got - expected[:, :, 0]).max())
                full, edit = timings(office, args.repeat, "All")
                rows.append([kind, names[kind], formulas, path.stat().st_size, full, edit, error])
            for tall in (False, True):
                path = Path(folder) / f"dense_{tall}.xlsx"
                want = write_dense(path, tall)
                office.open(path)
                got = np.array(office.call("read", names=["Out"])["Out"], dtype=float).reshape(-1)
                error = float(np.abs(got - want).max())
                full, edit = timings(office, args.repeat, "Out")
                dense.append([tall, full, edit, error])
    table = []
    for kind in "ABCDEF":
        mine = [r for r in rows if r[0] == kind]
        full, edit = [t for r in mine for t in r[4]], [t for r in mine for t in r[5]]
        table.append([names[kind], f"{mine[0][2]:,}", f"{mine[0][3] / 1e3:.0f}", ms(median(full)), ms(min(full)),
                      ms(median(edit)), ms(min(edit)), f"{max(r[6] for r in mine):.1e}"])
    print_table(f"Convolution: {args.rounds} rounds x {args.repeat} runs (ms); 'one edit' = one input value -> "
                "all outputs", ["layout", "formula cells", "file kB", "full median", "full min", "one edit median",
                                "one edit min", "max |err|"], table)
    table = []
    for tall in (False, True):
        mine = [r for r in dense if r[0] == tall]
        full, edit = [t for r in mine for t in r[1]], [t for r in mine for t in r[2]]
        table.append(["160 x 5 (maps one below the other)" if tall else "5 x 160 (maps side by side)",
                      ms(median(full)), ms(min(full)), ms(median(edit)), ms(min(edit)),
                      f"{max(r[3] for r in mine):.1e}"])
    print_table("Dense 800 -> 64, each unit one SUMPRODUCT (ms)",
                ["input and weight blocks", "full median", "full min", "one edit median", "one edit min",
                 "max |err|"], table)


if __name__ == "__main__":
    main()
