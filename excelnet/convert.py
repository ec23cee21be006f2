"""The whole conversion in one call: model file -> checked network -> sheet plans -> .xlsx."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .assets import DEFAULT_MODEL, DEFAULT_SAMPLES
from .errors import ExcelnetError
from .evaluate import Evaluator
from .ops import Network, build_network
from .reader import LayerSpec, ModelSpec, read_model
from .workbook.build import WorkbookPlan, plan_workbook
from .workbook.inputs import Samples, load_samples
from .writer import write_workbook


@dataclass
class BuildResult:
    path: Path
    plan: WorkbookPlan
    samples: Samples | None

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


def load_network(model: str | Path | None = None, normalize: str | None = None) -> Network:
    """Read and check a model; the shipped one is recorded by name, not by install path,
    so the same workbook comes out wherever excelnet is installed. `normalize`: see parse_normalize."""
    spec = read_model(model or DEFAULT_MODEL)
    if model is None:
        spec = replace(spec, source=DEFAULT_SOURCE)
    if normalize:
        spec = with_normalization(spec, normalize)
    return build_network(spec)


@contextmanager
def collector_paused():
    """Pause Python's cycle collector while a workbook is made. It walks every live object each
    time enough new ones have been made, and a build makes millions (cells, formulas, strings)
    that all live until the end: the walks took a third of `build --learn`. Nothing in a build
    needs a cycle freed early; collection resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build(model: str | Path | None = None, output: str | Path | None = None,
          labels: list[str] | None = None, samples: str | Path | None = None,
          progress: Callable[[int, int], None] | None = None, learn: bool = False,
          normalize: str | None = None) -> BuildResult:
    """Convert `model` (default: the shipped MNIST CNN) into the workbook `output`.

    Everything is read and checked before the output file is touched. `progress(cells
    written, cells in all)` is called as each sheet is written, for a bar on big models. `learn`:
    add the learning sheets (gradients, one gradient-descent step, the forward pass after it).
    `normalize` ('MEAN,STD', per channel) puts (x − mean) / std in front of the network."""
    network = load_network(model, normalize)
    if samples is None and model is None:
        samples = DEFAULT_SAMPLES
    sample_set = load_samples(samples, network.input_shape, input_divisor(network)) if samples else None
    if output is None:
        output = Path((Path(model).stem if model else "mnist_cnn") + ("_learn" if learn else "") + ".xlsx")
    with collector_paused():       # the model is read and checked: from here on, cells by the hundred thousand
        plan = plan_workbook(network, sample_set, labels, learn)
        values = Evaluator(plan.sheets).run()      # the cached value of every formula, as the workbook opens
        path = write_workbook(plan.sheets, output, progress, values)
    return BuildResult(path, plan, sample_set)
