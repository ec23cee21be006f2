"""`excelnet summary`: what a model's workbook will contain, before writing it.

Plans the workbook (no file is written, no TensorFlow is imported) and counts, per
layer, the formula cells and weight cells, then estimates the file size and the
cost of a full recalculation from what the formulas reference."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .layout import Rect
from .sheet import WEIGHTS, Formula, SheetPlan, Text

# One cell reference or range, optionally on another sheet: A1, $B$2, 'x y'!C3:D9.
REFERENCE = re.compile(r"(?:'(?:[^']|'')+'!|[A-Za-z_][\w.]*!)?\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?")

# Cost model of a full recalculation in LibreOffice Calc, fitted on measured workbooks
# (benchmarks/recalc_cost.py prints the fit and how well it predicts): a fixed cost per
# formula cell, per reference (a range or a single cell), per column piece of a range and
# per cell read through them.
# Fitted on a quiet host (2026-12-06, load 1.0, LibreOffice 7.4, 2-core AMD EPYC) on the 13
# workbooks of benchmarks/recalc_cost.py, 3k to 415k formula cells, the four tutorial networks
# among them, each with its Magnifier sheet, minimising the largest relative error: within 9.9%
# of each fastest run (8% before the Magnifier; benchmarks/recalc_cost_measured.json;
# tests/test_summary.py). A range costs per column and per
# cell it spans, not per reference. Fits on a loaded host came out 30-50% off: refit on an idle one.
SECONDS_PER_FORMULA = 1.1224e-6
SECONDS_PER_REFERENCE = 0.0
SECONDS_PER_COLUMN_READ = 49.37e-9
SECONDS_PER_CELL_READ = 10.208e-9
# File size (deflated XML), fitted on benchmarks/recalc_cost.py's 13 workbooks (among them the
# four tutorial networks of issue 18: keras.io convnet, PyTorch's MNIST Net, the CIFAR-10 CNN,
# LeNet-5) and two small CNNs: within 4.2% of each (tests/test_summary.py checks 10% on several).
BYTES_FIXED = 26_200
BYTES_PER_FORMULA = 1.53
BYTES_PER_FORMULA_CHAR = 0.140
BYTES_PER_NUMBER = 14.71
BYTES_PER_TEXT = 20.0

WARN_BYTES = 50_000_000          # a file this big opens slowly everywhere
WARN_RECALC_SECONDS = 1.0        # every edit would freeze the spreadsheet this long
WARN_FORMULAS = 1_000_000


@dataclass
class Counts:
    formulas: int = 0
    numbers: int = 0            # constant numbers (weights, sample pixels, padding zeros, labels)
    weights: int = 0            # numbers inside weight blocks: what a student may edit
    texts: int = 0
    references: int = 0         # cell or range references in formulas
    cells_read: int = 0         # cells those references cover
    columns_read: int = 0       # column pieces they cover: Calc stores each column apart, so a long
                                # row range costs more than a tall column range of the same size
    formula_chars: int = 0

    def add(self, other: "Counts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def recalc_seconds(self) -> float:
        """Estimated share of a full LibreOffice recalculation (see the cost model above)."""
        return (SECONDS_PER_FORMULA * self.formulas + SECONDS_PER_REFERENCE * self.references
                + SECONDS_PER_COLUMN_READ * self.columns_read + SECONDS_PER_CELL_READ * self.cells_read)


@dataclass
class LayerRow:
    label: str                  # layer name, or "(input)" / "(output)"
    kind: str                   # Conv2D, Dense, ... or the sheet's role
    output_shape: str
    parameters: int
    counts: Counts
    sheets: list[str] = field(default_factory=list)


@dataclass
class Summary:
    model_name: str
    source: str
    rows: list[LayerRow]
    other: Counts               # guide and sample-digit sheets
    samples: int
    other_sheets: list[str] = field(default_factory=list)
    longest_formula: tuple[int, str] = (0, "")     # characters with the leading '=', and where
    notes: list[str] = field(default_factory=list)    # e.g. a teaching sheet that will be left out

    @property
    def total(self) -> Counts:
        total = Counts()
        for row in self.rows:
            total.add(row.counts)
        total.add(self.other)
        return total

    @property
    def parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    @property
    def estimated_bytes(self) -> int:
        t = self.total
        return int(BYTES_FIXED + BYTES_PER_FORMULA * t.formulas + BYTES_PER_FORMULA_CHAR * t.formula_chars
                   + BYTES_PER_NUMBER * t.numbers + BYTES_PER_TEXT * t.texts)

    @property
    def estimated_recalc_seconds(self) -> float:
        return self.total.recalc_seconds

    def warnings(self) -> list[str]:
        found = []
        total = self.total
        if self.estimated_bytes > WARN_BYTES:
            found.append(f"the workbook would be very large (about {megabytes(self.estimated_bytes)}): "
                         "it will open slowly, or not at all in some spreadsheet programs")
        if total.formulas > WARN_FORMULAS:
            found.append(f"{total.formulas:,} formula cells is more than a spreadsheet handles comfortably "
                         f"({WARN_FORMULAS:,})")
        if self.estimated_recalc_seconds > WARN_RECALC_SECONDS:
            found.append(f"a full recalculation would take about {seconds_text(self.estimated_recalc_seconds)}, "
                         "so every edit would freeze the spreadsheet; consider fewer or smaller layers")
        return found


# Sheets whose every formula is IF(the student's pick is this part, …, ""): Explain, Magnifier
PICKED_PARTS = ("explain", "magnifier")


def _idle_part(expression: str) -> str:
    """What a spreadsheet evaluates of IF(condition, …, "") while the condition is false: the
    condition. Every cell of the Explain sheet is such a formula (workbook/explain.py), and only
    the part for the chosen layer is on."""
    if not expression.startswith("IF("):
        return expression
    depth, quoted = 0, False
    for i, ch in enumerate(expression[3:], start=3):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and ch == "," and depth == 0:
            return expression[3:i]
    return expression


def count_cells(sheet: SheetPlan) -> Counts:
    counts = Counts()
    weight_cells = _cells_in(block for block, role in sheet.blocks if role == WEIGHTS)
    for position, value in sheet.cells.items():
        if isinstance(value, Formula):
            counts.formulas += 1
            counts.formula_chars += len(value.expression)
            expression = _idle_part(value.expression) if sheet.kind in PICKED_PARTS else value.expression
            for match in REFERENCE.finditer(expression):
                counts.references += 1
                c1, r1, c2, r2 = match.groups()
                if expression.endswith("INDEX(", 0, match.start()):
                    continue                # INDEX(range, …) picks one cell: the range is not read
                if c2 is not None:
                    columns = abs(_column(c2) - _column(c1)) + 1
                    counts.cells_read += (abs(int(r2) - int(r1)) + 1) * columns
                    counts.columns_read += columns
                else:
                    counts.cells_read += 1
                    counts.columns_read += 1
        elif isinstance(value, (Text, str)):
            counts.texts += 1
        elif isinstance(value, (int, float)):
            counts.numbers += 1
            if position in weight_cells:
                counts.weights += 1
    for block in sheet.values:           # large blocks of weights (ops/cells.write_values)
        counts.numbers += block.numbers.size
        counts.weights += block.numbers.size
    return counts


def _cells_in(blocks) -> set[tuple[int, int]]:
    cells: set[tuple[int, int]] = set()
    for rect in blocks:
        rect: Rect
        cells.update((r, c) for r in range(rect.row, rect.bottom + 1) for c in range(rect.col, rect.right + 1))
    return cells


_COLUMNS: dict[str, int] = {}


def _column(letters: str) -> int:
    number = _COLUMNS.get(letters)
    if number is None:
        number = 0
        for ch in letters:
            number = number * 26 + ord(ch) - 64
        _COLUMNS[letters] = number
    return number


def summarize_plan(plan) -> Summary:
    """Group the planned sheets by layer: a layer's sheet is followed by the weight sheets it added."""
    from .ops.cells import shape_text

    network = plan.network
    ops = iter(network.ops)
    rows: list[LayerRow] = []
    other = Counts()
    samples, other_sheets = 0, []
    current: LayerRow | None = None
    for sheet in plan.sheets:
        counts = count_cells(sheet)
        if sheet.kind == "layer":
            op = next(ops)
            current = LayerRow(op.name, op.title, shape_text(op.output_shape), op.parameter_count(), counts,
                               [sheet.title])
            rows.append(current)
        elif sheet.kind == "weights" and current is not None:
            current.counts.add(counts)
            current.sheets.append(sheet.title)
        elif sheet.kind == "input":
            rows.insert(0, LayerRow("(input)", "Input", shape_text(network.input_shape), 0, counts, [sheet.title]))
            current = None
        elif sheet.kind == "output":
            rows.append(LayerRow("(output)", "Output", shape_text(network.output_shape), 0, counts, [sheet.title]))
            current = None
        elif sheet.kind in PICKED_PARTS:      # an upper bound: IF and CHOOSE compute only the chosen part
            rows.append(LayerRow(f"({sheet.kind})", sheet.kind.capitalize(), "", 0, counts, [sheet.title]))
            current = None
        else:
            if sheet.kind == "data":
                samples = max(r for r, _ in sheet.cells) - 1 if sheet.cells else 0
            other.add(counts)
            other_sheets.append(sheet.title)
    return Summary(network.name, network.spec.source, rows, other, samples, other_sheets,
                   longest_formula(plan.sheets), list(plan.notes))


def longest_formula(sheets: list[SheetPlan]) -> tuple[int, str]:
    """(characters, 'sheet'!cell) of the longest formula, counting the leading '=' as Excel does."""
    from .layout import address

    length, where = 0, ""
    for sheet in sheets:
        for position, value in sheet.cells.items():
            if type(value) is Formula and len(value.expression) + 1 > length:
                length, where = len(value.expression) + 1, f"'{sheet.title}'!{address(*position)}"
    return length, where


def summarize(model: str | Path | None = None, samples: str | Path | None = None,
              labels: list[str] | None = None, normalize: str | None = None,
              max_cells: int | None = None, teaching: bool = True) -> Summary:
    """Plan the workbook `excelnet build` would write for these arguments, and count it."""
    from .convert import plan_for

    return summarize_plan(plan_for(model, labels, samples, max_cells, normalize=normalize, teaching=teaching)[0])


# --- text -------------------------------------------------------------------------------


def megabytes(size: float) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def table(headers: list[str], rows: list[list], footer: list | None = None, right: set[int] | None = None) -> str:
    """A plain text table; columns in `right` (default: all but the first two) are right-aligned."""
    right = set(range(2, len(headers))) if right is None else right
    cells = [[_text(v) for v in row] for row in [headers] + rows + ([footer] if footer else [])]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]

    def line(row):
        return "  ".join(v.rjust(w) if k in right else v.ljust(w) for k, (v, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(cells[0]), rule] + [line(row) for row in cells[1:len(cells) - bool(footer)]]
    if footer:
        out += [rule, line(cells[-1])]
    return "\n".join(out)


def _text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if seconds < 10 else f"{seconds * 1000:,.0f}"


def render(summary: Summary) -> str:
    headers = ["layer", "type", "output shape", "parameters", "formula cells", "weight cells", "recalc ms"]
    body = [[r.label, r.kind, r.output_shape, r.parameters, r.counts.formulas, r.counts.weights,
             _ms(r.counts.recalc_seconds)] for r in summary.rows]
    if summary.other_sheets:
        o = summary.other
        body.append(["(other sheets)", ", ".join(summary.other_sheets), "", 0, o.formulas, o.weights,
                     _ms(o.recalc_seconds)])
    total = summary.total
    rule_row = ["total", "", "", summary.parameters, total.formulas, total.weights, _ms(total.recalc_seconds)]
    text = [f"Model '{summary.model_name}' ({summary.source})", "", table(headers, body, rule_row)]
    text.append("")
    text.append(f"Cells: {total.formulas:,} formulas, {total.numbers:,} numbers "
                f"({total.weights:,} weights" + (f", {summary.samples} sample digits" if summary.samples else "")
                + f"), {total.texts:,} texts")
    text.append(f"Estimated workbook size: {megabytes(summary.estimated_bytes)}")
    text.append(f"Estimated full recalculation in LibreOffice: {seconds_text(summary.estimated_recalc_seconds)} "
                f"({total.references:,} references reading {total.cells_read:,} cells; the 'recalc ms' column "
                "is each layer's share)")
    length, where = summary.longest_formula
    if length:
        text.append(f"Longest formula: {length:,} characters ({where}; Excel takes 8,192)")
    for note in summary.notes:
        text.append(f"Note: {note}")
    for warning in summary.warnings():
        text.append(f"Warning: {warning}")
    return "\n".join(text)
