"""Errors meant for the person at the keyboard: one readable message, no traceback."""

from __future__ import annotations

import re

from .text import safe_text


class ExcelnetError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""


def _one_line(text: str) -> str:
    """One line, with anything a terminal or a workbook cannot show safely escaped."""
    return safe_text(re.sub(r"[ \t\r\n]+", " ", str(text)).strip())


class ModelFileError(ExcelnetError):
    """The model file is missing, unreadable or not a Keras model: one sentence naming it."""

    def __init__(self, path, problem: str):
        self.path, self.problem = safe_text(str(path)), _one_line(problem)
        end = "" if self.problem.endswith(".") else "."
        super().__init__(f"Cannot convert '{self.path}': {self.problem}{end}")


class UnsupportedModelError(ExcelnetError):
    """The model uses layers or options a workbook cannot express.

    Collects every problem so the user sees them all at once."""

    def __init__(self, problems: list[str], supported: list[str], source: str = "",
                 activations: list[str] | None = None, kind: str = "layers"):
        self.problems = list(problems)
        what = f"'{safe_text(source)}'" if source else "the model"
        count = len(self.problems)
        lines = [f"Cannot convert {what}: {count} part{'s' if count != 1 else ''} of it cannot be "
                 "written as spreadsheet formulas (nothing was written):"]
        lines += [f"  - {_one_line(p)}" for p in self.problems]
        lines.append(f"Supported {kind}: " + ", ".join(sorted(supported)) + ".")
        if activations:
            lines.append("Supported activations: " + ", ".join(sorted(activations)) + ".")
        super().__init__("\n".join(lines))


class SpreadsheetLimitError(ExcelnetError):
    """The workbook would exceed a limit of Excel (rows, columns, formula length...)."""
