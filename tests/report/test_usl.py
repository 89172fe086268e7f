"""The USL fit of a capacity search: known parameters come back from the
curve they drew (exactly without noise, closely with it), a peak or an
asymptote is said where there is one, and the fit says when it is not to be
trusted (too few steps, no bend yet, a shape the USL cannot draw)."""

from __future__ import annotations

import math
import random

import msgspec
import pytest

from fleetsim.report.usl import MIN_R2, UslFit, fit_usl

PEAK = (2.0, 0.02, 1e-4)  # λ, σ, κ: a peak at sqrt(0.98 / 1e-4) ≈ 99 stations
PEAK_STATIONS = range(10, 301, 10)
SATURATION = (1.5, 0.05, 0.0)  # no peak: levels off at λ/σ = 30 calls/s
SATURATION_STATIONS = range(5, 201, 5)


def usl(params: tuple[float, float, float], n: float) -> float:
    lam, sigma, kappa = params
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def curve(params: tuple[float, float, float], stations: range, noise: float = 0.0, seed: int = 0) -> list:
    """Points on the USL curve, each throughput off by a seeded Gaussian
    share ``noise`` (0.03: 3 %)."""
    draw = random.Random(seed)
    return [(float(n), usl(params, n) * (1 + draw.gauss(0, noise))) for n in stations]


def test_exact_points_with_a_peak_give_back_their_parameters() -> None:
    fit = fit_usl(curve(PEAK, PEAK_STATIONS))
    assert fit is not None
    assert fit.lambda_ == pytest.approx(2.0, rel=1e-6)
    assert fit.sigma == pytest.approx(0.02, rel=1e-6)
    assert fit.kappa == pytest.approx(1e-4, rel=1e-6)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert fit.peak_stations == pytest.approx(math.sqrt(0.98 / 1e-4), rel=1e-6)
    assert fit.peak_calls_per_s == pytest.approx(usl(PEAK, math.sqrt(0.98 / 1e-4)), rel=1e-6)
    assert fit.asymptote_calls_per_s is None
    assert fit.trust == "good"
    assert "peak at 99 stations" in fit.note
    assert "within the measured 10–300 stations" in fit.note


def test_exact_points_that_level_off_give_an_asymptote_and_no_peak() -> None:
    fit = fit_usl(curve(SATURATION, SATURATION_STATIONS))
    assert fit is not None
    assert fit.lambda_ == pytest.approx(1.5, rel=1e-6)
    assert fit.sigma == pytest.approx(0.05, rel=1e-6)
    assert fit.kappa == 0.0  # exactly: a κ the points cannot tell from 0 would give a peak at millions
    assert fit.peak_stations is None
    assert fit.peak_calls_per_s is None
    assert fit.asymptote_calls_per_s == pytest.approx(30.0, rel=1e-6)
    assert fit.trust == "good"
    assert "levels off towards 30 calls/s" in fit.note
    assert "extrapolation" in fit.note  # 200 stations reach 91 % of it: the ceiling itself is beyond them


@pytest.mark.parametrize("seed", range(5))
def test_noisy_points_with_a_peak_give_their_parameters_roughly(seed: int) -> None:
    fit = fit_usl(curve(PEAK, PEAK_STATIONS, noise=0.03, seed=seed))
    assert fit is not None
    assert fit.lambda_ == pytest.approx(2.0, rel=0.15)
    assert fit.sigma == pytest.approx(0.02, rel=0.3)
    assert fit.kappa == pytest.approx(1e-4, rel=0.15)
    assert fit.peak_stations == pytest.approx(99.0, rel=0.1)
    assert fit.r2 > 0.95
    assert fit.trust == "good"


@pytest.mark.parametrize("seed", range(5))
def test_noisy_points_that_level_off_give_their_parameters_roughly(seed: int) -> None:
    fit = fit_usl(curve(SATURATION, SATURATION_STATIONS, noise=0.03, seed=seed))
    assert fit is not None
    assert fit.lambda_ == pytest.approx(1.5, rel=0.1)
    assert fit.sigma == pytest.approx(0.05, rel=0.2)
    # κ may come out a little above 0: its term stays under a tenth of the
    # denominator (1 + σ(N−1) ≈ 11) at the largest step
    assert fit.kappa * 200 * 199 < 1.0
    assert all(fit.predict(n) == pytest.approx(usl(SATURATION, n), rel=0.08) for n in SATURATION_STATIONS)


def test_a_straight_line_has_no_contention_and_no_bend_to_trust() -> None:
    fit = fit_usl([(n, 3.0 * n) for n in (1, 2, 4, 8, 16, 32)])
    assert fit is not None
    assert (fit.sigma, fit.kappa) == (0.0, 0.0)
    assert fit.lambda_ == pytest.approx(3.0, rel=1e-9)
    assert fit.peak_stations is None
    assert fit.asymptote_calls_per_s is None
    assert fit.trust == "too_few"
    assert "linearly" in fit.note
    assert "bend was not reached" in fit.note


def test_points_below_the_bend_are_too_few_to_place_the_peak() -> None:
    # the peak curve up to 10 stations: 84 % of linear scaling at the largest step
    fit = fit_usl(curve(PEAK, range(1, 11)))
    assert fit is not None
    assert fit.r2 > 0.999
    assert fit.trust == "too_few"
    assert "bend was not reached" in fit.note


@pytest.mark.parametrize("stations", [(10, 20), (10, 20, 30)])
def test_two_or_three_steps_are_too_few_even_on_the_curve(stations: tuple[int, ...]) -> None:
    fit = fit_usl([(n, usl(PEAK, n)) for n in stations])
    assert fit is not None
    assert fit.trust == "too_few"
    assert fit.points == len(stations)
    assert f"Only {len(stations)} station counts" in fit.note


def test_repeated_steps_do_not_count_as_more_station_counts() -> None:
    fit = fit_usl([(n, usl(PEAK, n)) for n in (10, 20, 30, 10, 20, 30)])
    assert fit is not None
    assert fit.points == 6
    assert fit.trust == "too_few"


def test_a_zig_zag_is_a_poor_fit() -> None:
    fit = fit_usl([(float(n), 100.0 if i % 2 else 20.0) for i, n in enumerate(range(10, 200, 10))])
    assert fit is not None
    assert fit.r2 < MIN_R2
    assert fit.trust == "poor"
    assert "do not follow the USL's shape" in fit.note


def test_a_peak_beyond_the_steps_is_called_an_extrapolation() -> None:
    fit = fit_usl(curve(PEAK, range(10, 81, 10)))  # bent, but stopped before the peak at 99
    assert fit is not None
    assert fit.trust == "good"
    assert fit.peak_stations == pytest.approx(99.0, rel=1e-3)
    assert "beyond the largest measured step (80 stations): an extrapolation" in fit.note


def test_the_peak_is_where_the_fitted_curve_is_highest() -> None:
    fit = fit_usl(curve((1.0, 0.1, 0.002), range(2, 61, 4)))
    assert fit is not None and fit.peak_stations is not None
    assert fit.peak_stations == pytest.approx(math.sqrt((1 - fit.sigma) / fit.kappa), rel=1e-12)
    assert fit.peak_stations == pytest.approx(math.sqrt(0.9 / 0.002), rel=1e-6)
    assert fit.peak_calls_per_s == fit.predict(fit.peak_stations)
    for off in (0.9, 0.99, 1.01, 1.1):
        assert fit.predict(fit.peak_stations * off) < fit.peak_calls_per_s


def test_a_curve_falling_from_the_start_peaks_at_one_station() -> None:
    fit = fit_usl([(n, 1000.0 / n) for n in (10, 20, 30, 40, 50)])
    assert fit is not None
    assert fit.peak_stations == 1.0
    assert fit.peak_calls_per_s == pytest.approx(fit.lambda_)
    assert "below the smallest measured step (10 stations)" in fit.note


def test_predict_is_the_usl() -> None:
    fit = fit_usl(curve(PEAK, PEAK_STATIONS))
    assert fit is not None
    for n in (1, 7, 99, 1000):
        assert fit.predict(n) == pytest.approx(usl(PEAK, n), rel=1e-6)
    assert fit.predict(0) == 0.0


def test_a_step_with_nothing_answered_is_fitted() -> None:
    points = [*curve(PEAK, PEAK_STATIONS), (400.0, 0.0)]
    fit = fit_usl(points)
    without = fit_usl(points[:-1])
    assert fit is not None and without is not None
    assert fit.points == len(PEAK_STATIONS) + 1
    assert fit.kappa > without.kappa  # the collapse at 400 pulls the curve down


@pytest.mark.parametrize(
    "points",
    [[], [(100.0, 50.0)], [(100.0, 50.0), (100.0, 60.0)], [(100.0, 0.0), (200.0, 0.0), (300.0, 5.0)]],
    ids=["none", "one", "one-station-count", "one-with-throughput"],
)
def test_nothing_to_fit_gives_none(points: list) -> None:
    assert fit_usl(points) is None


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ((100.0, math.nan), "not a finite number"),
        ((math.inf, 10.0), "not a finite number"),
        ((0.0, 10.0), "stations must be at least 1"),
        ((0.5, 10.0), "stations must be at least 1"),
        ((-5.0, 10.0), "stations must be at least 1"),
        ((100.0, -1.0), "throughput cannot be negative"),
        ((100.0, 1.0, 2.0), "a point is (stations, calls per second)"),
    ],
)
def test_bad_points_are_refused(point: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_usl([(10.0, 5.0), (20.0, 9.0), point])


def test_the_capacity_json_block() -> None:
    fit = fit_usl(curve(SATURATION, SATURATION_STATIONS))
    assert fit is not None
    block = fit.to_builtins()
    assert list(block) == [
        "lambda", "sigma", "kappa", "r2", "points", "peak_stations", "peak_calls_per_s",
        "asymptote_calls_per_s", "trust", "note",
    ]  # fmt: skip
    assert block["lambda"] == fit.lambda_
    assert block["points"] == len(SATURATION_STATIONS)
    assert block["peak_stations"] is None
    assert msgspec.json.decode(msgspec.json.encode(block)) == block
    assert msgspec.convert(block, UslFit) == fit


def test_the_same_points_give_the_same_fit() -> None:
    points = curve(PEAK, PEAK_STATIONS, noise=0.05, seed=11)
    fit = fit_usl(points)
    assert fit == fit_usl(points)
    backwards = fit_usl(list(reversed(points)))
    assert fit is not None and backwards is not None
    for name in ("lambda_", "sigma", "kappa", "r2"):
        assert getattr(backwards, name) == pytest.approx(getattr(fit, name), rel=1e-6)


def _squared_error(points: list, params: tuple[float, float, float]) -> float:
    return sum((x - usl(params, n)) ** 2 for n, x in points)


@pytest.mark.parametrize("seed", range(3))
def test_no_nearby_parameters_fit_the_points_better(seed: int) -> None:
    # least squares on X itself: the linearisation (N/X against N) weighs the
    # points differently and lands elsewhere on noisy points
    points = curve(PEAK, PEAK_STATIONS, noise=0.05, seed=seed)
    fit = fit_usl(points)
    assert fit is not None
    best = (fit.lambda_, fit.sigma, fit.kappa)
    error = _squared_error(points, best)
    mean = sum(x for _, x in points) / len(points)
    assert fit.r2 == pytest.approx(1 - error / sum((x - mean) ** 2 for _, x in points))
    for axis in range(3):
        for factor in (0.999, 1.001):
            nearby = tuple(v * factor if i == axis else v for i, v in enumerate(best))
            assert _squared_error(points, nearby) > error


def test_a_bound_is_reached_exactly() -> None:
    # noisy points that level off, drawn so that the best κ is on its bound
    fit = fit_usl(curve(SATURATION, SATURATION_STATIONS, noise=0.03, seed=3))
    assert fit is not None
    assert fit.kappa == 0.0
    assert fit.asymptote_calls_per_s == pytest.approx(fit.lambda_ / fit.sigma)
