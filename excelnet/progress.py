"""Progress bars for long jobs (verifying many inputs, building big workbooks, benchmarks).

Bars go to stderr so that stdout stays clean for tables and results, and they draw
only on a terminal (click prints just the label otherwise), so logs and tests stay quiet."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

import click

T = TypeVar("T")


class _Silent:
    """Stands in for a bar when progress is off: iterates and ignores updates."""

    def __init__(self, iterable: Iterable | None):
        self._iterable = iterable if iterable is not None else ()

    def __iter__(self) -> Iterator:
        return iter(self._iterable)

    def update(self, steps: int, current_item=None) -> None:
        pass

    @property
    def label(self) -> str:
        return ""

    @label.setter
    def label(self, value: str) -> None:
        pass


@contextmanager
def bar(iterable: Iterable[T] | None = None, *, length: int | None = None, label: str = "",
        enabled: bool = True, item_text=None):
    """A click progress bar on stderr, or a silent stand-in when `enabled` is False.

    Use it like click.progressbar: iterate over it, or call .update(n) when given `length`."""
    if not enabled:
        yield _Silent(iterable)
        return
    with click.progressbar(iterable, length=length, label=label, file=sys.stderr, show_eta=True,
                           show_pos=True, item_show_func=item_text) as progress:
        yield progress


def interactive() -> bool:
    """True when stderr is a terminal, i.e. a bar would actually be drawn."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class CountProgress:
    """A callback `progress(done, total)` for library code that counts its own work (cells
    written, inputs checked): the bar is drawn on the first call, once the total is known."""

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled = label, enabled
        self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or not interactive():     # off a terminal click prints a bare label
            return
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self.label, file=sys.stderr,
                                          show_eta=True, show_percent=True)
            self._bar.__enter__()
        self._bar.update(max(done - self._done, 0))
        self._done = max(done, self._done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> "CountProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
