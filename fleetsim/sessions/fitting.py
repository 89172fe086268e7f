"""How the shipped session figures (fleetsim.sessions.fitted) come from the
data in scenarios/data/: hourly arrival shares, lognormal fits, a two-component
lognormal mixture, the EV mix.  Pure functions of the files' text, so a test
can recompute every constant from the data and show they are the data's.

ElaadNL files give quantiles, not sessions: row ``p`` of
distribution-of-connection-time.csv is the connection time (h) that ``p`` % of
sessions exceed.  A lognormal is fitted to them by least squares of ln(value)
on the standard normal quantile of 1 - p/100, over p = 5..95 (the tails are
rounded to 0.1 h / 0.1 kWh and would dominate a fit in logs).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Sequence
from datetime import datetime

import msgspec

_NORMAL = statistics.NormalDist()
QUANTILE_FIT_PERCENTS = range(5, 96)


class Lognormal(msgspec.Struct, frozen=True):
    """ln X ~ Normal(mu, sigma)."""

    mu: float
    sigma: float


class Mixture(msgspec.Struct, frozen=True):
    """A weighted sum of lognormals (weights add up to 1)."""

    weights: tuple[float, ...]
    parts: tuple[Lognormal, ...]


class EvSpec(msgspec.Struct, frozen=True):
    """One EV model of the Dutch fleet (ElaadNL ev_specs.json)."""

    name: str
    registrations: int
    battery_kwh: float
    max_ac_kw: float
    max_dc_kw: float


class RecordedSession(msgspec.Struct, frozen=True):
    """One row of an ACN-Data style CSV (local times with their offsets)."""

    arrival: datetime
    departure: datetime
    energy_kwh: float
    station_id: str


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def elaad_hourly_shares(text: str) -> dict[str, tuple[float, ...]]:
    """Per column (private, public, workplace): the share of arrivals in each
    hour of the day, from the file's percentages per 15 minutes."""
    rows = _rows(text)
    header, body = rows[0], rows[1:]
    shares: dict[str, tuple[float, ...]] = {}
    for column, name in enumerate(header[1:], start=1):
        hours = [0.0] * 24
        for row in body:
            hours[int(row[0].split(":")[0])] += float(row[column])
        total = sum(hours)
        shares[name] = tuple(value / total for value in hours)
    return shares


def elaad_quantile_fits(text: str) -> dict[str, Lognormal]:
    """Per column: the lognormal fitted to the file's quantile table."""
    rows = _rows(text)
    header, body = rows[0], rows[1:]
    fits: dict[str, Lognormal] = {}
    for column, name in enumerate(header[1:], start=1):
        points = [(float(row[0]), float(row[column])) for row in body]
        usable = [(p, v) for p, v in points if round(p) in QUANTILE_FIT_PERCENTS and v > 0]
        z = [_NORMAL.inv_cdf(1.0 - p / 100.0) for p, _ in usable]
        ln_v = [math.log(v) for _, v in usable]
        slope, intercept = statistics.linear_regression(z, ln_v)
        fits[name] = Lognormal(intercept, slope)
    return fits


def parse_sessions(text: str, source: str) -> list[RecordedSession]:
    """Rows of a recorded-sessions CSV; a bad row raises ValueError naming
    ``source`` and its line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"arrival", "departure", "delivered_energy_kwh", "station_id"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{source}: line 1: missing column(s) {', '.join(sorted(missing))}")
    sessions = []
    for row in reader:
        line = reader.line_num
        try:
            arrival = datetime.fromisoformat(row["arrival"].strip())
            departure = datetime.fromisoformat(row["departure"].strip())
            energy_kwh = float(row["delivered_energy_kwh"])
        except (ValueError, AttributeError) as error:
            raise ValueError(f"{source}: line {line}: {error}") from None
        if arrival.tzinfo is None or departure.tzinfo is None:
            raise ValueError(f"{source}: line {line}: times need their UTC offset (e.g. 2019-05-01 08:00:00-07:00)")
        if not math.isfinite(energy_kwh) or energy_kwh < 0:
            raise ValueError(f"{source}: line {line}: delivered_energy_kwh must be a number >= 0")
        station_id = (row["station_id"] or "").strip()
        if not station_id:
            raise ValueError(f"{source}: line {line}: empty station_id")
        sessions.append(RecordedSession(arrival, departure, energy_kwh, station_id))
    return sessions


def lognormal_mle(values: Sequence[float]) -> Lognormal:
    logs = [math.log(v) for v in values if v > 0]
    return Lognormal(statistics.fmean(logs), statistics.pstdev(logs))


def lognormal_mixture_em(values: Sequence[float], *, tolerance: float = 1e-10, max_iterations: int = 5000) -> Mixture:
    """Two lognormals fitted by expectation-maximisation on ln(values),
    started from the lower and upper halves, run until the log-likelihood
    stops moving; parts sorted by mu."""
    logs = sorted(math.log(v) for v in values if v > 0)
    half = len(logs) // 2
    weights = [0.5, 0.5]
    means = [statistics.fmean(logs[:half]), statistics.fmean(logs[half:])]
    sds = [statistics.pstdev(logs[:half]), statistics.pstdev(logs[half:])]
    previous = -math.inf
    for _ in range(max_iterations):
        c0 = weights[0] / (sds[0] * math.sqrt(2 * math.pi))
        c1 = weights[1] / (sds[1] * math.sqrt(2 * math.pi))
        a0, a1 = -0.5 / sds[0] ** 2, -0.5 / sds[1] ** 2
        m0, m1 = means[0], means[1]
        resp0, likelihood = [], 0.0
        for x in logs:
            d0 = c0 * math.exp(a0 * (x - m0) ** 2)
            d1 = c1 * math.exp(a1 * (x - m1) ** 2)
            total = d0 + d1 or 1e-300
            resp0.append(d0 / total)
            likelihood += math.log(total)
        for k, rk in enumerate((resp0, [1.0 - r for r in resp0])):
            nk = math.fsum(rk)
            weights[k] = nk / len(logs)
            means[k] = math.fsum(r * x for r, x in zip(rk, logs, strict=True)) / nk
            sds[k] = math.sqrt(math.fsum(r * (x - means[k]) ** 2 for r, x in zip(rk, logs, strict=True)) / nk)
        if likelihood - previous < tolerance:
            break
        previous = likelihood
    order = sorted(range(2), key=lambda k: means[k])
    return Mixture(tuple(weights[k] for k in order), tuple(Lognormal(means[k], sds[k]) for k in order))


def connection_hours(sessions: Sequence[RecordedSession]) -> list[float]:
    return [(s.departure - s.arrival).total_seconds() / 3600.0 for s in sessions]


def hourly_shares(sessions: Sequence[RecordedSession], *, weekend: bool) -> tuple[float, ...]:
    """Share of arrivals per local hour of day, on weekdays or at weekends."""
    hours = [0] * 24
    for s in sessions:
        if (s.arrival.weekday() >= 5) == weekend:
            hours[s.arrival.hour] += 1
    total = sum(hours)
    return tuple(h / total for h in hours)


def sessions_per_connector_per_day(sessions: Sequence[RecordedSession], *, weekend: bool) -> float:
    """Mean sessions per station id per calendar day of that kind, over the
    file's span of days."""
    first = min(s.arrival.date() for s in sessions)
    last = max(s.arrival.date() for s in sessions)
    days = [first.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1)]
    n_days = sum(1 for d in days if (d.weekday() >= 5) == weekend)
    count = sum(1 for s in sessions if (s.arrival.weekday() >= 5) == weekend)
    stations = len({s.station_id for s in sessions})
    return count / n_days / stations


def ev_mix(text: str) -> tuple[EvSpec, ...]:
    specs = json.loads(text)
    return tuple(
        EvSpec(name, int(spec["number_of_registrations"]), float(spec["battery_capacity"]),
               float(spec["max_ac_charge_power"]), float(spec["max_dc_charge_power"]))
        for name, spec in specs.items()
    )
