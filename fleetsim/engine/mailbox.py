"""A pipe to a parent process that never blocks the event loop: messages
are posted to a bounded queue and written by a thread of their own, so a
parent that reads slowly (or not at all) delays its news, never the
stations' traffic (DESIGN.md: one peer never stalls the others)."""

from __future__ import annotations

import collections
import contextlib
import threading
from multiprocessing.connection import Connection
from typing import Final

# News waiting for a slow reader; past it the oldest is dropped (each message
# is a whole snapshot or a cumulative count: a later one supersedes it).
MAX_QUEUED: Final = 16


class Mailbox:
    def __init__(self, connection: Connection, name: str) -> None:
        self.connection = connection
        self.dropped = 0
        self._queue: collections.deque[bytes] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._deliver, name=name, daemon=True)
        self._thread.start()

    def post(self, message: bytes) -> None:
        """Queue ``message``; never waits."""
        with self._ready:
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(message)
            self._ready.notify()

    def close(self, last: bytes | None = None, timeout_s: float = 10.0) -> None:
        """Deliver what is queued, then ``last`` (waits at most ``timeout_s``
        for a reader), and close the pipe."""
        with self._ready:
            if last is not None:
                self._queue.append(last)
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.connection.close()

    def _deliver(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                message = self._queue.popleft()
            try:
                self.connection.send_bytes(message)
            except OSError:  # the reader is gone: nothing more to deliver
                with contextlib.suppress(OSError):
                    self.connection.close()
                return
