"""excelnet: a trained Keras CNN as a spreadsheet of plain formulas."""

__version__ = "0.1.0"
