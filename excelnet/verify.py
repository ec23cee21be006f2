"""`excelnet verify`: recalculate a workbook in a real engine and compare it with the model.

The reference is the package's own NumPy forward pass (`Network.predict`, tested
against Keras in tests/test_reference.py), so verifying needs no TensorFlow.
Without a model file the workbook's Guide sheet says which model it was built from:
its SHA-256 (ModelSHA256) and path (ModelSource)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ExcelnetError
from .trace import TraceResult

RTOL, ATOL = 1e-5, 1e-6
ENGINES = ("libreoffice", "formulas")


@dataclass
class ModelChoice:
    path: Path
    how: str                    # one line: how the model was found


@dataclass
class Inputs:
    x: np.ndarray               # (N, *input_shape), model units
    labels: np.ndarray | None   # true classes of the digits among them (-1 for random inputs)
    description: str


@dataclass
class Report:
    workbook: Path
    model: ModelChoice
    engine: str
    inputs: Inputs
    got: np.ndarray             # (N, K) the workbook's outputs (NaN where a cell was not a number)
    expected: np.ndarray        # (N, K) the NumPy reference
    error_cells: dict[str, int] = field(default_factory=dict)
    trace: TraceResult = field(default_factory=TraceResult)
    rtol: float = RTOL
    atol: float = ATOL

    @property
    def count(self) -> int:
        return len(self.got)

    @property
    def difference(self) -> np.ndarray:
        return np.abs(self.got - self.expected)

    @property
    def max_abs_diff(self) -> float:
        d = self.difference
        return float(np.nanmax(np.where(np.isnan(d), np.inf, d))) if d.size else 0.0

    @property
    def worst(self) -> tuple[int, int]:
        """(input, output) of the largest |difference|."""
        d = np.where(np.isnan(self.difference), np.inf, self.difference)
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(d)), d.shape))

    @property
    def max_rel_diff(self) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = self.difference / np.abs(self.expected)
        rel = np.where(np.isnan(rel), np.inf, rel)
        return float(rel[np.abs(self.expected) > 0].max(initial=0.0))

    @property
    def close(self) -> np.ndarray:
        """Per input: every output within rtol/atol (numpy.allclose's rule)."""
        return np.isclose(self.got, self.expected, rtol=self.rtol, atol=self.atol).all(axis=1)

    @property
    def argmax_agree(self) -> np.ndarray:
        got = np.where(np.isnan(self.got), -np.inf, self.got)
        return got.argmax(axis=1) == self.expected.argmax(axis=1)

    @property
    def ok(self) -> bool:
        return bool(self.close.all() and self.argmax_agree.all() and not self.error_cells and self.trace.ok)

    def lines(self) -> list[str]:
        n = self.count
        agree = int(self.argmax_agree.sum())
        i, k = self.worst
        out = [f"Workbook: {self.workbook}",
               f"Model:    {self.model.path} ({self.model.how})",
               f"Engine:   {self.engine}",
               f"Inputs:   {self.inputs.description}",
               f"Largest |difference|: {self.max_abs_diff:.3g} (input {i + 1}, output {k}: workbook "
               f"{float(self.got[i, k])!r}, reference {float(self.expected[i, k])!r})",
               f"Largest relative difference: {self.max_rel_diff:.3g}",
               f"Arg-max agreement: {agree}/{n} ({100.0 * agree / max(n, 1):.2f}%)"]
        if self.inputs.labels is not None and (self.inputs.labels >= 0).any():
            known = self.inputs.labels >= 0
            right = int((self.got[known].argmax(axis=1) == self.inputs.labels[known]).sum())
            out.append(f"Workbook accuracy on the digits: {right}/{int(known.sum())}")
        out.append("Error cells: " + (", ".join(f"{s}: {c}" for s, c in self.error_cells.items())
                                      if self.error_cells else "none"))
        beyond = np.flatnonzero(~self.close)
        t = self.trace
        out.append(f"Cells traced: {t.formula_cells:,} formula cells of every layer on each input, "
                   f"{t.weight_cells:,} weights" if t.formula_cells else "Cells traced: none")
        out.extend(t.lines())
        if self.ok:
            out.append(f"OK: the workbook equals the model within rtol {self.rtol:g}, atol {self.atol:g} "
                       + (f"on all {n} inputs." if n != 1 else "on its 1 input."))
        else:
            problems = []
            if len(beyond):
                listed = ", ".join(str(j + 1) for j in beyond[:10]) + (" ..." if len(beyond) > 10 else "")
                problems.append(f"{len(beyond)} of {n} inputs differ beyond rtol {self.rtol:g}, atol {self.atol:g} "
                                f"(inputs {listed})")
            if not self.argmax_agree.all():
                problems.append(f"{n - agree} predictions differ")
            if self.error_cells:
                problems.append(f"{sum(self.error_cells.values())} formula cells are errors")
            if t.layer is not None:
                problems.append(f"layer {t.layer} differs from the model")
            if t.weights:
                problems.append(f"{len(t.weights)} {'weight differs' if len(t.weights) == 1 else 'weights differ'} "
                                "from the model file")
            out.append("MISMATCH: " + "; ".join(problems) + ".")
        return out


# --- which model ----------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_recorded(workbook: str | Path) -> dict:
    """What the workbook records about its model: {'ModelSource': ..., 'ModelSHA256': ...}."""
    from .engines.names import read_public_cells

    return dict(read_public_cells(workbook).values)


def find_model(workbook: str | Path, recorded: dict, model: str | Path | None = None) -> ModelChoice:
    """The model to compare with: `model` if given, else the one the workbook records."""
    from .assets import DEFAULT_MODEL

    sha = str(recorded.get("ModelSHA256") or "").strip().lower()
    source = str(recorded.get("ModelSource") or "").strip()
    if model is not None:
        model = Path(model)
        if not model.is_file():
            raise ExcelnetError(f"{model}: no such model file")
        if sha and file_sha256(model) != sha:
            return ModelChoice(model, "given with --model; NOT the model file this workbook was built from")
        return ModelChoice(model, "given with --model" + ("; the workbook was built from it" if sha else ""))
    if not sha:
        raise ExcelnetError(f"{workbook}: the workbook does not record which model it was built from "
                            "(no ModelSHA256); pass --model")
    if Path(DEFAULT_MODEL).is_file() and file_sha256(DEFAULT_MODEL) == sha:
        return ModelChoice(Path(DEFAULT_MODEL), "the shipped default model, recognised by its SHA-256")
    if source:
        for candidate in _candidates(Path(source), Path(workbook)):
            if candidate.is_file() and file_sha256(candidate) == sha:
                return ModelChoice(candidate, "recorded in the workbook; SHA-256 matches")
        if any(c.is_file() for c in _candidates(Path(source), Path(workbook))):
            raise ExcelnetError(f"{workbook} was built from {source}, but that file has changed since "
                                f"(SHA-256 no longer {sha[:12]}…); pass --model")
    raise ExcelnetError(f"{workbook} was built from {source or 'a model file'} (SHA-256 {sha[:12]}…), "
                        "which cannot be found; pass --model")


def _candidates(source: Path, workbook: Path) -> list[Path]:
    if source.is_absolute():
        return [source]
    return [Path.cwd() / source, workbook.resolve().parent / source, workbook.resolve().parent / source.name]


# --- which inputs ---------------------------------------------------------------------


def input_range(network) -> float:
    """The top of the model's input range: 255 for a model that rescales raw pixels itself, else 1."""
    from .convert import input_divisor

    return 255.0 if input_divisor(network) == 1.0 else 1.0


def choose_inputs(network, count: int, kind: str = "auto", seed: int = 0,
                  samples_path: str | Path | None = None) -> Inputs:
    """`count` inputs: the shipped digits when they fit the model, then random ones (kind "auto");
    only digits ("digits", at most as many as there are); only random ones ("random")."""
    from .assets import DEFAULT_SAMPLES
    from .convert import input_divisor
    from .workbook.inputs import load_samples

    shape = tuple(network.input_shape)
    parts, labels, text = [], [], []
    if kind in ("auto", "digits"):
        path = Path(samples_path or DEFAULT_SAMPLES)
        digits = None
        if path.is_file():
            try:
                digits = load_samples(path, shape, input_divisor(network))
            except ExcelnetError:
                if samples_path is not None or kind == "digits":
                    raise
        if digits is None and kind == "digits":
            raise ExcelnetError(f"no sample digits that fit the model's input {shape} ({path})")
        if digits is not None:
            x = digits.model_inputs(shape)[:count]
            parts.append(x.astype(np.float64))
            labels.append(digits.labels[:count].astype(int))
            what = ("shipped digit" + ("" if len(x) == 1 else "s")) if samples_path is None else \
                f"sample input{'' if len(x) == 1 else 's'} from {path}"
            text.append(f"{len(x)} {what}")
    have = sum(len(p) for p in parts)
    if have < count and kind != "digits":     # --inputs digits: only the digits there are
        top = input_range(network)
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, top, (count - have,) + shape)
        parts.append(x)
        labels.append(np.full(len(x), -1))
        text.append(f"{len(x)} random input{'' if len(x) == 1 else 's'} uniform in [0, {top:g}] (seed {seed})")
    x = np.concatenate(parts) if parts else np.zeros((0,) + shape)
    return Inputs(x, np.concatenate(labels), " + ".join(text))


# --- engines --------------------------------------------------------------------------


def choose_engine(name: str | None) -> str:
    """The engine to use: as asked, or LibreOffice when installed, else `formulas`."""
    from .engines.libreoffice import unavailable_reason

    if name is None:
        return "libreoffice" if unavailable_reason() is None else "formulas"
    if name not in ENGINES:
        raise ExcelnetError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
    if name == "libreoffice":
        reason = unavailable_reason()
        if reason:
            raise ExcelnetError(f"cannot verify with LibreOffice: {reason}")
    return name


def evaluate(workbook: Path, engine: str, inputs: np.ndarray, progress: bool = True,
             office=None, tracer=None, trace=None) -> tuple[np.ndarray, dict]:
    """The workbook's outputs for every input (typed into the canvas), and its error cells.
    With a `tracer`, every layer cell and weight is compared too, into `trace` (a TraceResult).

    `office`: a running engines.libreoffice.LibreOffice to reuse (else one is started and stopped)."""
    from .progress import bar
    from .trace import array_reader, cell_reader, stored_cells

    label = f"Recalculating in {'LibreOffice' if engine == 'libreoffice' else 'formulas'}"
    results, errors = [], {}
    if engine == "libreoffice":
        from contextlib import nullcontext

        from .engines.libreoffice import LibreOffice, canvas_grids

        with (nullcontext(office) if office is not None else LibreOffice()) as office:
            office.open(workbook)
            last = len(inputs) - 1

            def start(k: int) -> None:
                sheets = () if tracer is None else (tracer.sheets if k == 0 else tracer.layer_sheets)
                office.start_run_and_dump(canvas_grids(inputs[k]), sheets)

            start(0)
            with bar(inputs, label=label, enabled=progress) as items:
                for k, x in enumerate(items):
                    # While LibreOffice recalculates, work out what every layer cell should hold.
                    expected = tracer.expected(x) if tracer is not None and trace.layer is None else None
                    probabilities, sheets = office.receive_dump()
                    if k in (0, last):       # error cells, with the first and the last input
                        for sheet, count in office.errors().items():
                            errors[sheet] = max(count, errors.get(sheet, 0))
                    if k < last:             # LibreOffice goes on with the next input while Python compares
                        start(k + 1)
                    results.append(probabilities)
                    if tracer is not None:
                        read = array_reader(sheets)
                        tracer.compare_layers(x, read, trace, k + 1, RTOL, ATOL, expected)
                        if k == 0:           # weights do not change with the input
                            tracer.compare_weights(read, trace)
        return np.array(results), errors
    from .engines.formulas_engine import FormulasWorkbook

    if progress:
        import click

        click.echo(f"Loading {workbook.name} into the formulas library (about half a minute for a workbook of "
                   "15,000 formulas, then seconds per input)...", err=True)
    book = FormulasWorkbook(workbook)
    if tracer is not None:
        tracer.compare_weights(cell_reader(stored_cells(workbook, tracer.sheets)), trace)
        wanted = [(b.sheet, int(r), int(c)) for b in tracer.layers for r, c in zip(b.rows, b.cols)]
    with bar(inputs, label=label, enabled=progress) as items:
        for k, x in enumerate(items):
            try:
                results.append(np.asarray(book.probabilities(x), dtype=np.float64))
            except (TypeError, ValueError):         # an error value (#VALUE!, ...) where a number belongs
                results.append(np.full(len(book.public.probabilities.cells()), np.nan))
            if tracer is not None and trace.layer is None:
                values = dict(zip(wanted, book.cells(x, wanted)))
                tracer.compare_layers(x, cell_reader(values), trace, k + 1, RTOL, ATOL)
    bad = sum(int(np.isnan(r).sum()) for r in results)
    if bad:
        errors["Probabilities"] = bad
    return np.array(results), errors


def workbook_cells(workbook: Path) -> int:
    """How many cells the workbook's sheets span: the box each sheet's <dimension> gives (0 where a
    sheet has none). Read from the first bytes of each sheet, so a 20 MB workbook costs nothing."""
    import re
    import zipfile

    from .layout import MAX_COLS

    found = 0
    with zipfile.ZipFile(workbook) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with archive.open(name) as sheet:
                head = sheet.read(4096).decode("utf-8", "replace")
            box = re.search(r'<dimension ref="\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?"', head)
            if box:
                c1, r1, c2, r2 = box.groups()
                c2, r2 = c2 or c1, r2 or r1
                cols = min(abs(_column_number(c2) - _column_number(c1)) + 1, MAX_COLS)
                found += (abs(int(r2) - int(r1)) + 1) * cols
    return found


def _column_number(letters: str) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


def verify_budget(workbook: Path, max_cells: int | None) -> int:
    """The cell budget for re-reading the model: `max_cells` when given; else twice the cells the
    workbook itself spans (never below build's default). verify checks the workbook it is given,
    so one built with a larger --max-cells is not refused; a model much larger than the workbook
    (it cannot be its model) still is, before planning it."""
    from .workbook.limits import DEFAULT_CELL_BUDGET

    return max_cells or max(DEFAULT_CELL_BUDGET, 2 * workbook_cells(workbook))


def verify(workbook: str | Path, model: str | Path | None = None, engine: str | None = None,
           samples: int = 20, inputs: str = "auto", seed: int = 0, progress: bool = True,
           samples_path: str | Path | None = None, office=None, max_cells: int | None = None) -> Report:
    """Compare `workbook` with the model on `samples` inputs; see Report.ok and Report.lines().
    `max_cells`: the cell budget for the model (default: from the workbook's own size, verify_budget)."""
    from .convert import load_network
    from .engines.names import read_public_cells

    workbook = Path(workbook)
    if not workbook.is_file():
        raise ExcelnetError(f"{workbook}: no such workbook")
    if samples < 1:
        raise ExcelnetError("--samples must be at least 1")
    name = choose_engine(engine)
    own_office = None
    if name == "libreoffice" and office is None:
        # LibreOffice takes over a second to start and load the workbook: let it, while Python reads
        # the model and plans the trace.
        from .engines.libreoffice import LibreOffice

        office = own_office = LibreOffice()
    try:
        if office is not None and name == "libreoffice":
            office.start_open(workbook)
        public = read_public_cells(workbook)
        choice = find_model(workbook, public.values, model)
        network = load_network(choice.path, public.values.get("InputNormalize") or None,
                               verify_budget(workbook, max_cells))
        chosen = choose_inputs(network, samples, inputs, seed, samples_path)
        size = int(np.prod(network.input_shape))
        canvas = sum(c.shape[0] * c.shape[1] for c in public.canvases)
        if canvas != size:
            raise ExcelnetError(f"{workbook}: its canvas has {canvas} cells but the model's input "
                                f"{tuple(network.input_shape)} has {size} values: not a workbook of this model")
        expected = np.array([network.predict(x).reshape(-1) for x in chosen.x])
        from .trace import Tracer, TraceResult

        tracer, trace = Tracer(network, public.sample is not None, public.learning), TraceResult()
        got, errors = evaluate(workbook, name, chosen.x, progress, office, tracer, trace)
    except BaseException:
        if own_office is not None:
            own_office.abandon()       # stop it now: the error is what the user waits for
            own_office = None
        elif office is not None:
            office.settle()            # a LibreOffice lent by the caller stays usable
        raise
    finally:
        if own_office is not None:
            own_office.close()
    if got.shape != expected.shape:
        raise ExcelnetError(f"{workbook}: Probabilities has {got.shape[1]} cells but the model has "
                            f"{expected.shape[1]} outputs: not a workbook of this model")
    engine_text = "LibreOffice (headless)" if name == "libreoffice" else "formulas (Python library)"
    return Report(workbook, choice, engine_text, chosen, got, expected, errors, trace)
