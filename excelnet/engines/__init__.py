"""Recalculate a built workbook in a real engine: LibreOffice, or the `formulas` library."""
