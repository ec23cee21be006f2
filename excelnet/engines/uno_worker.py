"""Runs inside Debian's /usr/bin/python3, the only Python with LibreOffice's `uno` bridge.

Standard library only. Reads one JSON command per line on stdin, answers one JSON
line on stdout. The parent (excelnet.engines.libreoffice) starts soffice for it."""

import json
import sys
import time

import uno  # noqa: F401  (Debian's python3-uno)
from com.sun.star.beans import PropertyValue
from in_office import canvas_names, run_and_dump      # this file's folder: what runs inside soffice

CLEAR_CONTENTS = 1 | 4 | 16     # CellFlags VALUE | STRING | FORMULA
FORMULA_ERROR = 4               # FormulaResult.ERROR


def connect(pipe, timeout=60.0):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.time() + timeout
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.05)    # soffice takes about a second to listen; do not oversleep it


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


class Session:
    def __init__(self, desktop):
        self.desktop = desktop
        self.doc = None

    def open(self, path):
        if self.doc is not None:
            self.doc.close(True)
        started = time.perf_counter()
        url = uno.systemPathToFileUrl(path)
        self.doc = self.desktop.loadComponentFromURL(url, "_blank", 0, (prop("Hidden", True),))
        if self.doc is None:
            raise RuntimeError(f"LibreOffice could not open {path}")
        self.doc.calculateAll()
        return {"load_s": time.perf_counter() - started}

    def named(self, name):
        return self.doc.NamedRanges.getByName(name).getReferredCells()

    def has(self, name):
        return self.doc.NamedRanges.hasByName(name)

    def read(self, names):
        out = {}
        for name in names:
            if self.has(name):
                out[name] = [list(row) for row in self.named(name).getDataArray()]
        return out

    def sheets(self, names):
        """Every cell of each sheet's used area, from A1, in one call per sheet:
        numbers as floats, text as str, empty cells as ""."""
        out = {}
        for name in names:
            if not self.doc.Sheets.hasByName(name):
                out[name] = None
                continue
            sheet = self.doc.Sheets.getByName(name)
            cursor = sheet.createCursor()
            cursor.gotoEndOfUsedArea(False)
            end = cursor.RangeAddress
            out[name] = [list(row) for row in
                         sheet.getCellRangeByPosition(0, 0, end.EndColumn, end.EndRow).getDataArray()]
        return out

    def run(self, canvases=None, sample=None, read=("Probabilities", "Prediction", "Label"), recalc=True):
        """Type values into the canvases (None = clear them), set Sample, recalculate, read."""
        if sample is not None:
            self.named("Sample").getCellByPosition(0, 0).setValue(sample)
        for k, name in enumerate(canvas_names(self.doc)):
            cells = self.named(name)
            if canvases is None:
                cells.clearContents(CLEAR_CONTENTS)
            else:
                cells.setDataArray(tuple(tuple(float(v) for v in row) for row in canvases[k]))
        started = time.perf_counter()
        if recalc:
            self.doc.calculateAll()
        result = self.read(read)
        result["seconds"] = time.perf_counter() - started
        return result

    def set_cell(self, name, row, col, value, read=("Probabilities",)):
        """Change one cell and read the outputs: how fast an edit shows (automatic recalculation)."""
        started = time.perf_counter()
        self.named(name).getCellByPosition(col, row).setValue(value)
        result = self.read(read)
        result["seconds"] = time.perf_counter() - started
        return result

    def cells(self, ref):
        """A defined name, or a sheet's range written as Excel does: 'Sheet name'!A1 or Sheet!A1:B2."""
        if self.has(ref):
            return self.named(ref)
        sheet, address = ref.rsplit("!", 1)
        sheet = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
        return self.doc.Sheets.getByName(sheet).getCellRangeByName(address.replace("$", ""))

    def put(self, ref, values):
        """Type values (a number, a list along the row, or None to delete) into a name or a range."""
        cells = self.cells(ref)
        if values is None:
            cells.clearContents(CLEAR_CONTENTS)
            return {}
        values = values if isinstance(values, list) else [values]
        for k, value in enumerate(values):
            cells.getCellByPosition(k, 0).setValue(value)
        return {}

    def get(self, refs):
        return {ref: [list(row) for row in self.cells(ref).getDataArray()] for ref in refs}

    def read_ranges(self, ranges, recalc=False):
        """The values of any rectangles: [sheet, top, left, bottom, right] each (1-based, inclusive),
        e.g. each area of a multi-area name."""
        if recalc:
            self.doc.calculateAll()
        out = []
        for sheet, top, left, bottom, right in ranges:
            cells = self.doc.Sheets.getByName(sheet).getCellRangeByPosition(left - 1, top - 1, right - 1, bottom - 1)
            out.append([list(row) for row in cells.getDataArray()])
        return {"values": out}

    def set_value(self, sheet, row, col, value):
        """Type a number or a text into one cell (1-based), as a user would; None clears it."""
        cell = self.doc.Sheets.getByName(sheet).getCellByPosition(col - 1, row - 1)
        if value is None:
            cell.setString("")
        elif isinstance(value, str):
            cell.setString(value)
        else:
            cell.setValue(value)
        return {}

    def write_cells(self, cells, recalc=True):
        """Type numbers into cells: [sheet, row, col, value] each (1-based); then recalculate."""
        for sheet, row, col, value in cells:
            self.doc.Sheets.getByName(sheet).getCellByPosition(col - 1, row - 1).setValue(value)
        if recalc:
            self.doc.calculateAll()
        return {}

    def in_office(self, function, arguments):
        """Call a function of the profile's in_office.py macro inside soffice, the document first."""
        return {"result": list(self._macro(function, *arguments))}

    def _macro(self, function, *arguments):
        result, _, _ = self._script(function).invoke((self.doc, *arguments), (), ())
        return result

    def _script(self, function):
        url = f"vnd.sun.star.script:in_office.py${function}?language=Python&location=user"
        return self.doc.getScriptProvider().getScript(url)

    def run_and_dump(self, canvases, sheets, path):
        """in_office.run_and_dump inside soffice, or over the pipe where soffice has no Python macros
        (libreoffice-script-provider-python): the same function either way."""
        request = json.dumps({"canvases": canvases, "sheets": sheets, "path": path})
        try:
            script = self._script("run_and_dump")      # fails only where there is no such macro
        except Exception:
            answer = run_and_dump(self.doc, request)
        else:
            answer = script.invoke((self.doc, request), (), ())[0]
        answer = json.loads(answer)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def recalc(self):
        started = time.perf_counter()
        self.doc.calculateAll()
        return {"seconds": time.perf_counter() - started}

    def errors(self):
        """Every formula cell whose result is an error value, by sheet."""
        found = {}
        for sheet in self.doc.Sheets:
            ranges = sheet.queryFormulaCells(FORMULA_ERROR)
            count = sum((a.EndRow - a.StartRow + 1) * (a.EndColumn - a.StartColumn + 1)
                        for a in ranges.getRangeAddresses())
            if count:
                found[sheet.Name] = count
        return {"errors": found}

    def error_cells(self, limit=20):
        """Where the error cells are ("Sheet!A1:B2"), the first `limit` ranges: for test messages."""
        found = []
        for sheet in self.doc.Sheets:
            for a in sheet.queryFormulaCells(FORMULA_ERROR).getRangeAddresses():
                cell = sheet.getCellByPosition(a.StartColumn, a.StartRow)
                found.append(f"{sheet.Name}!R{a.StartRow + 1}C{a.StartColumn + 1}:R{a.EndRow + 1}C{a.EndColumn + 1} "
                             f"{cell.getFormula()[:200]}")
        return {"cells": found[:limit]}


def main():
    session = Session(connect(sys.argv[1]))
    for line in sys.stdin:
        request = json.loads(line)
        command = request.pop("cmd")
        try:
            if command == "quit":
                break
            answer = getattr(session, command)(**request)
        except Exception as error:  # report, keep serving
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    try:
        if session.doc is not None:
            session.doc.close(True)
        session.desktop.terminate()
    except Exception:
        pass


if __name__ == "__main__":
    main()
