"""The `excelnet` command: thin wrappers, one library call each."""

from __future__ import annotations

import sys
import time

import click

from . import __version__
from .errors import ExcelnetError
from .text import safe_message


def _labels(value: str | None) -> list[str] | None:
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("is empty: give one name per class, separated by commas", param_hint="--labels")
    return [part.strip() for part in value.split(",")]


MAX_CELLS = click.option("--max-cells", type=click.IntRange(min=1), default=None,
                         help="Refuse a workbook of more cells than this, before planning it "
                              "(default 3,000,000; a million formula cells take about 0.8 GB to build, "
                              "a million weights about 0.2 GB).")


NETWORK_ONLY = click.option("--network-only", is_flag=True,
                            help="Leave out the teaching parts (the Explain sheet, the lesson on the Guide): "
                                 "only the network, its Input and Output, and the Guide's table and record "
                                 "of the model.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="excelnet")
def main() -> None:
    """Turn a trained Keras or ONNX (PyTorch, scikit-learn) network into a spreadsheet where every
    step is a plain formula."""


MODEL_HELP = "Keras (.keras, .h5) or ONNX (.onnx) model. Default: the shipped MNIST CNN."
NORMALIZE_HELP = ("Put (x − mean) / std in front of the network, per channel: MEAN,STD (e.g. 0.1307,0.3081 "
                  "for PyTorch's MNIST) or M1,M2,M3/S1,S2,S3. The Canvas still takes 0–1 ink.")


@main.command()
@click.option("--model", "-m", type=click.Path(), help=MODEL_HELP)
@click.option("--output", "-o", type=click.Path(), help="Workbook to write (default: <model name>.xlsx).")
@click.option("--labels", help="Class names, comma separated (default 0, 1, 2, ...).")
@click.option("--samples", type=click.Path(), help=".npz with sample inputs `x` and labels `y` to pick from.")
@click.option("--normalize", metavar="MEAN,STD", help=NORMALIZE_HELP)
@click.option("--learn", is_flag=True, help="Add the learning sheets: gradients, saliency, one gradient-descent "
              "step and the forward pass after it (default output: <model name>_learn.xlsx).")
@MAX_CELLS
@NETWORK_ONLY
@click.option("--from-scratch", "scratch", is_flag=True,
              help="Instead of a model: a small CNN that learns the 8×8 UCI digits from random weights by "
                   "mini-batch SGD, every step formulas (default output: digits_from_scratch.xlsx).")
@click.option("--seed", type=int, default=None, help="With --from-scratch: initial weights and batches (default 0).")
@click.option("--rate", type=float, default=None, help="With --from-scratch: the learning rate (default 0.3).")
@click.option("--steps", type=int, default=None, help="With --from-scratch: steps of 16 pictures (default 75).")
def build(model, output, labels, samples, normalize, learn, max_cells, network_only, scratch, seed, rate,
          steps) -> None:
    """Write the model as a formula-only .xlsx workbook."""
    if scratch:
        _from_scratch(output, seed, rate, steps, dict(model=model, labels=labels, samples=samples,
                                                      normalize=normalize, learn=learn, max_cells=max_cells,
                                                      network_only=network_only))
        return
    if any(v is not None for v in (seed, rate, steps)):
        raise click.UsageError("--seed, --rate and --steps belong to --from-scratch")
    from .convert import build as build_workbook
    from .progress import CountProgress

    started = time.perf_counter()
    with CountProgress("Writing cells") as progress:
        result = _run(build_workbook, model, output, _labels(labels), samples, progress=progress,
                      normalize=normalize, learn=learn, max_cells=max_cells, teaching=not network_only)
    for note in ([result.note] if result.note else []) + result.plan.notes:
        _echo(f"Note: {note}")
    _echo(f"Wrote {result.path} ({len(result.network.ops)} layers, "
          f"{result.plan.formula_cells:,} formula cells) in {time.perf_counter() - started:.2f} s")


def _from_scratch(output, seed, rate, steps, others: dict) -> None:
    from . import scratch

    given = [f"--{name.replace('_', '-')}" for name, value in others.items() if value not in (None, False)]
    if given:
        raise click.UsageError(f"--from-scratch builds its own network and data: leave out {', '.join(given)}")
    started = time.perf_counter()
    chosen = {k: v for k, v in dict(seed=seed, rate=rate, steps=steps).items() if v is not None}
    result = _run(scratch.build, output, **chosen)
    if result.note:
        _echo(f"Note: {result.note}")
    recipe = result.recipe
    _echo(f"Wrote {result.path} ({recipe.steps} steps of {recipe.batch} pictures, rate {recipe.rate:g}, seed "
          f"{recipe.seed}; {result.formula_cells:,} formula cells; held-out accuracy "
          f"{100 * result.held_out_accuracy:.1f}%) in {time.perf_counter() - started:.2f} s")


@main.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="Where to save the trained model (.keras or .h5).")
@click.option("--data", type=click.Path(exists=True),
              help="Local MNIST: a folder of the four IDX files (*-ubyte or *-ubyte.gz), or an mnist.npz "
                   "(or its folder). Default: download through keras.datasets.mnist.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training set (default: the shipped model's recipe).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same model.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train(output, data, epochs, seed, quiet) -> None:
    """Train the default CNN architecture on MNIST and save it."""
    from . import training  # NumPy only; TensorFlow is imported inside train()

    if not output.lower().endswith((".keras", ".h5")):
        raise click.BadParameter("the model file must end in .keras or .h5", param_hint="--output")
    epochs = epochs or training.DEFAULT_EPOCHS
    try:
        if data is None:   # download (or find in Keras' cache) before TensorFlow spends time on anything
            training.load_mnist(None)
        started = time.perf_counter()
        result = training.train(output, data, epochs=epochs, seed=seed, progress=not quiet)
    except ImportError as error:
        raise click.ClickException(f"training needs TensorFlow ({error}); install it with "
                                   "pip install 'excelnet[train]'") from None
    except ValueError as error:   # load_mnist's messages name the bad or missing file
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"{getattr(error, 'filename', '') or ''} {error.strerror or error}".strip()) from None
    except Exception as error:  # keras.datasets raises plain Exception when the download fails
        if data is None and "fetch" in str(error).lower():
            raise click.ClickException(f"could not download MNIST ({error}); pass --data with a local copy") from None
        raise
    click.echo(f"Test accuracy: {100 * result['test_accuracy']:.2f}% on {result['test_images']:,} test images "
               f"({epochs} epochs, seed {seed}, {time.perf_counter() - started:.0f} s)")
    _echo(f"Saved {result['output_path']} ({result['parameters']:,} parameters, "
          f"{result['formula_cells']:,} formula cells). Next: excelnet build -m {result['output_path']}")


@main.command()
@click.option("--model", "-m", type=click.Path(), help=MODEL_HELP)
@click.option("--samples", type=click.Path(), help=".npz of sample inputs, as for build.")
@click.option("--labels", help="Class names, comma separated, as for build.")
@click.option("--normalize", metavar="MEAN,STD", help="As for build.")
@MAX_CELLS
@NETWORK_ONLY
def summary(model, samples, labels, normalize, max_cells, network_only) -> None:
    """Per layer: output shape, parameters, formula and weight cells; workbook size and speed.

    Plans the workbook without writing it; needs no TensorFlow."""
    from .summary import render, summarize

    _echo(render(_run(summarize, model, samples, _labels(labels), normalize, max_cells=max_cells,
                      teaching=not network_only)))


@main.command()
@click.argument("workbook", type=click.Path(dir_okay=False))
@click.option("--model", "-m", type=click.Path(),
              help="Keras or ONNX model to compare with. Default: the model the workbook was built from.")
@click.option("--engine", type=click.Choice(["libreoffice", "formulas"]),
              help="Spreadsheet engine (default: LibreOffice when installed, else the formulas library).")
@click.option("--samples", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many inputs to try.")
@click.option("--inputs", "kind", type=click.Choice(["auto", "digits", "random"]), default="auto",
              show_default=True, help="auto: the shipped digits when they fit the model, then random inputs; "
              "digits: only the shipped digits; random: uniform in the model's input range.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--max-cells", type=click.IntRange(min=1), default=None,
              help="Refuse a model of more cells than this before re-reading it (default: twice the "
                   "cells the workbook spans, at least build's default): the workbook is checked as it is.")
def verify(workbook, model, engine, samples, kind, seed, quiet, max_cells) -> None:
    """Recalculate WORKBOOK in a real engine and compare with the model's NumPy forward pass.

    Exits with status 1 when any output differs beyond rtol 1e-5 / atol 1e-6, a prediction
    differs, or a formula cell is an error."""
    from .verify import verify as run_verify

    started = time.perf_counter()
    report = _run(run_verify, workbook, model, engine, samples, kind, seed, progress=not quiet,
                  max_cells=max_cells)
    for line in report.lines():
        _echo(line)
    click.echo(f"({time.perf_counter() - started:.1f} s)")
    if not report.ok:
        sys.exit(1)


def _echo(text: str) -> None:
    """Print text that may hold names from a model file or the command line, made safe."""
    click.echo(safe_message(text))


def _run(function, *args, **kwargs):
    """Call into the library; turn our errors into one clean message and exit status 1."""
    try:
        return function(*args, **kwargs)
    except ExcelnetError as error:
        raise click.ClickException(safe_message(error)) from None
    except OSError as error:
        raise click.ClickException(safe_message(f"{getattr(error, 'filename', '') or ''} "
                                                f"{error.strerror or error}".strip())) from None
    except MemoryError:
        raise click.ClickException("excelnet ran out of memory; try a smaller model or a lower "
                                   "--max-cells") from None


if __name__ == "__main__":
    sys.exit(main())
