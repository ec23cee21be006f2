"""Work for the second core: a forked child computes something while this process goes on.

`build` evaluates every formula (the cached values) while it lays the workbook out with
openpyxl; both take a few hundred milliseconds, and neither needs the other until the cell
XML is written. A fork shares the plan without copying or pickling it; only the answer
comes back, pickled through a pipe.

Where there is no fork (Windows) or it is not safe with the libraries loaded (macOS), or
when anything goes wrong in the child, the work is simply done here when it is asked for,
so an error reads exactly as it would without the child."""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


def can_fork() -> bool:
    """Linux, and no other Python thread that might hold a lock the child would wait for forever
    (EXCELNET_NO_FORK=1 turns it off, e.g. to compare)."""
    return (hasattr(os, "fork") and sys.platform.startswith("linux") and threading.active_count() == 1
            and not os.environ.get("EXCELNET_NO_FORK"))


class Background(Generic[T]):
    """`work()` started in a forked child at once; result() waits for its answer."""

    def __init__(self, work: Callable[[], T]):
        self.work = work
        self.pid: int | None = None
        if not can_fork():
            return
        sys.stdout.flush()          # nothing buffered twice: the child leaves with os._exit
        sys.stderr.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:                # the child: do the work, send it, leave without cleanup
            os.close(read)
            try:
                answer = pickle.dumps(("done", work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                answer = pickle.dumps(("failed", None))
            with os.fdopen(write, "wb") as out:
                out.write(answer)
            os._exit(0)
        os.close(write)
        self.pid, self.pipe = pid, read

    def result(self) -> T:
        if self.pid is None:
            return self.work()
        with os.fdopen(self.pipe, "rb") as answer:
            data = answer.read()
        os.waitpid(self.pid, 0)
        self.pid = None
        try:
            status, value = pickle.loads(data)
        except Exception:           # the child died before it answered (killed, out of memory)
            status, value = "failed", None
        return value if status == "done" else self.work()      # here: the same error, told here

    def cancel(self) -> None:
        """Stop the child (after an error here): nothing is left running."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(self.pipe)
            self.pid = None

    def __enter__(self) -> "Background[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
