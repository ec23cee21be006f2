"""Errors meant for the person at the keyboard: one readable message, no traceback."""


class ExcelnetError(Exception):
    """Base class: the CLI prints the message and exits non-zero."""


class ModelFileError(ExcelnetError):
    """The model file is missing, unreadable or not a Keras model."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")


class UnsupportedModelError(ExcelnetError):
    """The model uses layers or options a workbook cannot express.

    Collects every problem so the user sees them all at once."""

    def __init__(self, problems: list[str], supported: list[str]):
        self.problems = problems
        lines = ["The model cannot be converted:"]
        lines += [f"  - {p}" for p in problems]
        lines.append("Supported layers: " + ", ".join(sorted(supported)))
        super().__init__("\n".join(lines))


class SpreadsheetLimitError(ExcelnetError):
    """The workbook would exceed a limit of Excel (rows, columns, formula length...)."""
