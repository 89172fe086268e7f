"""Reaction delays drawn to match the lab's min / avg / max."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_seeds import SEEDS, parsed_seed

from fleetsim.profiles import Measured, ReactionTime

DRAWS = 20_000


def _measured_of_every_seed() -> list[tuple[str, Measured]]:
    found = []
    for seed in sorted(SEEDS):
        performance = parsed_seed(seed).profile.performance
        for name in ("response", "triggered", "remote_start", "remote_stop"):
            measured = getattr(performance, name).measured
            if measured is not None:
                found.append((f"{seed}-{name}", measured))
    return found


@pytest.mark.parametrize(("name", "measured"), _measured_of_every_seed(), ids=lambda v: v if isinstance(v, str) else "")
def test_samples_stay_in_range_and_average_to_the_measured_mean(name: str, measured: Measured) -> None:
    reaction = ReactionTime.fit(measured)
    rng = random.Random(f"reaction-{name}")
    samples = [reaction.sample(rng) for _ in range(DRAWS)]
    assert measured.min_s <= min(samples) and max(samples) <= measured.max_s
    spread = statistics.pstdev(samples)
    # The mean of DRAWS samples is within 5 standard errors of the true mean.
    assert abs(statistics.fmean(samples) - measured.avg_s) <= 5 * spread / math.sqrt(DRAWS) + 1e-9


def test_seed_000_response_is_skewed_like_a_latency() -> None:
    """0.27 / 0.42 / 22.22 s: most responses fast, a long tail to the maximum."""
    reaction = ReactionTime.fit(parsed_seed("000").profile.performance.response.measured)  # type: ignore[arg-type]
    rng = random.Random(0)
    samples = sorted(reaction.sample(rng) for _ in range(DRAWS))
    assert samples[DRAWS // 2] < 0.42  # median below the mean
    assert samples[int(DRAWS * 0.999)] > 2.0  # and a tail


def test_pert_when_the_mean_is_central() -> None:
    """For a central mean the fit is PERT: alpha = 1 + 4 (mode - min) / range."""
    reaction = ReactionTime.fit(Measured(min_s=6.11, avg_s=16.58, max_s=27.05))
    mode = (6 * 16.58 - 6.11 - 27.05) / 4
    assert reaction.alpha == pytest.approx(1 + 4 * (mode - 6.11) / (27.05 - 6.11))
    assert reaction.alpha + reaction.beta == pytest.approx(6)


@pytest.mark.parametrize(("low", "mean", "high"), [(1.0, 1.0, 1.0), (0.0, 0.0, 5.0), (2.0, 5.0, 5.0)])
def test_degenerate_measurements_give_a_constant(low: float, mean: float, high: float) -> None:
    reaction = ReactionTime.fit(Measured(min_s=low, avg_s=mean, max_s=high))
    rng = random.Random(1)
    assert {reaction.sample(rng) for _ in range(50)} == {mean}
    assert reaction.mean_s == mean


def test_same_seed_same_delays() -> None:
    reaction = ReactionTime.fit(Measured(min_s=0.3, avg_s=0.67, max_s=0.98))
    first = [reaction.sample(random.Random(7)) for _ in range(3)]
    assert first == [reaction.sample(random.Random(7)) for _ in range(3)]


@st.composite
def measurements(draw: st.DrawFn) -> Measured:
    values = sorted(draw(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=3, max_size=3)))
    return Measured(min_s=values[0], avg_s=values[1], max_s=values[2])


@settings(max_examples=200, deadline=None)
@given(measurements(), st.integers(0, 2**32))
def test_any_measurement_gives_samples_in_range_with_the_right_mean(measured: Measured, seed: int) -> None:
    reaction = ReactionTime.fit(measured)
    rng = random.Random(seed)
    for _ in range(20):
        assert measured.min_s <= reaction.sample(rng) <= measured.max_s
    assert reaction.mean_s == pytest.approx(measured.avg_s, rel=1e-9, abs=1e-9)


def test_measured_rejects_disordered_values() -> None:
    with pytest.raises(ValueError):
        Measured(min_s=2.0, avg_s=1.0, max_s=3.0)
