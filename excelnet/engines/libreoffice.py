"""Recalculate workbooks in a real, headless LibreOffice.

LibreOffice's Python bridge only imports in Debian's /usr/bin/python3, so a small
worker script runs there and talks JSON over pipes; this side needs no `uno`."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np

from ..errors import ExcelnetError

WORKER = Path(__file__).with_name("uno_worker.py")
IN_OFFICE = Path(__file__).with_name("in_office.py")
SYSTEM_PYTHON = os.environ.get("EXCELNET_UNO_PYTHON", "/usr/bin/python3")


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@functools.lru_cache(maxsize=None)
def unavailable_reason() -> str | None:
    """Why LibreOffice cannot be used here, or None when it can (asked once per process: the
    probe starts a Python)."""
    if soffice_path() is None:
        return "LibreOffice is not installed (apt-get install libreoffice-calc-nogui)"
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} (the Python with LibreOffice's uno bridge) does not exist"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True)
    if probe.returncode != 0:
        return f"{SYSTEM_PYTHON} cannot import uno (apt-get install python3-uno)"
    return None


def office_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for soffice: ours without a virtual environment's Python. soffice's own
    Python (its macros, verify's fast path) finds `python3` on PATH to set its prefix: an activated
    venv's python3 (another Python build) made every macro call fail with std::bad_alloc or
    "can't import __main__ module"."""
    environ = dict(os.environ if environ is None else environ)
    for name in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP"):
        environ.pop(name, None)
    folders = environ.get("PATH", "").split(os.pathsep)
    kept = [f for f in folders if f and not (Path(f).parent / "pyvenv.cfg").exists()]
    environ["PATH"] = os.pathsep.join(kept) or os.defpath
    return environ


class LibreOffice:
    """A headless soffice with its own profile, and the worker that drives it."""

    def __init__(self, macros: bool = True):
        """`macros`: give soffice engines/in_office.py as a Python macro (without it, in_office()
        fails and run_and_dump goes over the pipe, as where soffice has no Python macros)."""
        reason = unavailable_reason()
        if reason:
            raise ExcelnetError(reason)
        self.pending = 0                   # requests sent whose answers are not read yet
        self._opening: str | None = None   # the workbook start_open() is loading
        self.profile = Path(tempfile.mkdtemp(prefix="excelnet-lo-"))
        if macros:
            folder = self.profile / "user" / "Scripts" / "python"
            folder.mkdir(parents=True)
            shutil.copy(IN_OFFICE, folder / IN_OFFICE.name)     # for in_office(): no pipe between calls
        pipe = f"excelnet_{uuid.uuid4().hex}"
        self.office = subprocess.Popen(
            [soffice_path(), "--headless", "--invisible", "--nologo", "--norestore", "--nodefault",
             "--nolockcheck", f"-env:UserInstallation={self.profile.as_uri()}",
             f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=office_environment(), start_new_session=True)     # its own process group: soffice is oosplash and its child soffice.bin
        self.worker = subprocess.Popen([SYSTEM_PYTHON, str(WORKER), pipe], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def call(self, command: str, **arguments) -> dict:
        self.send(command, **arguments)
        return self.receive()

    def send(self, command: str, **arguments) -> None:
        """Ask the worker for something without waiting: LibreOffice works on it while Python goes
        on (receive() gets the answer; answers come in the order of the requests)."""
        self.worker.stdin.write(json.dumps({"cmd": command, **arguments}) + "\n")
        self.worker.stdin.flush()
        self.pending += 1

    def receive(self) -> dict:
        self.pending -= 1
        line = self.worker.stdout.readline()
        if not line:
            raise ExcelnetError("LibreOffice stopped: " + self.worker.stderr.read()[-2000:])
        answer = json.loads(line)
        if "error" in answer:
            raise ExcelnetError(f"LibreOffice: {answer['error']}")
        return answer

    def settle(self) -> None:
        """Read and drop the answers still owed (after a failure between send and receive), so
        the next call gets its own answer."""
        self._opening = None
        while self.pending > 0:
            try:
                self.receive()
            except ExcelnetError:
                pass

    def start_open(self, path: str | Path) -> None:
        """Begin loading a workbook; open(path) then waits for it (meanwhile Python is free)."""
        self._opening = str(Path(path).resolve())
        self.send("open", path=self._private_copy(path))

    def open(self, path: str | Path) -> float:
        """Load a workbook; returns the seconds it took (load and first full recalculation)."""
        if self._opening == str(Path(path).resolve()):
            self._opening = None
            return self.receive()["load_s"]
        return self.call("open", path=self._private_copy(path))["load_s"]

    def _private_copy(self, path: str | Path) -> str:
        """A copy of the workbook in this soffice's own profile, which is what it opens: the lock
        file LibreOffice keeps beside an open file never lands beside the user's (a soffice that is
        killed would leave it there, and LibreOffice then fails to open that file), and two
        soffices may open the same workbook."""
        if not Path(path).is_file():
            raise ExcelnetError(f"{path}: no such workbook")
        folder = self.profile / "open"
        folder.mkdir(exist_ok=True)
        copy = folder / Path(path).name
        shutil.copyfile(path, copy)
        return str(copy)

    def run(self, canvases: list | None = None, sample: int | None = None) -> dict:
        """Type the canvases, set Sample, recalculate; read the public cells."""
        return self.call("run", canvases=canvases, sample=sample)

    def start_run_and_dump(self, canvases: list, sheets) -> None:
        """Type the canvases and recalculate, then hand every cell of `sheets` back through a file of
        float64s (in_office.run_and_dump): for verify's trace, fast. receive_dump() gets the answer."""
        self.send("run_and_dump", canvases=canvases, sheets=list(sheets), path=str(self.profile / "sheets.bin"))

    def receive_dump(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(Probabilities, NaN where not a number; each sheet's used area from A1 as a 2-D array)."""
        answer = self.receive()
        data = np.fromfile(self.profile / "sheets.bin", dtype=np.float64)
        sheets, start = {}, 0
        for name, (rows, cols) in zip(answer["sheets"], answer["shapes"]):
            sheets[name] = data[start:start + rows * cols].reshape(rows, cols)
            start += rows * cols
        probabilities = np.array([np.nan if v is None else v for v in answer["Probabilities"]], np.float64)
        return probabilities, sheets

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Type one input (model's shape) into the canvas and read Probabilities."""
        return np.array(self.run(canvas_grids(x))["Probabilities"], dtype=np.float64).reshape(-1)

    def read_ranges(self, ranges, recalc: bool = False) -> list[np.ndarray]:
        """Values of rectangles, one 2-D array each (numbers; text as str; an empty cell as ''):
        each a (sheet, top, left, bottom, right) tuple (1-based, inclusive) or anything with those
        attributes (a NamedRange, e.g. one area of a multi-area name)."""
        spec = [list(r) if isinstance(r, (tuple, list)) else [r.sheet, r.top, r.left, r.bottom, r.right]
                for r in ranges]
        return [np.array(v, dtype=object) for v in self.call("read_ranges", ranges=spec, recalc=recalc)["values"]]

    def set_value(self, where, value, row: int = 0, col: int = 0) -> None:
        """Type `value` (a number, a text, or None to clear) into the cell (row, col) of a range."""
        self.call("set_value", sheet=where.sheet, row=where.top + row, col=where.left + col,
                  value=None if value is None else (value if isinstance(value, str) else float(value)))

    def write_cells(self, cells: list[tuple[str, int, int, float]]) -> None:
        """Type numbers into cells (sheet, row, col, value; 1-based), then recalculate."""
        self.call("write_cells", cells=[list(c) for c in cells])

    def recalc(self) -> float:
        return self.call("recalc")["seconds"]

    def in_office(self, function: str, *arguments) -> list:
        """Run one of engines/in_office.py's functions inside soffice on the open workbook (no pipe
        between the calls it makes): raises ExcelnetError where soffice has no Python macros."""
        return self.call("in_office", function=function, arguments=list(arguments))["result"]

    def errors(self) -> dict[str, int]:
        return self.call("errors")["errors"]

    def close(self) -> None:
        """Let the worker close the document and end soffice; where it cannot (it died, e.g. on
        Ctrl-C, or soffice does not answer), stop soffice's whole process group."""
        ended = False
        try:
            if self.worker.poll() is None:
                self.worker.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.worker.stdin.flush()
                ended = self.worker.wait(timeout=20) == 0
        except (OSError, subprocess.TimeoutExpired):
            self.worker.kill()
        try:
            self.office.wait(timeout=20 if ended else 0.5)
        except subprocess.TimeoutExpired:
            pass
        self._stop_office()
        shutil.rmtree(self.profile, ignore_errors=True)

    def abandon(self) -> None:
        """Stop soffice and the worker at once, whatever they are doing (after an error)."""
        self.worker.kill()
        self.worker.wait()
        self._stop_office()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _stop_office(self) -> None:
        """Kill what is left of soffice: oosplash and the soffice.bin it started, one process group."""
        try:
            os.killpg(self.office.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.office.wait()

    def __enter__(self) -> "LibreOffice":
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()          # after an error or Ctrl-C: nothing to wait for


def canvas_grids(x: np.ndarray) -> list[list[list[float]]]:
    """One input as the rows of each canvas: Canvas_k holds channel k; a vector is one row."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        return [x[:, :, k].tolist() for k in range(x.shape[2])]
    if x.ndim == 2:
        return [x.tolist()]
    return [[x.reshape(-1).tolist()]]
