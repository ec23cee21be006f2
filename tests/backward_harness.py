"""A tiny plan around one op's backward rule: input numbers, the op's forward emit, an upstream
gradient as numbers, emit_backward; written with the real writer and evaluated by a formula
engine, and the same op's gradients from tf.GradientTape on the equivalent Keras layer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from excelnet.layout import Cells, address
from excelnet.ops import CONVERTERS
from excelnet.ops.base import Book, Context, Op, Params, WeightCells
from excelnet.ops.cells import new_flat, new_planar
from excelnet.reader.spec import LayerSpec
from excelnet.sheet import SheetPlan
from excelnet.workbook.naming import SheetNamer
from excelnet.writer import write_workbook


def op_from_keras(layer, input_shape: tuple[int, ...]) -> Op:
    """The excelnet op for a built Keras layer, through the registered converter."""
    spec = LayerSpec(type(layer).__name__, layer.name, layer.get_config(),
                     tuple(np.asarray(w) for w in layer.get_weights()))
    return CONVERTERS[spec.class_name](spec, tuple(input_shape), Context("3"))


def tf_gradients(layer, x: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(∂loss/∂x, [∂loss/∂w for w in layer.weights]) for loss = Σ layer(x) · grad, float32."""
    import tensorflow as tf

    inputs = tf.constant(x[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        for w in layer.weights:          # moving statistics too: every weight array gets a Grad
            tape.watch(w.value if hasattr(w, "value") else w)
        loss = tf.reduce_sum(layer(inputs, training=False) * tf.constant(grad[None], tf.float32))
    variables = [w.value if hasattr(w, "value") else w for w in layer.weights]
    d_x, *d_w = tape.gradient(loss, [inputs] + variables)
    return d_x.numpy()[0], [np.zeros(w.shape) if g is None else g.numpy() for w, g in zip(variables, d_w)]


def assert_gradients_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """The issue's tolerance: allclose(rtol=1e-4, atol=1e-5 × max|tf|), per array."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    atol = 1e-5 * float(np.max(np.abs(want))) if want.size else 0.0
    close = np.isclose(got, want, rtol=1e-4, atol=atol)
    if not close.all():
        bad = np.argwhere(~close)[:5]
        details = ", ".join(f"{tuple(i)}: got {got[tuple(i)]!r} want {want[tuple(i)]!r}" for i in bad)
        raise AssertionError(f"{what}: {int((~close).sum())} of {close.size} differ: {details}")


@dataclass
class BackwardPlan:
    path: Path
    x: Cells
    out: Cells
    d_x: Cells
    d_weights: tuple[WeightCells, ...]
    params: Params
    sheets: list[SheetPlan]


def _place(sheet: SheetPlan, shape: tuple[int, ...], values: np.ndarray) -> Cells:
    cells = new_planar(sheet, shape) if len(shape) >= 2 else new_flat(sheet, shape, "x")
    for i, v in enumerate(np.asarray(values, np.float64).reshape(-1)):
        sheet.put(*cells.position(i), float(v))
    return cells


def plan_backward(op: Op, x: np.ndarray, grad: np.ndarray, path: Path,
                  forget_pre_activation: bool = False) -> BackwardPlan:
    """`forget_pre_activation`: the backward rule must find the activation's input itself."""
    book = Book(SheetNamer())
    inputs = book.add_sheet("In", "layer")
    x_cells = _place(inputs, op.input_shape, x)
    forward = book.add_sheet("Forward", "layer")
    recorded = len(book.params)
    out = op.emit(forward, x_cells, book)
    mine = book.params[recorded:]
    params = Params(tuple(c for p in mine for c in p.arrays), tuple(s for p in mine for s in p.switches))
    upstream = book.add_sheet("Upstream", "layer")
    g_cells = _place(upstream, op.output_shape, grad)
    if forget_pre_activation:
        book.pre_activations.clear()
    backward = book.add_sheet("Backward", "layer")
    d_x, d_w = op.emit_backward(backward, x_cells, out, g_cells, params, book)
    write_workbook(book.sheets, path)
    return BackwardPlan(path, x_cells, out, d_x, d_w, params, book.sheets)


class Values:
    """Read tensors and weight arrays back from a recalculated workbook."""

    def cell(self, sheet: str, row: int, col: int) -> float:
        raise NotImplementedError

    def tensor(self, cells: Cells) -> np.ndarray:
        flat = [self.cell(cells.sheet, *cells.position(i)) for i in range(int(np.prod(cells.shape)))]
        return np.array(flat).reshape(cells.shape)

    def weights(self, cells: WeightCells) -> np.ndarray:
        out = np.empty(cells.shape)
        for idx in np.ndindex(*cells.shape):
            out[idx] = self.cell(cells.sheet, *cells.position(idx))
        return out


class LibreOfficeValues(Values):
    """Every cell of the plan's sheets after LibreOffice recalculated the workbook (optionally
    after typing `changes` {(sheet, row, col): value} into it)."""

    def __init__(self, office, plan: BackwardPlan, changes: dict[tuple[str, int, int], float] | None = None):
        office.open(plan.path)
        if changes:
            office.write_cells([(s, r, c, v) for (s, r, c), v in changes.items()])
        ranges = [(s.title, 1, 1, max(r for r, _ in s.cells), max(c for _, c in s.cells)) for s in plan.sheets]
        self.grids = dict(zip([s.title for s in plan.sheets], office.read_ranges(ranges)))

    def cell(self, sheet: str, row: int, col: int) -> float:
        return float(self.grids[sheet][row - 1][col - 1])


class FormulasValues(Values):
    """Every cell of a workbook after the `formulas` library recalculated it (optionally with
    some cells changed first)."""

    def __init__(self, path: Path, changes: dict[tuple[str, int, int], float] | None = None):
        import formulas

        self.path = path
        model = formulas.ExcelModel().loads(str(path)).finish()
        inputs = {self._key(s, r, c): v for (s, r, c), v in (changes or {}).items()}
        self.solution = model.calculate(inputs=inputs) if inputs else model.calculate()

    def _key(self, sheet: str, row: int, col: int) -> str:
        return f"'[{self.path.name}]{sheet.upper()}'!{address(row, col)}"

    def cell(self, sheet: str, row: int, col: int) -> float:
        value = self.solution[self._key(sheet, row, col)].value
        return float(np.asarray(value).reshape(-1)[0])
