"""compare knows noise: two shards of one recording never differ at the
default settings, while a run genuinely slower is still caught; a figure
needs enough answers to be judged; the band is shown and is the same every
time."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetsim.cli.gates import compare_folders
from fleetsim.engine.run import FleetShare, RunSpec
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.results import summary_document, write_summary
from fleetsim.report.compare import Comparison, compare, comparison_table, parse_regression_limits
from fleetsim.report.folder import read_summary
from fleetsim.report.noise import Noise

sys.path.insert(0, str(Path(__file__).parents[1] / "metrics"))
from recordings import MODELS, events, feed, new_recorder  # noqa: E402

START = datetime(2025, 1, 1, 12, tzinfo=UTC)
SECONDS = 60
LIMITS = [limit for text in ("10%", "max=10%") for limit in parse_regression_limits(text)]  # p50 p95 p99 max


def _shard(out: Path, shard: int, *, slower: float = 1.0, seed: int = 7) -> Path:
    """Every other event of one seeded recording (``shard`` 0 or 1), written
    as a run writes it: an interval a second; ``slower`` stretches every
    answer's latency."""
    recorder = new_recorder()
    writer = IntervalWriter(out, recorder, START)
    second = 1
    for n, event in enumerate(events(30_000, seed=seed, duration_s=SECONDS)):
        while event.at_s >= second:
            writer.tick(float(second), Census())
            second += 1
        if n % 2 != shard:
            continue
        if event.kind == "answer" and slower != 1.0:
            event = type(event)(event.due_s + (event.at_s - event.due_s) * slower, event.model_id, event.kind,
                                event.action, event.due_s, event.sent_s)
        feed(recorder, event)
    writer.close(float(SECONDS), Census())
    spec = RunSpec(fleet=tuple(FleetShare(model_id, 10) for model_id in MODELS), duration_s=SECONDS)
    write_summary(out, summary_document(recorder, spec, None, run_id=out.name, host="test"))
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("shards")
    return _shard(folder / "a", 0), _shard(folder / "b", 1), _shard(folder / "slow", 1, slower=1.5)


def _compare(base: Path, new: Path, limits=LIMITS, confidence: float = 0.99):  # type: ignore[no-untyped-def]
    return compare_folders(base, new, read_summary(base), read_summary(new), limits, min_count=1,
                           confidence=confidence)


@pytest.fixture(scope="module")
def same(shards: tuple[Path, Path, Path]) -> Comparison:
    return _compare(shards[0], shards[1])


def test_two_shards_of_one_recording_never_differ_at_the_default_settings(shards: tuple[Path, Path, Path],
                                                                          same: Comparison) -> None:
    a, b, _ = shards
    for comparison in (same, _compare(b, a)):
        assert comparison.passed, comparison_table(comparison)
        judged = [(row.scope, row.action, metric) for row in comparison.rows for metric in row.bands]
        assert len(judged) == 9 * 4  # every scope and action, p50 p95 p99 max: judged, each with its band
    # The same figures without the noise band: chance alone crosses the limits.
    assert not _compare(a, b, confidence=0).passed


def test_a_run_half_again_as_slow_is_caught_with_its_band(shards: tuple[Path, Path, Path]) -> None:
    a, _, slow = shards
    comparison = _compare(a, slow)
    caught = {(r.scope, r.action, r.limit.partition("=")[0]) for r in comparison.regressions}
    for action in ("Heartbeat", "MeterValues", "StatusNotification"):
        # Fleet-wide, the body and the tail of every action.
        assert {("all models", action, key) for key in ("p50", "p95", "max")} <= caught
        for scope in MODELS:  # per model, every action somewhere
            assert any((scope, action, key) in caught for key in ("p50", "p95", "p99", "max"))
    for regression in comparison.regressions:
        assert regression.band is not None and regression.band.low > 0.10  # the whole band is past the limit
        assert "noise band +" in regression.text()
    # The recording answers 1 % of calls after the declared timeout: its p99
    # sits on that cliff, and the band says a p99 there could be anything.
    heartbeat = next(row for row in comparison.rows if (row.scope, row.action) == ("all models", "Heartbeat"))
    assert heartbeat.bands["p99"].low < 0 < 0.10 < heartbeat.bands["p99"].high
    # A limit of 80 % is not crossed beyond the noise.
    assert _compare(a, slow, parse_regression_limits("p50=80%")).passed


def test_the_band_is_shown_and_is_the_same_every_time(shards: tuple[Path, Path, Path], same: Comparison) -> None:
    again = _compare(shards[0], shards[1], parse_regression_limits("p50=10%"))
    assert [row.bands["p50"] for row in again.rows] == [row.bands["p50"] for row in same.rows]
    table = comparison_table(same)
    heartbeat = next(line for line in table.splitlines() if line.startswith("all models") and "Heartbeat" in line)
    assert heartbeat.count("%..") == 4  # p50 p99 max p95: base→new, change, (band)
    assert "noise band" in table


def test_a_percentile_needs_enough_answers_to_be_judged() -> None:
    def summary(p99: float, answered: int) -> dict[str, object]:
        block = {"p50": 1.0, "p90": 1.0, "p99": p99, "p99.9": p99, "max": p99}
        exchange = {"count": answered, "answered": answered, "errors_total": 0, "timeouts": 0, "late": 0,
                    "corrected_ms": block, "service_ms": block}
        return {"run": {}, "models": {}, "fleet": {"exchanges": {"Heartbeat": exchange}}}

    limits = parse_regression_limits("p99=10%")
    few = compare(summary(1.0, 999), summary(5.0, 999), limits)
    assert few.passed and "p99 not judged: 999/999 answers, needs 1000" in comparison_table(few)
    assert not compare(summary(1.0, 1000), summary(5.0, 1000), limits).passed  # on its figures: no noise model


def test_an_action_missing_from_the_new_run_counts_only_when_chance_cannot_explain_it() -> None:
    def summary(answered: int) -> dict[str, object]:
        block = {"p50": 1.0, "p90": 1.0, "p99": 1.0, "p99.9": 1.0, "max": 1.0}
        exchanges = {"Heartbeat": {"count": 500, "answered": 500, "corrected_ms": block, "service_ms": block}}
        if answered:
            exchanges["Reset"] = {"count": answered, "answered": answered, "corrected_ms": block, "service_ms": block}
        return {"run": {}, "models": {}, "fleet": {"exchanges": exchanges}}

    limits = parse_regression_limits("10%")
    noise = Noise({}, {}, confidence=0.99)  # both runs alike, a call falls into either with even odds: 2^-7 < 1 %
    assert compare(summary(6), summary(0), limits, noise=noise).passed
    (regression,) = compare(summary(7), summary(0), limits, noise=noise).regressions
    assert regression.text() == "all models Reset: missing from the new run (7 calls in the base) " \
                                "(limits: p50=10%, p95=10%, p99=10%)"
