"""What each helper block of the default workbook costs in LibreOffice.

    .venv/bin/python benchmarks/helper_blocks.py [--repeat 15] [--rounds 3]

A helper block cannot simply be removed (the computation reads it), so each variant adds a
second, unused copy of one block; the extra time is that block's cost. Variants:

- base:                       the default workbook;
- no Explain sheet:           the same without the Explain sheet (what Explain costs when idle);
- + conv2 input copy:         a second copy of conv2's input in bands (3,432 cells);
- + flatten copy:             a second Flatten strip (800 cells);
- + strokes picture:          a second 'Your strokes' picture (784 cells, strokes empty);
- no strokes:                 without the strokes (picture, table, and MAX(..., ink) in the input);
- formulas grouped:           convolution and pooling rows all written alike (ops/cells.turned), so
                              LibreOffice groups each column and computes it on several threads;
- maps side by side:          Flatten's maps side by side and Dense's units one below the other
                              (the layout of the learning workbook, see ops/base.py Book).

Each round opens every variant once (interleaved, so a change in the machine's load hits all
of them alike) and times calculateAll and a one-pixel edit; the table gives the median and the
fastest run over all rounds. Medians move with the load of the shared machine; the fastest runs
are the steadier figure for a difference. Timed inside soffice (see benchmarks/libreoffice.py)."""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

from common import header, median, ms, print_table


@contextmanager
def patched(owner, name, wrapper):
    raw = vars(owner).get(name) if isinstance(owner, type) else None    # a staticmethod stays one
    original = getattr(owner, name)
    setattr(owner, name, wrapper(original))
    try:
        yield
    finally:
        setattr(owner, name, raw if raw is not None else original)


def twice(original):
    def run(*args, **kwargs):
        original(*args, **kwargs)                   # the unused copy
        return original(*args, **kwargs)
    return run


def variants():
    from excelnet.ops.convolution import Conv2D
    from excelnet.ops.core import Gather
    from excelnet.workbook import build, inputs

    def conv2_only(original):          # conv1 reads the Input sheet directly: it has no copies
        def run(self, sheet, *args, **kwargs):
            if self.kernel.shape[2] > 1:
                original(self, sheet, *args, **kwargs)
            return original(self, sheet, *args, **kwargs)
        return run

    def no_explain(original):
        return lambda book, layers: book.add_sheet("Explain", "explain")

    from excelnet.ops import base, convolution, pooling

    def never(original):
        return lambda row: False

    def side_by_side(original):
        return lambda self, namer, maps_side_by_side=False: original(self, namer, True)

    return [("base", None), ("no Explain sheet", (build, "add_explain_sheet", no_explain)),
            ("formulas grouped", [(convolution, "turned", never), (pooling, "turned", never)]),
            ("maps side by side", (base.Book, "__init__", side_by_side)),
            ("+ conv2 input copy", (Conv2D, "_emit_source", conv2_only)),
            ("+ flatten copy", (Gather, "emit", twice)),
            ("+ strokes picture", (inputs, "emit_strokes", twice)),
            ("no strokes", (inputs, "emit_strokes", lambda original: lambda *args: None))]


def build_variant(folder: Path, name: str, patch) -> Path:
    from excelnet.convert import build

    path = folder / (name.replace(" ", "_").replace("+", "plus") + ".xlsx")
    if patch is None:
        return build(output=path).path
    with ExitStack() as stack:
        for owner, attribute, wrapper in patch if isinstance(patch, list) else [patch]:
            stack.enter_context(patched(owner, attribute, wrapper))
        return build(output=path).path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="variant names to run (besides base)")
    args = parser.parse_args()
    from excelnet.engines.libreoffice import LibreOffice

    header("LibreOffice: the cost of each helper block (default workbook)")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        chosen = [(n, p) for n, p in variants() if n == "base" or not args.only or n in args.only]
        built = [(name, build_variant(folder, name, patch)) for name, patch in chosen]
        full = {name: [] for name, _ in built}
        pixel = {name: [] for name, _ in built}
        with LibreOffice() as office:
            for _ in range(args.rounds):
                for name, path in built:
                    office.open(path)
                    full[name] += office.in_office("time_recalcs", args.repeat)     # inside soffice
                    pixel[name] += office.in_office("time_edits", "Canvas", 14, 14,
                                                    [float(k % 2) * 0.8 + 0.1 for k in range(args.repeat)],
                                                    "Probabilities")
            errors = office.errors()
    base_full, base_pixel = min(full["base"]), min(pixel["base"])
    rows = [[name, ms(median(full[name])), ms(min(full[name])), f"{1000 * (min(full[name]) - base_full):+.1f}",
             ms(median(pixel[name])), ms(min(pixel[name])), f"{1000 * (min(pixel[name]) - base_pixel):+.1f}"]
            for name, _ in built]
    print_table(f"{args.rounds} rounds x {args.repeat} runs per variant (ms; 'Δ' = fastest run minus base's)",
                ["variant", "full median", "full fastest", "Δ full", "pixel median", "pixel fastest", "Δ pixel"],
                rows)
    print(f"error cells in the last variant: {errors or 'none'}; load now: {os.getloadavg()}")


if __name__ == "__main__":
    main()
