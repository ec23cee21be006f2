"""Code that runs inside soffice itself (a Python macro in the worker's own profile).

A call from the worker to soffice crosses a pipe (UNO's remote bridge), about half a
millisecond each way; an edit and a read are several calls. A student typing into a cell
pays none of that, so the benchmarks time edits here, in soffice's own Python (Debian:
libreoffice-script-provider-python). `verify` also runs each input here: it types the
input, recalculates and writes every layer sheet into a file of float64s, which NumPy reads
in one go (over the pipe, the same took about three times as long).

Where soffice has no Python macros, the worker imports this file and calls the same
functions over the pipe. Standard library and `uno` only."""

import array
import json
import time


def canvas_order(names):
    """The canvases' defined names among `names`, in channel order: Canvas, or Canvas_1 … Canvas_C
    (the rule for a workbook in soffice and for a plan; excelnet imports it from here)."""
    if "Canvas" in names:
        return ["Canvas"]
    return sorted((n for n in names if n.startswith("Canvas_")), key=lambda n: int(n[7:]))


def canvas_names(doc):
    """The canvases' defined names of an open document, in channel order."""
    return canvas_order(list(doc.NamedRanges.ElementNames))


def time_edits(doc, name, row, col, values, read, clock="wall"):
    """Type each value into the cell (row, col) (0-based) of the defined name `name`, and read the
    name `read` after each: LibreOffice recalculates what depends on the cell. Seconds per edit:
    wall-clock, or with clock="cpu" the CPU time soffice spent (all its threads), which a busy
    shared host inflates far less than the wall-clock time."""
    cell = doc.NamedRanges.getByName(name).getReferredCells().getCellByPosition(col, row)
    out = doc.NamedRanges.getByName(read).getReferredCells()
    now = time.process_time if clock == "cpu" else time.perf_counter
    seconds = []
    for value in values:
        started = now()
        cell.setValue(value)
        out.getDataArray()
        seconds.append(now() - started)
    return tuple(seconds)


def _area(doc, where):
    """A defined name, or "Sheet!A1:B2" (a sheet's range; the name may hold '!' only before the range)."""
    if "!" in where:
        sheet, cells = where.rsplit("!", 1)
        return doc.Sheets.getByName(sheet).getCellRangeByName(cells)
    return doc.NamedRanges.getByName(where).getReferredCells()


def time_edit_parts(doc, name, row, col, values, reads, adjust_heights=True):
    """Like time_edits, part by part: type each value into the cell (row, col) of `name`, then read
    each of `reads` in turn (a name or "Sheet!A1:B2", several joined by "|"), each read costing what
    it newly needs recalculated (a layer's gradient: every cell that gradient depends on, not yet
    recalculated). Per value: ((wall, cpu) of the typing, then of each read), in seconds.
    adjust_heights=False: LibreOffice does not fit the row's height to the typed value (a measurement
    of what that costs; a student's LibreOffice does fit it)."""
    doc.setPropertyValue("IsAdjustHeightEnabled", bool(adjust_heights))
    cell = doc.NamedRanges.getByName(name).getReferredCells().getCellByPosition(col, row)
    parts = [[_area(doc, where) for where in read.split("|")] for read in reads]
    out = []
    for value in values:
        times = []
        wall, cpu = time.perf_counter(), time.process_time()
        cell.setValue(value)
        for areas in [[]] + parts:
            for area in areas:
                area.getDataArray()
            now_wall, now_cpu = time.perf_counter(), time.process_time()
            times.append((now_wall - wall, now_cpu - cpu))
            wall, cpu = now_wall, now_cpu
        out.append(tuple(times))
    return tuple(out)


def time_recalcs(doc, repeat):
    """calculateAll() `repeat` times: seconds each."""
    seconds = []
    for _ in range(int(repeat)):
        started = time.perf_counter()
        doc.calculateAll()
        seconds.append(time.perf_counter() - started)
    return tuple(seconds)


def run_and_dump(doc, request):
    """One input for verify. `request` (JSON): {"canvases": the rows of each canvas, "sheets": names,
    "path": a file}. Types the canvases, recalculates, and writes each sheet's used area from A1,
    row by row, as float64 (NaN where a cell holds no number; a sheet that is missing has no cells)
    into `path`. Answers JSON: {"Probabilities": [...], "sheets": names, "shapes": [[rows, cols],
    ...], "seconds": ...}, or {"error": why}: an exception must not leave a macro (inside soffice
    it breaks the connection to soffice for good)."""
    try:
        return json.dumps(_run_and_dump(doc, json.loads(request)))
    except Exception as error:
        return json.dumps({"error": f"{type(error).__name__}: {error}"})


def _run_and_dump(doc, request):
    started = time.perf_counter()
    # Typing 784 cells made LibreOffice fit each row's height to its new text: 35 ms instead of 21.
    # Nobody sees this document, and it is never saved.
    doc.setPropertyValue("IsAdjustHeightEnabled", False)
    names = doc.NamedRanges
    for name, rows in zip(canvas_names(doc), request["canvases"]):
        names.getByName(name).getReferredCells().setDataArray(tuple(tuple(float(v) for v in row) for row in rows))
    doc.calculate()     # what the canvases feed: 46 ms where calculateAll() took 52
    shapes = []
    nan = float("nan")
    with open(request["path"], "wb") as out:
        for name in request["sheets"]:
            if not doc.Sheets.hasByName(name):      # renamed or deleted by a user: verify says so
                shapes.append([0, 0])
                continue
            sheet = doc.Sheets.getByName(name)
            cursor = sheet.createCursor()
            cursor.gotoEndOfUsedArea(False)
            end = cursor.RangeAddress
            data = sheet.getCellRangeByPosition(0, 0, end.EndColumn, end.EndRow).getDataArray()
            out.write(array.array("d", [v if v.__class__ is float else nan
                                        for row in data for v in row]).tobytes())
            shapes.append([end.EndRow + 1, end.EndColumn + 1])
    probabilities = [v if v.__class__ is float else None
                     for row in names.getByName("Probabilities").getReferredCells().getDataArray() for v in row]
    return {"Probabilities": probabilities, "sheets": request["sheets"], "shapes": shapes,
            "seconds": time.perf_counter() - started}


g_exportedScripts = (time_edits, time_edit_parts, time_recalcs, run_and_dump)
