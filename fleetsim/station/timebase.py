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

    def wall(self, now_s: float) -> datetime:
        return self.origin_wall + timedelta(seconds=(now_s - self.origin_s) * self.speed)

    def engine_s(self, wall: datetime) -> float:
        """The engine time at which simulated wall time reaches ``wall``."""
        return self.origin_s + (wall - self.origin_wall).total_seconds() / self.speed

    def sim_seconds(self, engine_seconds: float) -> float:
        """Simulated seconds in ``engine_seconds`` of engine time."""
        return engine_seconds * self.speed

    def engine_seconds(self, sim_seconds: float) -> float:
        """Engine seconds for a simulated duration (an OCPP interval, a session)."""
        return sim_seconds / self.speed


def fixed_timebase(origin_wall: datetime | None = None) -> Timebase:
    """A timebase for tests: engine time 0 is 2026-01-01T00:00:00Z."""
    return Timebase(0.0, origin_wall or datetime(2026, 1, 1, tzinfo=UTC))
