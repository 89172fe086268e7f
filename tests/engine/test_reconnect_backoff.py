"""The reconnect back-off is the one configured (scenario, command line), the
stations follow it, and outage recovery is reported both as measured and net
of the waits that policy made after the outage's end."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from fleetsim.cli import main
from fleetsim.cli.scenario import run_spec
from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import serve_csms
from fleetsim.engine.faults import inject_faults
from fleetsim.engine.fleet import ConnectOptions, Fleet
from fleetsim.engine.link import Link, Target
from fleetsim.engine.run import RunSpec, build_stations, shares
from fleetsim.metrics.recorder import OutageRecovery, Recorder
from fleetsim.metrics.results import summary_document
from fleetsim.profiles.builtin import load_builtin
from fleetsim.report.thresholds import evaluate, parse_threshold
from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import load_scenario
from fleetsim.sessions.faults import FaultPlan, FaultSchedule, Outage
from fleetsim.station.backoff import Backoff, Jitter, WaitLog
from fleetsim.station.timebase import Timebase

PROFILES = load_builtin()
MODEL = "bionever-bss011k-v1000"
OUTAGE = Outage(at_s=5.0, for_s=10.0)  # at speed 1: cut at 5 s, connections refused until 15 s


# ---------------------------------------------------------------- the policy (pure)


def test_the_waits_follow_the_aws_formulas() -> None:
    rng = random.Random(1)
    assert [Backoff(base_s=1, cap_s=4, jitter=Jitter.NONE).wait_s(n, rng) for n in range(5)] == [1, 2, 4, 4, 4]
    full, equal = Backoff(base_s=0.5, cap_s=8), Backoff(base_s=0.5, cap_s=8, jitter=Jitter.EQUAL)
    for n in range(8):
        ceiling = min(8.0, 0.5 * 2**n)
        draws = [full.wait_s(n, rng) for _ in range(400)]
        assert 0 <= min(draws) < ceiling * 0.1 and ceiling * 0.9 < max(draws) <= ceiling  # the whole range
        draws = [equal.wait_s(n, rng) for _ in range(400)]
        assert ceiling / 2 <= min(draws) < ceiling * 0.6 and max(draws) <= ceiling  # never below half
    assert Backoff(base_s=1, cap_s=4, jitter=Jitter.NONE).wait_s(10_000, rng) == 4  # no overflow


@pytest.mark.parametrize(("fields", "words"), [
    ({"base_s": 0}, "base_s must be a finite number of seconds above 0"),
    ({"base_s": -1}, "base_s must be"),
    ({"cap_s": float("inf")}, "cap_s must be a finite number"),
    ({"base_s": float("nan")}, "base_s must be"),
    ({"base_s": 5, "cap_s": 2}, r"base_s \(5 s\) must not be longer than cap_s \(2 s\)"),
])
def test_a_policy_that_cannot_be_followed_is_refused(fields: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Backoff(**fields)


def test_the_wait_log_counts_only_what_falls_after_the_mark() -> None:
    log = WaitLog()
    log.wait(0.0, 3.0)
    log.watch(2.0)  # the current wait runs 1 s past the mark
    log.wait(3.5, 4.0)
    log.wait(5.0, 9.0)
    assert log.waited_after(2.0) == 1.0 + 0.5 + 4.0
    assert log.waited_after(2.0) == 0.0  # read once: no longer watched


# ---------------------------------------------------------------- settable in the scenario and on the command line


SCENARIO = """
[[groups]]
model = "bionever-bss011k-v1000"
stations = 1
[run]
duration_s = 0.3
[run.reconnect]
{reconnect}
"""


def _scenario(tmp_path: Path, reconnect: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(reconnect=reconnect))
    return path


def test_the_scenario_sets_the_policy_and_refuses_a_bad_one(tmp_path: Path) -> None:
    loaded = load_scenario(_scenario(tmp_path, 'base_s = 0.5\ncap_s = 8\njitter = "equal"'))
    assert run_spec(loaded).reconnect == Backoff(base_s=0.5, cap_s=8.0, jitter=Jitter.EQUAL)
    assert run_spec(load_scenario(_scenario(tmp_path, ""))).reconnect == Backoff()  # 1 s, 60 s, full
    for text, field, words in (('base_s = 9\ncap_s = 4', "run.reconnect", "must not be longer than cap_s"),
                               ("cap_s = inf", "run.reconnect.cap_s", "finite"),
                               ('jitter = "decorrelated"', "run.reconnect.jitter", "full, equal, none")):
        with pytest.raises(ScenarioError, match=words) as error:
            load_scenario(_scenario(tmp_path, text))
        assert error.value.field == field


def test_the_command_line_sets_the_policy_over_the_scenario(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["run", "-n", "1", "-d", "0.3s", "-q", "--out", str(tmp_path / "a"),
                                  "--reconnect-backoff", "2s", "30s", "none"])
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "a" / "run.json").read_text())
    assert settings["reconnect"] == {"base_s": 2.0, "cap_s": 30.0, "jitter": "none"}
    scenario = _scenario(tmp_path, 'base_s = 0.5\ncap_s = 8\njitter = "equal"')
    result = runner.invoke(main, ["run", str(scenario), "-q", "--out", str(tmp_path / "b"),
                                  "--reconnect-backoff", "250ms", "1s", "full"])
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "b" / "run.json").read_text())
    assert settings["reconnect"] == {"base_s": 0.25, "cap_s": 1.0, "jitter": "full"}
    for words, problem in ((["5s", "1s", "full"], "must not be longer than cap_s"),
                           (["1s", "5s", "half"], "'half' is not one of 'full', 'equal', 'none'"),
                           (["0s", "5s", "full"], "must be longer than 0")):
        result = runner.invoke(main, ["run", "-n", "1", "-d", "0.3s", "--reconnect-backoff", *words])
        assert result.exit_code == 2 and problem in result.output, result.output


# ---------------------------------------------------------------- the engine follows it


async def _outage_run(policy: Backoff, stations: int = 1, seed: int = 1,
                      ) -> tuple[list[OutageRecovery], dict[int, list[tuple[float, bool]]], dict]:
    """A fleet through OUTAGE against the embedded CSMS, until it recovered:
    the recovery, and each station's connection attempts (start, succeeded)."""
    attempts: dict[int, list[tuple[float, bool]]] = {}
    recorder = Recorder()
    spec = RunSpec(fleet=shares([MODEL], stations), duration_s=0, reaction_delays=False, sessions=None,
                   faults=FaultPlan(outages=(OUTAGE,)), seed=seed, reconnect=policy)
    async with trio.open_nursery() as nursery:
        csms = await nursery.start(serve_csms, CsmsConfig(heartbeat_interval_s=3600))
        timebase = Timebase(trio.current_time(), datetime(2026, 1, 1, tzinfo=UTC))
        fleet = Fleet(build_stations(spec, PROFILES, recorder, timebase),
                      ConnectOptions(Target.parse(csms.url), reconnect=policy), recorder, random.Random(seed))
        connect = fleet._connect

        async def logged(runner) -> Link | None:  # type: ignore[no-untyped-def]
            started_s = trio.current_time() - timebase.origin_s
            link = await connect(runner)
            attempts.setdefault(runner.index, []).append((started_s, link is not None))
            return link

        fleet._connect = logged  # type: ignore[method-assign]
        schedule = FaultSchedule(spec.faults, seed, [(r.station.charge_point_id, 1) for r in fleet.runners])
        nursery.start_soon(fleet.run, 0.0)
        nursery.start_soon(inject_faults, fleet, schedule, timebase, recorder)
        with trio.fail_after(120):
            while not recorder.outages or recorder.outages[0].booted_after_s is None:
                await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    return recorder.outages, attempts, summary_document(recorder, spec, None, run_id="t", host="test")


@pytest.mark.patches_hot_path
async def test_with_no_jitter_the_waits_are_the_policy_s_and_the_net_figure_drops_them(
        autojump_clock: trio.abc.Clock) -> None:
    (recovery,), attempts, document = await _outage_run(Backoff(base_s=1.0, cap_s=4.0, jitter=Jitter.NONE))
    # Connected at 0, cut at 5; then waits of 1, 2, 4 and 4 s: attempts at 6, 8
    # and 12 fail (the outage), the one at 16 gets through.
    assert [(round(at_s, 3), ok) for at_s, ok in attempts[0]] == [
        (0.0, True), (6.0, False), (8.0, False), (12.0, False), (16.0, True)]
    # Back 1 s after the end plus the boot and the watcher's poll; the 1 s it
    # chose to wait after 15 s is taken off, nothing else.
    assert 1.0 <= recovery.booted_after_s < 1.1
    assert recovery.booted_after_s - recovery.booted_after_net_s == pytest.approx(1.0, abs=1e-9)
    (verdict,) = evaluate([parse_threshold("outage.booted_after_net < 100ms")], document)
    assert verdict.passed, verdict.detail
    (verdict,) = evaluate([parse_threshold("outage.booted_after < 100ms")], document)
    assert not verdict.passed


@pytest.mark.patches_hot_path
async def test_with_full_jitter_the_net_figure_subtracts_exactly_the_waits_after_the_end(
        autojump_clock: trio.abc.Clock) -> None:
    (recovery,), attempts, _ = await _outage_run(Backoff(base_s=1.0, cap_s=8.0, jitter=Jitter.FULL), seed=4)
    end_s = OUTAGE.at_s + OUTAGE.for_s
    # The station's waits, from outside: from each failed attempt (or the cut)
    # to the next attempt; what of them fell after the outage's end.
    tried = [at_s for at_s, _ in attempts[0]]
    waits = list(zip([OUTAGE.at_s, *tried[1:-1]], tried[1:], strict=True))
    assert all(ok is False for _, ok in attempts[0][1:-1]) and attempts[0][-1][1]
    after_end_s = sum(max(0.0, end - max(start, end_s)) for start, end in waits)
    assert after_end_s > 0
    assert recovery.booted_after_s - recovery.booted_after_net_s == pytest.approx(after_end_s, abs=1e-6)
    assert 0 <= recovery.booted_after_net_s < 0.1  # the embedded CSMS boots it at once


@pytest.mark.patches_hot_path
async def test_the_slowest_station_net_of_its_own_waits_decides(autojump_clock: trio.abc.Clock) -> None:
    (recovery,), attempts, _ = await _outage_run(Backoff(base_s=1.0, cap_s=16.0, jitter=Jitter.FULL), stations=6,
                                                 seed=2)
    back_s = sorted(tried[-1][0] for tried in attempts.values())
    end_s = OUTAGE.at_s + OUTAGE.for_s
    assert back_s[-1] - back_s[0] > 1.0  # spread out by their own random waits
    assert recovery.booted_after_s >= back_s[-1] - end_s  # measured: the last one back decides
    assert 0 <= recovery.booted_after_net_s < 0.1  # net: every station was served at once
