"""What ``fleetsim run`` shows while it runs and after: the live view (a
terminal) or a line every few seconds (a log), the live metrics endpoint,
and output that survives its reader going away.

The live view is redrawn in place once a second with two ECMA-48 controls
(CPL, cursor to the start of the line n lines up; ED, erase below), its
lines cut to the terminal's width so that none wraps and leaves a stale copy.
A terminal library (rich) was tried and left out: the redraw runs in the
event loop, where its time is the simulator's own lag, and rich's Live took
~0.7 ms to redraw the same five lines that cost ~20 µs here (rich 15, on the
loaded 2-core machine of the tests); it would also add four packages to the
image for a view of five lines.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import msgspec

from fleetsim.metrics.live import LastInterval, LiveSnapshot, ProgressLike, take_snapshot
from fleetsim.metrics.recorder import Recorder
from fleetsim.report.terminal import WIDTH, live_lines, log_line

LOG_EVERY_S = 10.0  # a log (stderr not a terminal) gets a line this often
CPL, ED, EL = "\x1b[{}F", "\x1b[J", "\x1b[2K"


class _Tolerant:
    """A standard stream that goes quiet when its reader has gone (a closed
    pipe) or the disk behind it is full, instead of raising into whatever
    was printing: a run's results must never be lost to its printing."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lost: OSError | None = None

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                self.stream.write(text)
            except OSError as error:
                self._lose(error)
        return len(text)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self.stream.flush()
            except OSError as error:
                self._lose(error)

    def _lose(self, error: OSError) -> None:
        self.lost = error
        # The signal module's documented recipe for SIGPIPE: point the
        # descriptor at /dev/null, so the flush at exit does not fail again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class Output(msgspec.Struct):
    stdout: Any
    stderr: Any

    def trouble(self) -> str | None:
        """Why printing stopped, unless the reader merely went away (a
        closed pipe is the reader's choice: ``fleetsim run | head``)."""
        for name, stream in (("standard output", self.stdout), ("standard error", self.stderr)):
            lost = stream.lost
            if lost is not None and lost.errno not in (errno.EPIPE, errno.ECONNRESET):
                return f"{name}: {lost.strerror or lost}"
        return None


@contextmanager
def tolerant_output() -> Iterator[Output]:
    """sys.stdout and sys.stderr as :class:`_Tolerant` streams while the block runs."""
    saved = sys.stdout, sys.stderr
    output = Output(_Tolerant(sys.stdout), _Tolerant(sys.stderr))
    sys.stdout, sys.stderr = output.stdout, output.stderr
    try:
        yield output
    finally:
        sys.stdout, sys.stderr = saved


def terminal_width(stream: Any) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or WIDTH
    except (OSError, ValueError, AttributeError):
        return WIDTH


class LiveScreen:
    """The run's progress callback (fleetsim.engine.run): once a second, a
    snapshot of the fleet, published to the metrics endpoint and drawn on
    stderr (a terminal) or logged every LOG_EVERY_S (anything else)."""

    def __init__(self, *, duration_s: float, fleet: int, show: bool, endpoint: Any | None = None) -> None:
        self.duration_s = duration_s
        self.fleet = fleet
        self.show = show
        self.endpoint = endpoint
        self.last: LiveSnapshot | None = None
        self._height = 0  # lines of the live view on screen

    def start(self) -> None:
        """Publish the fleet before its first second (a scrape then sees zeros)."""
        if self.endpoint is not None:
            self.endpoint.publish(self._snapshot(_Nothing(), Recorder(), 0.0))

    def __call__(self, progress: ProgressLike, recorder: Recorder, elapsed_s: float) -> None:
        self.publish(self._snapshot(progress, recorder, elapsed_s))

    def publish(self, snapshot: LiveSnapshot) -> None:
        """Show a snapshot taken elsewhere (the workers' added together)."""
        elapsed_s = snapshot.elapsed_s
        before_s = self.last.elapsed_s if self.last is not None else 0.0
        self.last = snapshot
        if self.endpoint is not None:
            self.endpoint.publish(snapshot)
        if not self.show:
            return
        stderr = sys.stderr
        if stderr.isatty():
            self._draw(stderr, live_lines(snapshot, terminal_width(stderr)))
        elif int(elapsed_s // LOG_EVERY_S) > int(before_s // LOG_EVERY_S):
            stderr.write(log_line(snapshot) + "\n")
            stderr.flush()

    def _snapshot(self, progress: ProgressLike, recorder: Recorder, elapsed_s: float) -> LiveSnapshot:
        return take_snapshot(progress, recorder, elapsed_s, duration_s=self.duration_s, fleet=self.fleet,
                             previous=self.last, detailed=self.endpoint is not None)

    def _draw(self, stream: Any, lines: list[str]) -> None:
        up = CPL.format(self._height) if self._height else ""
        stream.write(up + "".join(EL + line + "\n" for line in lines) + ED)
        stream.flush()
        self._height = len(lines)


class _Nothing:
    """The progress of a fleet that has not started."""

    started = connected = booted = charging = messages_out = messages_in = 0
    last_interval = LastInterval()
