"""The figures ``fleetsim scenario check`` shows before a run: how many
sessions a fleet group should see per simulated hour (weekday and weekend),
per day, and the mean energy of a session."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final

import msgspec

from fleetsim.sessions.config import SegmentSessions
from fleetsim.sessions.fitting import RecordedSession
from fleetsim.sessions.generate import SegmentPlan, draw_session

ENERGY_SAMPLES: Final = 20_000  # draws behind the mean energy (seeded: the same figure every time)


class ExpectedLoad(msgspec.Struct, frozen=True):
    """Sessions arriving (offered: some may find every connector taken)."""

    weekday_per_hour: tuple[float, ...]  # by simulated local hour 0..23
    weekend_per_hour: tuple[float, ...]
    weekday_total: float
    weekend_total: float
    mean_energy_kwh: float  # per session, as wanted (capped by the battery)


def expected_segment(config: SegmentSessions, connectors: int) -> ExpectedLoad:
    plan = SegmentPlan.of(config)
    weekday = tuple(plan.model.hourly_rate_per_connector(h, False, plan.per_day) * connectors for h in range(24))
    weekend = tuple(plan.model.hourly_rate_per_connector(h, True, plan.per_day) * connectors for h in range(24))
    rng = random.Random(0)
    mean_kwh = statistics.fmean(draw_session(plan, plan.model.dc, rng).ev.energy_wanted_kwh or 0.0
                                for _ in range(ENERGY_SAMPLES))
    return ExpectedLoad(weekday, weekend, sum(weekday), sum(weekend), mean_kwh)


def expected_replay(sessions: Sequence[RecordedSession]) -> ExpectedLoad:
    """A recorded file's own figures: sessions per local hour, averaged over
    the weekdays and weekend days its span covers."""
    first = min(s.arrival.date() for s in sessions)
    last = max(s.arrival.date() for s in sessions)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    weekday_days = sum(1 for d in days if not _weekend(d)) or 1
    weekend_days = sum(1 for d in days if _weekend(d)) or 1
    weekday, weekend = [0.0] * 24, [0.0] * 24
    for s in sessions:
        if _weekend(s.arrival.date()):
            weekend[s.arrival.hour] += 1 / weekend_days
        else:
            weekday[s.arrival.hour] += 1 / weekday_days
    mean_kwh = statistics.fmean(s.energy_kwh for s in sessions)
    return ExpectedLoad(tuple(weekday), tuple(weekend), sum(weekday), sum(weekend), mean_kwh)


def _weekend(day: date) -> bool:
    return day.weekday() >= 5
