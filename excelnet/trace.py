"""verify's trace: every formula cell of every layer, and every weight, against the model.

The expected values come from the model file alone: the workbook plan is built afresh
from it and evaluated (excelnet.evaluate) for the same input, and each layer's output
block is taken from the NumPy forward pass (Network.trace), so a wrong formula cannot
vouch for itself. A cell hidden by the next layer (a corner a max-pool drops) is caught
here even though the probabilities do not move."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engines.in_office import canvas_order
from .evaluate import Evaluator
from .layout import address
from .workbook.build import plan_workbook
from .workbook.inputs import Samples, matching

SHOWN = 5          # cells named for the first layer that differs
FORWARD_KINDS = ("input", "data", "layer", "weights")     # the sheets the forward pass reads
SHOWN_WEIGHTS = 10
WEIGHT_RTOL = 1e-12


@dataclass(frozen=True)
class CellDifference:
    sheet: str
    row: int
    col: int
    workbook: object
    model: float

    def text(self) -> str:
        return f"{self.sheet}!{address(self.row, self.col)}: workbook {_show(self.workbook)}, model {_show(self.model)}"


def _show(value) -> str:
    if isinstance(value, float):
        if np.isnan(value):
            return "not a number"
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass
class TraceResult:
    layer: str | None = None            # the first layer sheet with a cell that differs
    layer_input: int = 0                # with which input (from 1)
    layer_count: int = 0                # how many of its cells differ
    layer_cells: list[CellDifference] = field(default_factory=list)
    weights: list[CellDifference] = field(default_factory=list)
    formula_cells: int = 0              # checked per input
    weight_cells: int = 0

    @property
    def ok(self) -> bool:
        return self.layer is None and not self.weights

    def lines(self) -> list[str]:
        out = []
        if self.layer is not None:
            cells = "cell differs" if self.layer_count == 1 else "cells differ"
            out.append(f"First layer that differs from the model: {self.layer} ({self.layer_count} {cells} "
                       f"with input {self.layer_input})")
            out.extend("  " + d.text() for d in self.layer_cells)
        if self.weights:
            count = len(self.weights)
            out.append(f"{count} {'weight differs' if count == 1 else 'weights differ'} from the model file: "
                       + "; ".join(d.text() for d in self.weights[:SHOWN_WEIGHTS])
                       + (" ..." if count > SHOWN_WEIGHTS else ""))
        return out


@dataclass
class _Block:
    sheet: str
    rows: np.ndarray
    cols: np.ndarray


class Tracer:
    """What every layer cell and weight of the workbook should hold, built from the model."""

    def __init__(self, network, has_samples: bool, learning: bool = False):
        """`learning`: the workbook has the learning sheets, which lay Flatten out differently
        (ops/base.py, Book); only its forward pass is traced."""
        from .assets import DEFAULT_SAMPLES
        from .convert import collector_paused, input_divisor
        from .workbook.inputs import load_samples

        samples = None
        if has_samples:     # the layout only depends on whether there is a Sample picker
            shipped = load_samples(DEFAULT_SAMPLES, network.input_shape, input_divisor(network)) \
                if int(np.prod(network.input_shape)) == 784 else None
            samples = matching(shipped, network.input_shape) or Samples(
                np.zeros((1, int(np.prod(network.input_shape)))), np.zeros(1, int))
        self.network = network
        with collector_paused():          # tens of thousands of cells, as in a build
            # The workbook exists: the build's limits are not verify's business (check=False).
            self.plan = plan_workbook(network, samples, maps_side_by_side=learning, check=False)
        kinds = {sheet.title: sheet.kind for sheet in self.plan.sheets}
        self.layers = [self._formulas(sheet) for sheet in self.plan.sheets if sheet.kind == "layer"]
        self.weight_cells = self._weights()
        self.sheets = [title for title, kind in kinds.items() if kind in ("layer", "weights")]
        self.layer_sheets = [block.sheet for block in self.layers]
        self.outputs = {block.sheet: self._output_cells(block) for block in self.layers
                        if block.sheet in {title for title, _ in self.plan.outputs.values()}}
        # Per input, the layer outputs come from NumPy (network.trace) and are typed in; the
        # evaluator then computes only the other cells of the layer sheets (the copies a
        # convolution reads, softmax's parts, ...) and what those read.
        self.given = {block.sheet: set(zip(block.rows[self.outputs[block.sheet][1]].tolist(),
                                           block.cols[self.outputs[block.sheet][1]].tolist()))
                      for block in self.layers if block.sheet in self.outputs}
        with collector_paused():          # only what the layer sheets read; their outputs not even parsed
            self.evaluator = Evaluator([sheet for sheet in self.plan.sheets if sheet.kind in FORWARD_KINDS],
                                       self.given)
        self.helpers = self.evaluator.needed_groups(set(self.layer_sheets))
        input_sheet = next(sheet for sheet in self.plan.sheets if sheet.kind == "input")
        self.canvases = [input_sheet.names[name] for name in canvas_order(input_sheet.names)]

    def _output_cells(self, block: _Block) -> tuple[int, np.ndarray, np.ndarray]:
        """(layer number, which of the block's cells hold the layer's output, the output element
        each of those holds): the NumPy forward pass decides those cells."""
        index, cells = next((i, c) for i, (title, c) in self.plan.outputs.items() if title == block.sheet)
        size = int(np.prod(cells.shape))
        element = {cells.position(i): i for i in range(size)}
        found = np.array([element.get(cell, -1) for cell in zip(block.rows.tolist(), block.cols.tolist())], np.int64)
        return index, found >= 0, found[found >= 0]

    @staticmethod
    def _formulas(sheet) -> _Block:
        from .sheet import Formula

        cells = [cell for cell, value in sheet.cells.items() if isinstance(value, Formula)]
        return _Block(sheet.title, np.array([r for r, _ in cells], np.int64), np.array([c for _, c in cells], np.int64))

    def _weights(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per sheet: rows, cols and model values of every weight and filter switch."""
        found: dict[str, dict[tuple[int, int], float]] = {}
        cells = {sheet.title: sheet.cells for sheet in self.plan.sheets}
        sheets = {sheet.title: sheet for sheet in self.plan.sheets}
        for params in self.plan.params.values():
            for array in params.arrays:
                positions = array.positions()
                values = sheets[array.sheet].number_at(positions).tolist()
                found.setdefault(array.sheet, {}).update(zip(positions, values))
            for rect in params.switches:
                position = (rect.row, rect.col)
                found.setdefault(rect.sheet, {})[position] = float(cells[rect.sheet][position])
        return {sheet: (np.array([r for r, _ in f], np.int64), np.array([c for _, c in f], np.int64),
                        np.array(list(f.values()))) for sheet, f in found.items()}

    def canvas_changes(self, x: np.ndarray) -> dict:
        from .engines.libreoffice import canvas_grids

        changes = {}
        for rect, grid in zip(self.canvases, canvas_grids(x)):
            for r, row in enumerate(grid):
                for c, value in enumerate(row):
                    changes[(rect.sheet, rect.row + r, rect.col + c)] = float(value)
        return changes

    def expected(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per layer sheet: the value each formula cell should hold for input x (model units)."""
        trace = self.network.trace(x)
        outputs = {}
        for block in self.layers:
            if block.sheet in self.outputs:
                index, held, element = self.outputs[block.sheet]
                values = np.asarray(trace[index - 1], dtype=np.float64).reshape(-1)[element]
                outputs[block.sheet] = (block.rows[held], block.cols[held], values)
        self.evaluator.run(self.canvas_changes(x), self.helpers, outputs)
        out = {}
        for block in self.layers:
            values = self.evaluator.numbers(block.sheet, block.rows, block.cols)
            if block.sheet in self.outputs:      # the layer's output: the NumPy forward pass decides
                index, held, element = self.outputs[block.sheet]
                values[held] = np.asarray(trace[index - 1], dtype=np.float64).reshape(-1)[element]
            out[block.sheet] = values
        return out

    def compare_layers(self, x: np.ndarray, read, result: TraceResult, number: int, rtol: float, atol: float,
                       expected: dict[str, np.ndarray] | None = None) -> None:
        """`read(sheet, rows, cols)`: the workbook's values there (floats, NaN for non-numbers);
        `expected`: self.expected(x) when already worked out."""
        result.formula_cells = sum(len(block.rows) for block in self.layers)
        if result.layer is not None:        # the first layer that differs is found
            return
        expected = expected if expected is not None else self.expected(x)
        for block in self.layers:
            got = read(block.sheet, block.rows, block.cols)
            want = expected[block.sheet]
            bad = np.flatnonzero(~(np.isclose(got, want, rtol=rtol, atol=atol) | (np.isnan(got) & np.isnan(want))))
            if len(bad):
                result.layer, result.layer_input, result.layer_count = block.sheet, number, len(bad)
                result.layer_cells = [CellDifference(block.sheet, int(block.rows[i]), int(block.cols[i]),
                                                     float(got[i]), float(want[i])) for i in bad[:SHOWN]]
                return

    def compare_weights(self, read, result: TraceResult) -> None:
        for sheet, (rows, cols, want) in self.weight_cells.items():
            got = read(sheet, rows, cols)
            result.weight_cells += len(rows)
            # Weights are written exactly; a program that saves the file again may round the last of
            # 17 digits (openpyxl keeps 16), so only a change beyond that is an edit.
            for i in np.flatnonzero(~np.isclose(got, want, rtol=WEIGHT_RTOL, atol=0.0)):
                result.weights.append(CellDifference(sheet, int(rows[i]), int(cols[i]), float(got[i]), float(want[i])))


def array_reader(arrays: dict[str, np.ndarray]):
    """read(sheet, rows, cols) over whole-sheet arrays of floats from A1 (NaN: not a number)."""
    def read(sheet: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        g = arrays.get(sheet)
        out = np.full(len(rows), np.nan)
        if g is None:
            return out
        inside = (rows <= g.shape[0]) & (cols <= g.shape[1])
        out[inside] = g[rows[inside] - 1, cols[inside] - 1]
        return out

    return read


def cell_reader(values: dict[tuple[str, int, int], object]):
    """read(sheet, rows, cols) over a dict of single cells (the formulas engine, openpyxl)."""
    def read(sheet: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        out = [values.get((sheet, int(r), int(c))) for r, c in zip(rows, cols)]
        return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                         for v in out])
    return read


def stored_cells(workbook, sheets: list[str]) -> dict[tuple[str, int, int], object]:
    """The numbers stored in the file on these sheets (weights do not need recalculating)."""
    from openpyxl import load_workbook

    book = load_workbook(workbook, read_only=True, data_only=True)
    try:
        found = {}
        for title in sheets:
            if title not in book.sheetnames:
                continue
            for r, row in enumerate(book[title].iter_rows(values_only=True), start=1):
                for c, value in enumerate(row, start=1):
                    if value is not None:
                        found[(title, r, c)] = value
        return found
    finally:
        book.close()
