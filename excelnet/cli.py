"""The `excelnet` command: thin wrappers, one library call each."""

from __future__ import annotations

import sys
import time

import click

from . import __version__
from .errors import ExcelnetError


def _labels(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",")] if value else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="excelnet")
def main() -> None:
    """Turn a trained Keras CNN into a spreadsheet where every step is a plain formula."""


@main.command()
@click.option("--model", "-m", type=click.Path(), help="Keras model (.keras or .h5). Default: the shipped MNIST CNN.")
@click.option("--output", "-o", type=click.Path(), help="Workbook to write (default: <model name>.xlsx).")
@click.option("--labels", help="Class names, comma separated (default 0, 1, 2, ...).")
@click.option("--samples", type=click.Path(), help=".npz with sample inputs `x` and labels `y` to pick from.")
def build(model, output, labels, samples) -> None:
    """Write the model as a formula-only .xlsx workbook."""
    from .convert import build as build_workbook

    started = time.perf_counter()
    result = _run(build_workbook, model, output, _labels(labels), samples)
    click.echo(f"Wrote {result.path} ({len(result.network.ops)} layers, "
               f"{result.plan.formula_cells:,} formula cells) in {time.perf_counter() - started:.2f} s")


def _run(function, *args, **kwargs):
    """Call into the library; turn our errors into one clean message and exit status 1."""
    try:
        return function(*args, **kwargs)
    except ExcelnetError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"{getattr(error, 'filename', '') or ''} {error.strerror or error}".strip()) from None


if __name__ == "__main__":
    sys.exit(main())
