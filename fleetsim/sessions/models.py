"""The segment models: when people arrive (by simulated hour, weekday or
weekend), how long they stay plugged in, how much energy they want, how many
sessions a connector sees a day.  Built from fleetsim.sessions.fitted."""

from __future__ import annotations

import math
import random
import statistics
from typing import Final

import msgspec

from fleetsim.sessions import fitted
from fleetsim.sessions.config import Segment
from fleetsim.sessions.fitting import EvSpec, Lognormal, Mixture

_NORMAL = statistics.NormalDist()


def draw(dist: Lognormal | Mixture, rng: random.Random) -> float:
    match dist:
        case Lognormal(mu=mu, sigma=sigma):
            return rng.lognormvariate(mu, sigma)
        case Mixture(weights=weights, parts=parts):
            return draw(rng.choices(parts, weights)[0], rng)
    raise AssertionError(f"unreachable: {dist!r}")


def cdf(dist: Lognormal | Mixture, x: float) -> float:
    """P(X <= x)."""
    if x <= 0:
        return 0.0
    match dist:
        case Lognormal(mu=mu, sigma=sigma):
            return _NORMAL.cdf((math.log(x) - mu) / sigma)
        case Mixture(weights=weights, parts=parts):
            return sum(w * cdf(p, x) for w, p in zip(weights, parts, strict=True))
    raise AssertionError(f"unreachable: {dist!r}")


def mean(dist: Lognormal | Mixture) -> float:
    match dist:
        case Lognormal(mu=mu, sigma=sigma):
            return math.exp(mu + sigma * sigma / 2)
        case Mixture(weights=weights, parts=parts):
            return sum(w * mean(p) for w, p in zip(weights, parts, strict=True))
    raise AssertionError(f"unreachable: {dist!r}")


def _normalized(shares: tuple[float, ...]) -> tuple[float, ...]:
    total = sum(shares)
    return tuple(s / total for s in shares)


class SegmentModel(msgspec.Struct, frozen=True):
    weekday_shares: tuple[float, ...]  # of a weekday's arrivals, by local hour 0..23
    weekend_shares: tuple[float, ...]
    connection_h: Lognormal | Mixture
    energy_kwh: Lognormal
    sessions_per_connector_per_day: float  # on a weekday
    weekend_factor: float  # a weekend day's sessions / a weekday's
    dc: bool = False

    def hourly_rate_per_connector(self, hour: int, weekend: bool, per_day: float | None = None) -> float:
        """Expected arrivals per connector in that local hour."""
        day = self.sessions_per_connector_per_day if per_day is None else per_day
        if weekend:
            return day * self.weekend_factor * self.weekend_shares[hour]
        return day * self.weekday_shares[hour]

    def peak_rate_per_connector(self, per_day: float | None = None) -> float:
        """The largest hourly rate: the envelope for thinning."""
        return max(self.hourly_rate_per_connector(h, w, per_day) for h in range(24) for w in (False, True))


# Assumptions where the data gives no figure.  Sessions per connector per day at
# Dutch AC chargers: about one (public and workplace a little over 40 % occupied
# with their connection times, home about 45 %).  ElaadNL has no weekend profile
# for workplaces: their few weekend arrivals follow the public weekend hours, at
# a fifth of a weekday's volume.  ElaadNL's shares carry no volume by day, so
# public and home chargers see as many sessions at weekends as on weekdays.
_AC_NL_PER_DAY: Final = {Segment.AC_PUBLIC: 1.0, Segment.AC_WORKPLACE: 1.0, Segment.AC_HOME: 0.8}
WORKPLACE_WEEKEND_FACTOR: Final = 0.2

SEGMENTS: Final[dict[Segment, SegmentModel]] = {
    Segment.AC_PUBLIC: SegmentModel(
        _normalized(fitted.PUBLIC_WEEKDAY), _normalized(fitted.PUBLIC_WEEKEND), fitted.PUBLIC_CONNECTION_H,
        fitted.PUBLIC_ENERGY_KWH, _AC_NL_PER_DAY[Segment.AC_PUBLIC], 1.0),
    Segment.AC_WORKPLACE: SegmentModel(
        _normalized(fitted.WORKPLACE_WEEKDAY), _normalized(fitted.PUBLIC_WEEKEND), fitted.WORKPLACE_CONNECTION_H,
        fitted.WORKPLACE_ENERGY_KWH, _AC_NL_PER_DAY[Segment.AC_WORKPLACE], WORKPLACE_WEEKEND_FACTOR),
    Segment.AC_HOME: SegmentModel(
        _normalized(fitted.HOME_WEEKDAY), _normalized(fitted.HOME_WEEKEND), fitted.HOME_CONNECTION_H,
        fitted.HOME_ENERGY_KWH, _AC_NL_PER_DAY[Segment.AC_HOME], 1.0),
    Segment.AC_CAMPUS: SegmentModel(
        _normalized(fitted.CAMPUS_WEEKDAY), _normalized(fitted.CAMPUS_WEEKEND), fitted.CAMPUS_CONNECTION_H,
        fitted.CAMPUS_ENERGY_KWH, fitted.CAMPUS_PER_DAY, fitted.CAMPUS_WEEKEND_FACTOR),
    Segment.DC_FAST: SegmentModel(
        _normalized(fitted.DC_WEEKDAY), _normalized(fitted.DC_WEEKEND), fitted.DC_CONNECTION_H,
        fitted.DC_ENERGY_KWH, fitted.DC_PER_DAY, fitted.DC_WEEKEND_FACTOR, dc=True),
}

_EV_WEIGHTS: Final = tuple(float(spec.registrations) for spec in fitted.EV_MIX)


def draw_ev(rng: random.Random) -> EvSpec:
    """An EV of the Dutch fleet, weighted by registrations."""
    return rng.choices(fitted.EV_MIX, _EV_WEIGHTS)[0]
