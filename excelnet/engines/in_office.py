"""Timing that runs inside soffice itself (a Python macro in the worker's own profile).

A call from the worker to soffice crosses a pipe (UNO's remote bridge), about half a
millisecond each way; an edit and a read are several calls. A student typing into a cell
pays none of that, so the benchmarks time edits here, in soffice's own Python (Debian:
libreoffice-script-provider-python). Standard library and `uno` only."""

import time


def time_edits(doc, name, row, col, values, read):
    """Type each value into the cell (row, col) (0-based) of the defined name `name`, and read the
    name `read` after each: LibreOffice recalculates what depends on the cell. Seconds per edit."""
    cell = doc.NamedRanges.getByName(name).getReferredCells().getCellByPosition(col, row)
    out = doc.NamedRanges.getByName(read).getReferredCells()
    seconds = []
    for value in values:
        started = time.perf_counter()
        cell.setValue(value)
        out.getDataArray()
        seconds.append(time.perf_counter() - started)
    return tuple(seconds)


def time_recalcs(doc, repeat):
    """calculateAll() `repeat` times: seconds each."""
    seconds = []
    for _ in range(int(repeat)):
        started = time.perf_counter()
        doc.calculateAll()
        seconds.append(time.perf_counter() - started)
    return tuple(seconds)


g_exportedScripts = (time_edits, time_recalcs)
