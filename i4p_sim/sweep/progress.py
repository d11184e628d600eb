"""A sweep's progress on stderr: a tqdm bar on a terminal, plain periodic lines elsewhere.

Under ``nohup``, in CI or behind ``| tee`` stderr is not a terminal, where a bar would be
noise (or nothing at all); there a line such as ``i4p: progress: funding_withdrawal: stored
120/232 runs, 14 s elapsed, ~12 s left`` is printed every :data:`EVERY_S` seconds or every
:data:`EVERY_SHARE` of the runs, whichever comes first.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

__all__ = ["EVERY_S", "EVERY_SHARE", "LineProgress", "Progress", "format_seconds", "make_progress"]

#: Seconds between two progress lines on a non-terminal (at most).
EVERY_S = 10.0
#: Share of the session's runs between two progress lines (at most).
EVERY_SHARE = 0.1


class Progress(Protocol):
    """What the sweep driver calls: ``update`` after each stored batch, ``close`` at the end."""

    def update(self, n: int = 1) -> Any: ...

    def close(self) -> None: ...


def format_seconds(seconds: float) -> str:
    """``14 s``, ``3 min 05 s`` or ``2 h 07 min``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class LineProgress:
    """Periodic one-line progress messages (for a stderr that is not a terminal).

    Parameters
    ----------
    name : str
        The experiment's name, in each line.
    todo : int
        Runs this session will run.
    stored : int
        Runs already stored before this session (counted in "stored a/b").
    total : int
        Runs of the whole experiment.
    stream : text file, optional
        Where the lines go (default ``sys.stderr``, looked up at each line).
    clock : callable, optional
        Monotonic seconds (for tests).
    """

    def __init__(
        self,
        name: str,
        todo: int,
        stored: int,
        total: int,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.todo = todo
        self.stored = stored
        self.total = total
        self.done = 0
        self.stream = stream
        self.clock = clock
        self.start = clock()
        self._last_time = self.start
        self._last_done = 0

    def line(self) -> str:
        """The progress line for the runs done so far."""
        elapsed = self.clock() - self.start
        text = (
            f"i4p: progress: {self.name}: stored {self.stored + self.done}/{self.total} runs, "
            f"{format_seconds(elapsed)} elapsed"
        )
        if 0 < self.done < self.todo:
            left = elapsed / self.done * (self.todo - self.done)
            text += f", ~{format_seconds(left)} left"
        return text

    def update(self, n: int = 1) -> None:
        """Count ``n`` more stored runs; print a line if it is time to."""
        self.done += n
        now = self.clock()
        step = max(1, int(self.todo * EVERY_SHARE))
        finished = self.done >= self.todo > self._last_done  # the last line is never skipped
        if now - self._last_time >= EVERY_S or self.done - self._last_done >= step or finished:
            print(self.line(), file=self.stream or sys.stderr, flush=True)
            self._last_time = now
            self._last_done = self.done

    def close(self) -> None:
        """Nothing to clean up: the command prints its own summary."""


def make_progress(name: str, todo: int, stored: int, total: int) -> Progress:
    """A tqdm bar when stderr is a terminal, :class:`LineProgress` otherwise."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm  # lazy: only a sweep on a terminal needs it

        return tqdm(total=todo, desc=name, unit="run", dynamic_ncols=True)
    return LineProgress(name, todo, stored, total)
