"""Readiness for a whole fleet from one trio task: an epoll of our own.

trio's ``wait_readable`` parks one task per socket and re-arms the socket in
its epoll (``epoll_ctl``) on every wait; its sleeps wake by cancelling a scope,
which raises an exception each time.  A fleet of thousands of sockets that each
receive a message now and then pays that on every message.  Here every socket
is registered once, level-triggered, in an epoll set of its own; trio waits on
that one descriptor, and a ``timerfd`` in the same set wakes it for the fleet's
next timer.  One wake-up serves every socket that is ready and every timer that
is due, with no exception raised.

Where the clock is not trio's system clock (a test's ``MockClock``, whose time
only trio knows), the timer is a cancel scope's deadline instead, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import select
from typing import Final

import trio

# Sockets taken from one epoll call.  What is not taken stays ready
# (level-triggered) and comes first in the next call.
MAX_READY: Final = 256

_CLOCK_MONOTONIC: Final = 1
_TFD_TIMER_ABSTIME: Final = 1
_TFD_NONBLOCK: Final = os.O_NONBLOCK
_TFD_CLOEXEC: Final = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_settime.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p)
        return libc
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


_LIBC = _libc()


class _TimerFd:
    """A CLOCK_MONOTONIC timerfd armed at absolute times (trio's system clock
    is ``perf_counter()`` + an offset, and perf_counter is CLOCK_MONOTONIC)."""

    __slots__ = ("_spec", "fd", "offset")

    def __init__(self, offset: float) -> None:
        assert _LIBC is not None
        self.fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.offset = offset
        self._spec = _Itimerspec()

    def arm(self, deadline: float) -> None:
        """Fire at trio time ``deadline`` (inf: never).  Re-arming clears a
        firing that was not read, so the descriptor is readable only while a
        deadline it holds has passed."""
        value = self._spec.it_value
        if deadline == math.inf:
            value.tv_sec = value.tv_nsec = 0  # disarmed
        else:
            at = max(deadline - self.offset, 1e-9)
            seconds = int(at)
            nanos = int((at - seconds) * 1e9)
            value.tv_sec, value.tv_nsec = seconds, nanos if seconds or nanos else 1  # 0, 0 would disarm
        _LIBC.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None)  # type: ignore[union-attr]

    def close(self) -> None:
        os.close(self.fd)


def _system_clock_offset() -> float | None:
    clock = trio.lowlevel.current_clock()
    if type(clock).__name__ == "SystemClock" and _LIBC is not None:
        return float(clock.offset)  # type: ignore[attr-defined]
    return None


class Reactor:
    """An epoll set of sockets, registered once, and one deadline; the owner
    polls it from one task (:meth:`ready`) and waits (:meth:`wait`) when it
    has nothing left to do.  Make it inside ``trio.run``."""

    __slots__ = ("_armed", "_epoll", "_scope", "_timer", "clock_offset", "closed")

    @property
    def armed(self) -> float:
        """The deadline the timer holds (inf: none)."""
        return self._armed

    @property
    def precise(self) -> bool:
        """Whether the timer is a timerfd (trio's system clock): only then
        can :meth:`wait_timer` wait for the timer alone."""
        return self._timer is not None

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._armed = math.inf  # the deadline the timer holds
        self._scope: trio.CancelScope | None = None  # the wait's deadline, without a timerfd
        offset = _system_clock_offset()
        # trio's system clock reads perf_counter() + this offset (None: another clock, a test's).
        self.clock_offset = offset
        self._timer = _TimerFd(offset) if offset is not None else None
        if self._timer is not None:
            self._epoll.register(self._timer.fd, select.EPOLLIN)
        self.closed = False

    def register(self, fd: int) -> None:
        self._epoll.register(fd, select.EPOLLIN)

    def unregister(self, fd: int) -> None:
        with contextlib.suppress(OSError, ValueError):  # closed already: the kernel dropped it
            self._epoll.unregister(fd)

    def ready(self) -> list[tuple[int, int]]:
        """The descriptors ready now (at most MAX_READY), without waiting; the
        timer's own descriptor among them is for the owner to ignore."""
        return self._epoll.poll(0, MAX_READY)

    def arm(self, deadline: float) -> None:
        """Wake :meth:`wait` by ``deadline`` at the latest (earlier or later
        than before: the timer holds exactly one deadline)."""
        if deadline == self._armed:
            return
        self._armed = deadline
        if self._timer is not None:
            self._timer.arm(deadline)
        elif self._scope is not None:
            self._scope.deadline = deadline

    async def wait(self) -> None:
        """Until a socket is readable or the armed deadline has come."""
        if self._timer is not None:
            await trio.lowlevel.wait_readable(self._epoll.fileno())
            return
        with trio.CancelScope(deadline=self._armed) as scope:
            self._scope = scope
            try:
                await trio.lowlevel.wait_readable(self._epoll.fileno())
            finally:
                self._scope = None

    async def wait_timer(self) -> None:
        """Until the armed deadline, whatever the sockets do (a timerfd only)."""
        assert self._timer is not None
        await trio.lowlevel.wait_readable(self._timer.fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError):  # outside trio
            trio.lowlevel.notify_closing(self._epoll.fileno())
            if self._timer is not None:
                trio.lowlevel.notify_closing(self._timer.fd)
        self._epoll.close()
        if self._timer is not None:
            self._timer.close()
