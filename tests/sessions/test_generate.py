"""Generated sessions follow the fitted distributions (fixed seeds): the
arrival hour by chi-square against the hourly shares, connection time and
energy by Kolmogorov-Smirnov against the lognormals (statistics computed
here, critical values at the 0.1 % level)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from fleetsim.sessions.config import IdTags, Segment, SegmentSessions
from fleetsim.sessions.expected import expected_segment
from fleetsim.sessions.generate import SegmentPlan, draw_session, next_arrival_gap_s
from fleetsim.sessions.models import SEGMENTS, cdf, draw, mean

CHI2_CRIT_23DF_0001 = 49.728  # chi-square, 23 degrees of freedom, upper 0.1 %
KS_C_0001 = 1.949  # Kolmogorov: D_crit ≈ 1.949 / sqrt(n) at 0.1 %
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def ks_statistic(samples: list[float], cdf_of) -> float:  # type: ignore[no-untyped-def]
    xs = sorted(samples)
    n = len(xs)
    return max(max((i + 1) / n - cdf_of(x), cdf_of(x) - i / n) for i, x in enumerate(xs))


def arrival_hours(plan: SegmentPlan, start: datetime, n: int, *, weekend: bool, seed: int) -> list[int]:
    """Hours of ``n`` arrivals on the kind of day asked, following the process."""
    rng = random.Random(seed)
    now, hours = start, []
    while len(hours) < n:
        gap = next_arrival_gap_s(plan, now, 50, rng)
        assert gap is not None
        now += timedelta(seconds=gap)
        if (now.weekday() >= 5) == weekend:
            hours.append(now.hour)
    return hours


@pytest.mark.parametrize(("segment", "weekend"), [(Segment.AC_PUBLIC, False), (Segment.AC_PUBLIC, True),
                                                  (Segment.AC_HOME, False), (Segment.DC_FAST, True)])
def test_arrival_hours_follow_the_profile(segment: Segment, weekend: bool) -> None:
    plan = SegmentPlan.of(SegmentSessions(segment=segment))
    shares = plan.model.weekend_shares if weekend else plan.model.weekday_shares
    n = 20_000
    counts = [0] * 24
    for hour in arrival_hours(plan, MONDAY, n, weekend=weekend, seed=7):
        counts[hour] += 1
    # Hours of tiny share are pooled so that every cell expects at least 5.
    observed, expected, pool_o, pool_e = [], [], 0.0, 0.0
    for hour in range(24):
        pool_o, pool_e = pool_o + counts[hour], pool_e + n * shares[hour]
        if pool_e >= 5:
            observed.append(pool_o)
            expected.append(pool_e)
            pool_o = pool_e = 0.0
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    assert len(observed) >= 18
    assert chi2 < CHI2_CRIT_23DF_0001, chi2
    # And it could fail: the weekday profile is not the weekend one.
    other = plan.model.weekday_shares if weekend else plan.model.weekend_shares
    if segment is not Segment.DC_FAST:
        wrong = sum((counts[h] - n * other[h]) ** 2 / (n * other[h]) for h in range(24) if other[h] > 0)
        assert wrong > 10 * CHI2_CRIT_23DF_0001


def test_daily_volume_matches_sessions_per_connector() -> None:
    plan = SegmentPlan.of(SegmentSessions(segment=Segment.AC_WORKPLACE, sessions_per_connector_per_day=2.0))
    rng = random.Random(3)
    now, end, weekday_arrivals, weekend_arrivals = MONDAY, MONDAY + timedelta(days=28), 0, 0
    while True:
        now += timedelta(seconds=next_arrival_gap_s(plan, now, 100, rng) or math.inf)
        if now >= end:
            break
        if now.weekday() >= 5:
            weekend_arrivals += 1
        else:
            weekday_arrivals += 1
    # Poisson counts: 4,000 expected on weekdays, 320 at weekends; about 4 sd allowed.
    per_weekday = weekday_arrivals / 20 / 100
    per_weekend_day = weekend_arrivals / 8 / 100
    assert abs(per_weekday - 2.0) < 0.12
    assert abs(per_weekend_day - 2.0 * plan.model.weekend_factor) < 0.09


@pytest.mark.parametrize("segment", list(Segment))
def test_connection_time_and_energy_follow_their_lognormals(segment: Segment) -> None:
    model = SEGMENTS[segment]
    rng = random.Random(11)
    n = 5000
    crit = KS_C_0001 / math.sqrt(n)
    connection = [draw(model.connection_h, rng) for _ in range(n)]
    energy = [draw(model.energy_kwh, rng) for _ in range(n)]
    assert ks_statistic(connection, lambda x: cdf(model.connection_h, x)) < crit
    assert ks_statistic(energy, lambda x: cdf(model.energy_kwh, x)) < crit
    # ... and would see a wrong one: the energies are not connection times.
    assert ks_statistic(energy, lambda x: cdf(model.connection_h, x)) > crit


def test_sessions_connection_times_are_the_segments() -> None:
    """The whole draw (EV, tag, SoC) keeps the connection time's distribution."""
    plan = SegmentPlan.of(SegmentSessions(segment=Segment.AC_CAMPUS))  # the mixture
    rng = random.Random(5)
    n = 4000
    hours = [draw_session(plan, False, rng).connected_s / 3600 for _ in range(n)]
    assert ks_statistic(hours, lambda x: cdf(plan.model.connection_h, x)) < KS_C_0001 / math.sqrt(n)


@pytest.mark.parametrize("dc", [False, True])
def test_energy_and_soc_are_physically_consistent(dc: bool) -> None:
    plan = SegmentPlan.of(SegmentSessions(segment=Segment.DC_FAST if dc else Segment.AC_HOME))
    rng = random.Random(9)
    for _ in range(3000):
        ev = draw_session(plan, dc, rng).ev
        wanted = ev.energy_wanted_kwh
        assert wanted is not None and wanted > 0
        assert ev.soc_start >= 0.0 and ev.soc_start + wanted / ev.battery_kwh <= 1.0 + 1e-9
        if dc:
            assert 0.1 <= ev.soc_start <= 0.4


def test_expected_figures() -> None:
    config = SegmentSessions(segment=Segment.AC_PUBLIC, sessions_per_connector_per_day=1.5)
    load = expected_segment(config, connectors=100)
    assert math.isclose(load.weekday_total, 150.0)
    assert math.isclose(load.weekend_total, 150.0 * SEGMENTS[Segment.AC_PUBLIC].weekend_factor)
    assert max(range(24), key=lambda h: load.weekday_per_hour[h]) == 18  # the evening peak
    # The mean wanted energy is the lognormal's, a little less where batteries cap it.
    raw_mean = mean(SEGMENTS[Segment.AC_PUBLIC].energy_kwh)
    assert 0.85 * raw_mean < load.mean_energy_kwh < raw_mean


def test_bad_tags_and_rates_are_named() -> None:
    from fleetsim.sessions.tags import check_id_tags

    assert check_id_tags(IdTags()) == []
    problems = check_id_tags(IdTags(prefix="A-VERY-LONG-PREFIX", blocked_share=0.2, unknown_share=0.9))
    text = " ".join(problems)
    assert "prefix" in text and "blocked" in text and "more than 1" in text
    with pytest.raises(ValueError, match="sessions_per_connector_per_day"):
        SegmentPlan.of(SegmentSessions(segment=Segment.AC_HOME, sessions_per_connector_per_day=-1))
