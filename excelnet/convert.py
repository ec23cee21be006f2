"""The whole conversion in one call: model file -> checked network -> sheet plans -> .xlsx."""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .assets import DEFAULT_MODEL, DEFAULT_SAMPLES
from .background import Background
from .errors import ExcelnetError
from .evaluate import Evaluator
from .ops import Network, build_network
from .reader import LayerSpec, ModelSpec, read_model
from .text import safe_text
from .workbook.build import WorkbookPlan, plan_workbook
from .workbook.inputs import Samples, load_samples


@dataclass
class BuildResult:
    path: Path
    plan: WorkbookPlan
    samples: Samples | None
    note: str | None = None          # e.g. that .xlsx was added to the output name

    @property
    def network(self) -> Network:
        return self.plan.network


def input_divisor(network: Network) -> float:
    """Raw 0-255 pixels become model units: /255, unless the model rescales them itself."""
    first = network.ops[0] if network.ops else None
    return 1.0 if first is not None and first.title == "Rescaling" else 255.0


DEFAULT_SOURCE = "excelnet's shipped model mnist_cnn.keras"


def parse_normalize(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """--normalize: 'MEAN,STD' (one channel, or the same for all), 'M1,M2,M3/S1,S2,S3' or
    'M1,M2,M3,S1,S2,S3' (per channel) -> (means, stds)."""
    try:
        if "/" in text:
            means, stds = ([float(v) for v in part.split(",")] for part in text.split("/"))
        else:
            values = [float(v) for v in text.split(",")]
            if len(values) % 2:
                raise ValueError
            means, stds = values[: len(values) // 2], values[len(values) // 2:]
    except ValueError:
        raise ExcelnetError(f"--normalize {text!r}: give MEAN,STD (e.g. 0.1307,0.3081), or per channel "
                            "M1,M2,M3/S1,S2,S3") from None
    if not all(math.isfinite(v) for v in (*means, *stds)):
        raise ExcelnetError(f"--normalize {text!r}: every mean and standard deviation must be a finite number")
    if not means or len(means) != len(stds) or any(s == 0 for s in stds):
        raise ExcelnetError(f"--normalize {text!r}: as many means as standard deviations, and no zero std")
    return tuple(means), tuple(stds)


def normalize_text(means, stds) -> str:
    return ",".join(f"{m:g}" for m in means) + "/" + ",".join(f"{s:g}" for s in stds)


def with_normalization(spec: ModelSpec, normalize: str) -> ModelSpec:
    """The model with (x − mean) / std in front: the Canvas takes 0–1 ink, the network gets what
    it was trained on (PyTorch's transforms.Normalize)."""
    means, stds = parse_normalize(normalize)
    layer = LayerSpec("Affine", "normalize", {"mean": list(means), "std": list(stds), "title": "Normalize"})
    return replace(spec, layers=(layer,) + tuple(spec.layers),
                   extra={**spec.extra, "normalize": normalize_text(means, stds)})


def load_network(model: str | Path | None = None, normalize: str | None = None,
                 max_cells: int | None = None) -> Network:
    """Read and check a model; the shipped one is recorded by name, not by install path,
    so the same workbook comes out wherever excelnet is installed. `normalize`: see parse_normalize;
    `max_cells`: the cell budget (workbook/limits.py)."""
    if model is not None and not str(model).strip():
        raise ExcelnetError("The model path is empty: give a model file (.keras, .h5 or .onnx), or leave "
                            "--model out to use the shipped MNIST CNN.")
    spec = read_model(model or DEFAULT_MODEL)
    if model is None:
        spec = replace(spec, source=DEFAULT_SOURCE)
    if normalize:
        spec = with_normalization(spec, normalize)
    return build_network(spec, max_cells)


def output_path(output: str | Path | None, model: str | Path | None, learn: bool = False) -> tuple[Path, str | None]:
    """Where the workbook goes, and a note when excelnet chose part of the name.

    Refused before any work: a name that is not .xlsx (verify and Excel would not open it
    as a workbook), a folder, or nothing at all."""
    default = (Path(model).stem if model else "mnist_cnn") + ("_learn" if learn else "") + ".xlsx"
    if output is None:
        return Path(default), None
    text = str(output)
    if not text.strip():
        raise ExcelnetError("The output name is empty: give a file name ending in .xlsx.")
    path = Path(text)
    if text.endswith(("/", "\\")) or path.is_dir():
        example = path / default
        raise ExcelnetError(f"The output '{safe_text(text)}' is a folder; give the workbook's file name, "
                            f"such as '{safe_text(str(example))}'.")
    if path.suffix == "":
        return path.with_name(path.name + ".xlsx"), f"added .xlsx to the output name: {safe_text(path.name)}.xlsx"
    if path.suffix.lower() != ".xlsx":
        raise ExcelnetError(f"The output '{safe_text(text)}' does not end in .xlsx: excelnet writes Excel "
                            f"workbooks, so name it e.g. '{safe_text(str(path.with_suffix('.xlsx')))}'.")
    return path, None


@contextmanager
def collector_paused():
    """Pause Python's cycle collector while a workbook is made. It walks every live object each
    time enough new ones have been made, and a build makes millions (cells, formulas, strings)
    that all live until the end: the walks took a third of `build --learn`. Nothing in a build
    needs a cycle freed early; collection resumes afterwards.

    On resuming, everything is handed to the oldest generation (freeze, then unfreeze): left
    in the youngest, the first collection would walk every cell once more only to find it alive
    (25 ms of `build`, 70 ms of `build --learn`). Cycles made meanwhile are freed by a later full pass."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def build(model: str | Path | None = None, output: str | Path | None = None,
          labels: list[str] | None = None, samples: str | Path | None = None,
          progress: Callable[[int, int], None] | None = None, learn: bool = False,
          max_cells: int | None = None, normalize: str | None = None, teaching: bool = True) -> BuildResult:
    """Convert `model` (default: the shipped MNIST CNN) into the workbook `output`.

    Everything is read and checked before the output file is touched. `progress(cells
    written, cells in all)` is called as each sheet is written, for a bar on big models. `learn`:
    add the learning sheets (gradients, one gradient-descent step, the forward pass after it).
    `normalize` ('MEAN,STD', per channel) puts (x − mean) / std in front of the network.
    `teaching` False: only the network (no Explain sheet, no lesson; --network-only)."""
    path, note = output_path(output, model, learn)
    with collector_paused():    # one pause for planning, evaluating and writing: each resume walks every cell
        plan, sample_set = plan_for(model, labels, samples, max_cells, learn, normalize, teaching)
        # The cached value of every formula, as the workbook opens: worked out on the other core
        # while openpyxl lays the workbook out (about 0.1 s of the default build, 0.1-0.2 s with --learn).
        with Background(lambda: cached_values(plan.sheets)) as values:
            from .writer import write_workbook      # openpyxl's import (70 ms) overlaps the child too

            written = write_workbook(plan.sheets, path, progress, values.result)
    return BuildResult(written, plan, sample_set, note)


def cached_values(sheets) -> dict[str, tuple[list, list, list]]:
    """Per sheet, the value of each formula cell as the workbook opens: (rows, columns, values) in
    the order of the sheet's cells; each value a float, str, bool or XLError."""
    book = Evaluator(sheets).run()
    return {title: (rows.tolist(), cols.tolist(), book.cell_values(title, rows, cols))
            for title, (rows, cols) in book.formula_cells.items()}


def plan_for(model: str | Path | None = None, labels: list[str] | None = None,
             samples: str | Path | None = None, max_cells: int | None = None,
             learn: bool = False, normalize: str | None = None,
             teaching: bool = True) -> tuple[WorkbookPlan, Samples | None]:
    """The workbook `build` would write for these arguments, planned but not written:
    `build`, `summary` and `train` all count its cells, so they report the same numbers."""
    network = load_network(model, normalize, max_cells)
    if samples is not None and not str(samples).strip():
        raise ExcelnetError("The samples path is empty: give an .npz file, or leave --samples out.")
    if samples is None and model is None:
        samples = DEFAULT_SAMPLES
    sample_set = load_samples(samples, network.input_shape, input_divisor(network)) if samples else None
    with collector_paused():       # the model is read and checked: from here on, cells by the hundred thousand
        return plan_workbook(network, sample_set, labels, learn, teaching=teaching), sample_set


def formula_cells(model: str | Path) -> int:
    """How many formula cells `excelnet build -m model` writes (what `summary` reports too)."""
    return plan_for(model)[0].formula_cells
