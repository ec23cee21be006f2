"""Work for the second core: a forked child computes something while this process goes on.

`build` evaluates every formula (the cached values) while it lays the workbook out with
openpyxl; both take a few hundred milliseconds, and neither needs the other until the cell
XML is written. A fork shares the plan without copying or pickling it; only the answer
comes back, pickled through a pipe.

Where there is no fork (Windows), it is not safe with the libraries loaded (macOS; thread
pools such as TensorFlow's), or anything goes wrong in the child, the work is simply done here
when it is asked for, so an error reads exactly as it would without the child."""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
PATIENCE = 600.0        # seconds without a byte from the child before it is given up for stuck
THREAD_POOLS = ("tensorflow", "torch", "jax")    # start threads that `threading` does not see


def can_fork() -> bool:
    """Linux, and no other thread that might hold a lock the child would wait for forever
    (EXCELNET_NO_FORK=1 turns it off, e.g. to compare)."""
    return (hasattr(os, "fork") and sys.platform.startswith("linux") and threading.active_count() == 1
            and not any(name in sys.modules for name in THREAD_POOLS)
            and not os.environ.get("EXCELNET_NO_FORK"))


class Background(Generic[T]):
    """`work()` started in a forked child at once; result() waits for its answer."""

    def __init__(self, work: Callable[[], T]):
        self.work = work
        self.pid: int | None = None
        self.pipe: int | None = None
        if not can_fork():
            return
        sys.stdout.flush()          # nothing buffered twice: the child leaves with os._exit
        sys.stderr.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            _child(work, read, write)       # never returns
        os.close(write)
        self.pid, self.pipe = pid, read

    def result(self) -> T:
        if self.pid is None:
            return self.work()
        try:
            data = _read_all(self.pipe)
        finally:
            self.cancel()           # the child has answered (or is given up): stop and reap it
        try:
            status, value = pickle.loads(data)
        except Exception:           # it died before it answered (killed, out of memory, stuck)
            status, value = "failed", None
        return value if status == "done" else self.work()      # here: the same error, told here

    def cancel(self) -> None:
        """Stop the child if it still runs, reap it and close the pipe: nothing is left behind."""
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = None

    def __enter__(self) -> "Background[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


def _child(work: Callable, read: int, write: int) -> None:
    """The forked child: do the work, send the answer, leave without running the parent's code
    (no exception may climb out of here, and Ctrl-C is the parent's to handle)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.close(read)
        try:
            answer = pickle.dumps(("done", work()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            answer = pickle.dumps(("failed", None))
        view = memoryview(answer)
        while view:
            view = view[os.write(write, view):]
        code = 0
    finally:
        os._exit(code)


def _read_all(pipe: int) -> bytes:
    """Everything the child writes, until it closes the pipe (or says nothing for PATIENCE s)."""
    chunks = []
    while True:
        ready, _, _ = select.select([pipe], [], [], PATIENCE)
        if not ready:
            return b""
        chunk = os.read(pipe, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
