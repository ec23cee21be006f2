"""`excelnet build --from-scratch`: a workbook in which a small CNN learns the 8×8 UCI digits from
random weights by mini-batch SGD, every step plain formulas (recipe.py: the data and the float64
reference; layout.py: the addresses; workbook.py: the sheets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ExcelnetError
from .recipe import DEFAULT_BATCH, DEFAULT_RATE, DEFAULT_SEED, DEFAULT_STEPS, Recipe, problems

DEFAULT_NAME = "digits_from_scratch"


@dataclass
class ScratchResult:
    path: Path
    recipe: Recipe
    formula_cells: int
    held_out_accuracy: float      # of the float64 reference: what the workbook shows
    note: str | None


def build(output: str | Path | None = None, seed: int = DEFAULT_SEED, rate: float = DEFAULT_RATE,
          steps: int = DEFAULT_STEPS, held_out: int | None = None, whole_data: bool = True,
          batch: int = DEFAULT_BATCH) -> ScratchResult:
    """Write the from-scratch workbook (default digits_from_scratch.xlsx); everything is checked
    before the file is touched, and the file appears only when complete. `held_out` (fewer than 300),
    `whole_data` (False: only the pictures used on the Data sheet) and `batch` make small test workbooks."""
    from ..convert import output_path
    from .recipe import HELD_OUT
    from .workbook import build_from_scratch

    recipe = Recipe(seed=seed, rate=float(rate), steps=steps, batch=batch, held_out=HELD_OUT if held_out is None else held_out,
                    whole_data=whole_data)
    found = problems(recipe)
    if found:
        raise ExcelnetError("Cannot build the from-scratch workbook; nothing was written:\n" +
                            "\n".join(f"  - {p}" for p in found))
    path, note = output_path(output, DEFAULT_NAME)
    planned = build_from_scratch(path, recipe)
    return ScratchResult(path, recipe, planned.formula_cells, planned.run.held_out_accuracy, note)
