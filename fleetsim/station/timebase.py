"""Station time: the engine's monotonic seconds, and the wall-clock time OCPP
timestamps carry.

The station never reads a clock: it is handed ``now_s`` (monotonic seconds
from the engine) and converts to wall time through a :class:`Timebase` fixed
at the start of the run.  ``speed`` > 1 is time acceleration: simulated time
runs that many times faster than the engine's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec


class Timebase(msgspec.Struct, frozen=True):
    origin_s: float  # engine time at the start of the run
    origin_wall: datetime  # wall-clock (UTC) time at the start of the run
    speed: float = 1.0
    # What OCPP timestamps show under acceleration: simulated time (False: an
    # hour of fleet life spans an hour of timestamps) or the real wall clock
    # (True: the CSMS sees real time, and power computed from meter deltas
    # looks ``speed`` times higher).
    wall_timestamps: bool = False
    # Where simulated time starts (the session models' time of day, in the
    # scenario's time zone); None: at ``origin_wall``.
    sim_origin: datetime | None = None
    # A station's clock error (seconds): in its timestamps and in how it reads
    # the CSMS's dates, not in simulated time (when drivers arrive).
    skew_s: float = 0.0

    def wall(self, now_s: float) -> datetime:
        """The timestamp OCPP messages carry at engine time ``now_s`` (one
        datetime addition: it dates every message)."""
        if self.wall_timestamps:
            return self.origin_wall + timedelta(seconds=now_s - self.origin_s + self.skew_s)
        return self.sim_start() + timedelta(seconds=(now_s - self.origin_s) * self.speed + self.skew_s)

    def simulated(self, now_s: float) -> datetime:
        """Simulated time at engine time ``now_s``: what sessions follow."""
        return self.sim_start() + timedelta(seconds=(now_s - self.origin_s) * self.speed)

    def sim_start(self) -> datetime:
        """Where simulated time starts."""
        return self.sim_origin if self.sim_origin is not None else self.origin_wall

    def engine_s(self, stamp: datetime) -> float:
        """The engine time at which :meth:`wall` reaches ``stamp`` (a date the
        CSMS sent: it lives in the frame of our timestamps)."""
        if self.wall_timestamps:
            return self.origin_s + (stamp - self.origin_wall).total_seconds() - self.skew_s
        return self.origin_s + ((stamp - self.sim_start()).total_seconds() - self.skew_s) / self.speed

    def sim_seconds(self, engine_seconds: float) -> float:
        """Simulated seconds in ``engine_seconds`` of engine time."""
        return engine_seconds * self.speed

    def engine_seconds(self, sim_seconds: float) -> float:
        """Engine seconds for a simulated duration (an OCPP interval, a session)."""
        return sim_seconds / self.speed


def fixed_timebase(origin_wall: datetime | None = None) -> Timebase:
    """A timebase for tests: engine time 0 is 2026-01-01T00:00:00Z."""
    return Timebase(0.0, origin_wall or datetime(2026, 1, 1, tzinfo=UTC))
