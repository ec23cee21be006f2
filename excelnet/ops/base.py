"""The converter's middle: one Op per spreadsheet step, registered by Keras class name."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from typing import Any, Callable

import numpy as np

from ..layout import Cells, Flat, Rect, ref
from ..reader.spec import LayerSpec
from ..sheet import SheetPlan

Shape = tuple[int, ...]


class Unsupported(Exception):
    """This layer, or one of its options, cannot become formulas. Carries every reason."""

    def __init__(self, *reasons: str):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@dataclass(frozen=True)
class Context:
    """Facts about the whole model that some converters need."""

    keras_version: str = ""

    @property
    def keras2(self) -> bool:
        return self.keras_version.startswith("2.")


@dataclass(frozen=True)
class WeightCells:
    """Where one weight array (Keras' shape, get_weights() order) lives on a sheet.

    `areas` are the blocks a student sees; element idx of the array sits in area
    `area_index[idx]` at offset `offsets[idx]` (row, col) from its top-left. A gradient or an
    updated copy laid out "exactly like the weights" is the same WeightCells `moved` to other
    areas of the same shapes, so it lines up with the weights cell for cell."""

    sheet: str
    areas: tuple[Rect, ...]
    area_index: np.ndarray        # int, the array's shape
    offsets: np.ndarray           # int, the array's shape + (2,)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.area_index.shape

    def position(self, index: tuple[int, ...]) -> tuple[int, int]:
        """(row, col) of one element."""
        return self._positions[tuple(index)]

    def positions(self) -> list[tuple[int, int]]:
        """(row, col) of every element, in C order (as np.ndindex walks the array)."""
        return list(self._positions.values())

    def position_array(self) -> np.ndarray:
        """Every element's (row, col): an int array of the array's shape + (2,)."""
        corners = np.array([[a.row, a.col] for a in self.areas], dtype=np.int64).reshape(-1, 2)
        return corners[self.area_index] + self.offsets

    @cached_property
    def _positions(self) -> dict[tuple[int, ...], tuple[int, int]]:
        """Every element's (row, col), computed at once: the learning sheets ask for each of
        tens of thousands of weights several times (cached on the frozen instance's __dict__)."""
        cells = self.position_array().reshape(-1, 2).tolist()
        return dict(zip(product(*map(range, self.shape)), map(tuple, cells)))   # C order, as np.ndindex

    def ref(self, index: tuple[int, ...], here: str, absolute: bool = True) -> str:
        return ref(self.sheet, *self._positions[tuple(index)], here, absolute)

    def cell_rects(self) -> list[Rect]:
        """Every element as a one-cell block, in C order (a bias: one per filter)."""
        return [Rect(self.sheet, r, c, 1, 1) for r, c in self.positions()]

    def even_step(self, numbers: tuple[int, ...], down: bool) -> int:
        """The step between the areas `numbers` (in order) where they are equal and sit one under the
        other (`down`) or side by side at equal steps, as a weights sheet's units do; else 0.
        Remembered: Explain asks it for the same units once per input of a dense layer."""
        key = (numbers, down)
        if key not in self._steps:
            self._steps[key] = even_step([self.areas[n] for n in numbers], down)
        return self._steps[key]

    @cached_property
    def _steps(self) -> dict[tuple, int]:
        return {}

    def moved(self, areas: "list[Rect] | tuple[Rect, ...]") -> "WeightCells":
        """The same layout in other areas (each the same size as the one it replaces)."""
        areas = tuple(areas)
        assert [(a.rows, a.cols) for a in areas] == [(a.rows, a.cols) for a in self.areas]
        return WeightCells(areas[0].sheet, areas, self.area_index, self.offsets)

    def to_array(self, area_values: "list[np.ndarray]") -> np.ndarray:
        """The Keras-shaped array from the values of each area (e.g. read from a workbook)."""
        out = np.empty(self.shape)
        for idx in np.ndindex(self.shape):
            dr, dc = self.offsets[idx]
            out[idx] = area_values[int(self.area_index[idx])][dr, dc]
        return out


def even_step(areas: "list[Rect]", down: bool) -> int:
    """See WeightCells.even_step."""
    first = areas[0]
    along, across = ("row", "col") if down else ("col", "row")
    if len(areas) < 2 or any((a.sheet, getattr(a, across), a.rows, a.cols) !=
                             (first.sheet, getattr(first, across), first.rows, first.cols) for a in areas):
        return 0
    step = getattr(areas[1], along) - getattr(first, along)
    return step if step > 0 and all(getattr(a, along) == getattr(first, along) + n * step
                                    for n, a in enumerate(areas)) else 0


def block_cells(sheet: str, areas: "list[Rect]", shape: tuple[int, ...],
                place: Callable[[tuple[np.ndarray, ...]], tuple]) -> WeightCells:
    """WeightCells from `place(idx) -> (area, row offset, col offset)`. `place` gets the index
    arrays of every element at once (np.indices), so it must be written with array arithmetic."""
    index = tuple(np.indices(shape, dtype=np.int32))
    area, dr, dc = (np.broadcast_to(np.asarray(v, dtype=np.int32), shape) for v in place(index))
    return WeightCells(sheet, tuple(areas), np.ascontiguousarray(area), np.stack([dr, dc], axis=-1))


@dataclass(frozen=True)
class OuterProduct:
    """A kernel gradient whose cell (i, j) is inputs[i] × deltas[j]."""

    inputs: Flat     # the layer's input on the first pass
    deltas: Flat     # δ of each unit


@dataclass(frozen=True)
class SteppedWeights:
    """A weight array after one step of gradient descent that no cells hold: w − rate × g is
    applied where the weights are read, as SUMPRODUCT(x, w) − rate × SUMPRODUCT(x, g) (exactly
    Σ x·(w − rate·g)). For a kernel too big to show a second time (the learning workbook's Step
    sheet says so in words); only an op whose `reads_stepped(k)` is true gets one."""

    weights: WeightCells
    grads: WeightCells
    rate: Rect                    # the LearningRate cell
    # When every gradient is (input i) × δ_j (a Dense kernel): the inputs and the δ it was made
    # from. Then Σ_i input'_i × g_ij = δ_j × Σ_i input'_i × input_i, and the pass after the step need
    # not read the gradient cells at all: a pixel edit no longer recalculates them on its way to
    # the new probabilities (51,200 cells for the shipped model).
    outer: "OuterProduct | None" = None

    def rate_ref(self, here: str) -> str:
        return self.rate.ref(here, absolute=True)


@dataclass(frozen=True)
class Route:
    """How each element of a backward block is made from other cells, for a later backward rule to
    write that expression inline instead of reading the block (see Book.remember_route): element k
    (Keras' flat order) is templates[which[k]], its marks standing for places[mark][k]."""

    templates: tuple[str, ...]
    which: tuple[int, ...]
    places: dict                  # mark name -> list of one-cell Rects, one per element

    def places_of(self, order: "list[int]") -> dict:
        """The places of the elements `order`, in that order."""
        return {name: [cells[k] for k in order] for name, cells in self.places.items()}


@dataclass(frozen=True)
class Params:
    """The cells a layer reads its parameters from. The first forward pass writes the weights
    as numbers; a later pass (after a gradient step) can read other cells laid out the same way.
    `switches` (a convolution's filter on/off cells) are shared by every pass."""

    arrays: tuple[WeightCells, ...] = ()      # one per weight array, Keras' get_weights() order
    switches: tuple[Rect, ...] = ()


class Op:
    """One layer of the network as the workbook computes it.

    Subclasses are frozen dataclasses with at least `name`, `input_shape`, `output_shape`."""

    name: str
    input_shape: Shape
    output_shape: Shape
    title = "layer"          # shown in the guide and sheet headers, e.g. "Conv2D"

    def reference(self, x: np.ndarray) -> np.ndarray:
        """What Keras computes for one example (no batch axis), in float64."""
        raise NotImplementedError

    def emit(self, sheet: SheetPlan, x: Cells, book: "Book", params: Params | None = None) -> Cells:
        """Write this step's cells onto `sheet` (reading `x`) and return where its output lives.

        Without `params` the layer writes its weights as numbers and records where with
        `book.record(params)`; with them it reads its weights from those cells instead."""
        raise NotImplementedError

    def weight_arrays(self) -> tuple[tuple[str, np.ndarray], ...]:
        """(label, array) for each array of Keras' get_weights(), in that order."""
        return ()

    # --- Learning (excelnet build --learn): the backward rule lives beside the forward one ----

    def backward_reference(self, x: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """(∂loss/∂x, ∂loss/∂ each weight array in weight_arrays() order) for one example in
        float64, given the input `x` and ∂loss/∂output `grad`. For an op that ends in a softmax,
        `grad` is ∂loss/∂(the values before the softmax): the loss supplies p − onehot."""
        raise NotImplementedError

    def emit_backward(self, sheet: SheetPlan, x: Cells, out: Cells, grad: Cells, params: Params,
                      book: "Book") -> tuple[Cells, tuple["WeightCells", ...]]:
        """Write ∂loss/∂x (laid out like `x`) and ∂loss/∂ each weight array (laid out exactly like
        `params.arrays`, same order: WeightCells.moved) as formulas; `grad` holds ∂loss/∂output
        laid out like `out` (before the softmax for an op that ends in one, as above).
        Returns (input gradient cells, weight gradient cells)."""
        raise NotImplementedError

    def reads_stepped(self, k: int) -> bool:
        """Whether the forward pass after a step can read weight array k as SteppedWeights."""
        return False

    @property
    def has_backward(self) -> bool:
        """A backward rule, and (for a layer with an activation) that activation's derivative."""
        activation = getattr(self, "activation", None)
        return (type(self).emit_backward is not Op.emit_backward
                and getattr(activation, "has_derivative", True))

    def describe(self) -> str:
        """One line for the guide: what each cell of this layer computes."""
        return self.title

    def parameter_count(self) -> int:
        return 0


class Book:
    """What an emitter may ask of the workbook: another sheet (for big weight tables)."""

    def __init__(self, namer: Callable[[str], str], maps_side_by_side: bool = False):
        self.sheets: list[SheetPlan] = []
        # How Flatten lays out a stack of feature maps (layout.Flat), and so a Dense layer's weights.
        # One below the other by default: faster forward. With the learning sheets, side by side
        # (each unit's weights one below the other): the backward pass reads each input's weights
        # to all units, which then lie in one column instead of a row of hundreds of columns
        # (about 200 ms of the learning workbook's recalculation).
        self.maps_side_by_side = maps_side_by_side
        self.params: list[Params] = []        # what each emit that wrote weights recorded
        self.pre_activations: dict[Cells, Cells] = {}   # a layer's output -> the cells before its activation
        self.outer_products: list[tuple[WeightCells, OuterProduct]] = []   # see SteppedWeights.outer
        # The learning sheets' shortcuts for a pixel edit: a block that only copies another (Flatten's
        # ∂loss/∂input) and a block whose every cell is a short expression of a few cells (a max
        # pooling's IF(winner=k, gradient, 0)) are shown, but the next backward rule reads the
        # original, or writes the expression inline: LibreOffice then recalculates 8,600 cells
        # fewer on the way from a Canvas pixel to ProbabilitiesAfter (benchmarks/learn_path.py).
        self._copies: dict[int, tuple[Cells, Cells]] = {}
        self._routes: dict[int, tuple[Cells, Route]] = {}
        self._namer = namer

    def record(self, params: Params) -> Params:
        self.params.append(params)
        return params

    def remember_pre_activation(self, out: Cells, pre: Cells) -> None:
        """A layer whose activation needs its input for the derivative keeps that input in cells of
        its own (uses_input > 1); its backward rule finds them here from the output cells."""
        self.pre_activations[out] = pre

    def pre_activation(self, out: Cells) -> "Cells | None":
        return self.pre_activations.get(out)

    def remember_outer_product(self, grads: WeightCells, outer: OuterProduct) -> None:
        self.outer_products.append((grads, outer))

    def outer_product(self, grads: WeightCells) -> "OuterProduct | None":
        return next((outer for cells, outer in self.outer_products if cells is grads), None)

    def remember_copy(self, copy: Cells, original: Cells) -> None:
        """Element k of `copy` is a formula that reads element k of `original` (Keras' flat order)."""
        self._copies[id(copy)] = (copy, original)

    def original(self, cells: Cells) -> Cells:
        """The cells that `cells` copy (through every copy of a copy), else `cells` themselves."""
        while id(cells) in self._copies and self._copies[id(cells)][0] is cells:
            cells = self._copies[id(cells)][1]
        return cells

    def remember_route(self, cells: Cells, route: Route) -> None:
        self._routes[id(cells)] = (cells, route)

    def route(self, cells: Cells) -> "Route | None":
        """How each element of `cells` is computed, where its rule remembered it (remember_route)."""
        found = self._routes.get(id(cells))
        return found[1] if found is not None and found[0] is cells else None

    def add_sheet(self, base_name: str, kind: str) -> SheetPlan:
        sheet = SheetPlan(self._namer(base_name), kind)
        self.sheets.append(sheet)
        return sheet


Converter = Callable[[LayerSpec, "Shape | None", Context], "Op | None"]
CONVERTERS: dict[str, Converter] = {}
IDENTITY_LAYERS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
                   "GaussianDropout", "AlphaDropout", "ActivityRegularization",
                   # data augmentation: only active while training
                   "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                   "RandomContrast", "RandomBrightness"}


def converter(*class_names: str):
    """Register a function that turns a LayerSpec into an Op.

    It receives the input shape, or None when an earlier layer already failed;
    then it still checks the layer's options so every problem is reported at once."""

    def register(function: Converter) -> Converter:
        for name in class_names:
            if name in CONVERTERS:
                raise ValueError(f"two converters for {name}")
            CONVERTERS[name] = function
        return function

    return register


def supported_layers() -> list[str]:
    return sorted(set(CONVERTERS) | IDENTITY_LAYERS | {"InputLayer"})


def option(config: dict, key: str, default: Any = None) -> Any:
    value = config.get(key, default)
    return default if value is None else value


LARGEST_SIZE = 2**20      # a window or size larger than this fits no sheet


def number(config: dict, key: str, default, reasons: list[str], optional: bool = False) -> float | None:
    """A finite number setting (JSON may hold NaN, Infinity, text or a list); None if absent
    and `optional`, or when it is wrong (the reason is added to `reasons`)."""
    value = config.get(key)
    if value is None:
        if optional:
            return None
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        reasons.append(f"{key}={value!r} is not a number")
        return None
    if not math.isfinite(value):
        reasons.append(f"{key}={value!r} is not a finite number")
        return None
    return float(value)


def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= LARGEST_SIZE


def whole(config: dict, key: str, default: int | None, reasons: list[str], minimum: int = 1) -> int | None:
    """A whole-number setting such as units or filters (None, and fine, when absent without a default)."""
    value = option(config, key, default)
    if value is None:
        return None
    if not _whole(value, minimum):
        reasons.append(f"{key}={value!r} is not a whole number from {minimum} to {LARGEST_SIZE:,}")
        return None
    return value


def whole_pair(config: dict, key: str, default, reasons: list[str]) -> tuple[int, int] | None:
    """A size per axis, such as kernel_size or strides: 3 or [3, 3] (None when absent without a default)."""
    value = option(config, key, default)
    if value is None:
        return None
    both = value if isinstance(value, (list, tuple)) else [value, value]
    if len(both) != 2 or not all(_whole(v, 1) for v in both):
        reasons.append(f"{key}={value!r} is not one or two whole numbers from 1 to {LARGEST_SIZE:,}")
        return None
    return both[0], both[1]


def check_channels_last(config: dict, reasons: list[str]) -> None:
    fmt = config.get("data_format") or "channels_last"
    if fmt != "channels_last":
        reasons.append(f"data_format={fmt!r} is not supported (only channels_last)")


def finish(reasons: list[str], shape: "Shape | None") -> bool:
    """Raise with the collected reasons; True when the op can be built."""
    if reasons:
        raise Unsupported(*reasons)
    return shape is not None
