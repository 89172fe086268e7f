"""The CSMS's configuration: delay distributions, traffic rules, faults, TOML."""

from __future__ import annotations

import random
import statistics

import msgspec
import pytest

from fleetsim.csms.config import (
    BasicAuth,
    CsmsConfig,
    DelayKind,
    Faults,
    ResponseDelay,
    TrafficRule,
    parse_duration_ms,
)
from fleetsim.ocpp.actions import Action
from fleetsim.ocpp.enums import AuthorizationStatus, RegistrationStatus


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", ResponseDelay()),
        ("fixed:5ms", ResponseDelay(DelayKind.FIXED, fixed_ms=5)),
        ("fixed:1.5s", ResponseDelay(DelayKind.FIXED, fixed_ms=1500)),
        ("fixed:250us", ResponseDelay(DelayKind.FIXED, fixed_ms=0.25)),
        ("uniform:1ms:20ms", ResponseDelay(DelayKind.UNIFORM, low_ms=1, high_ms=20)),
        ("lognormal:median=5ms,p99=50ms", ResponseDelay(DelayKind.LOGNORMAL, median_ms=5, p99_ms=50)),
        ("lognormal:p99=0.05s, median=5", ResponseDelay(DelayKind.LOGNORMAL, median_ms=5, p99_ms=50)),
    ],
)
def test_delay_specs_parse(text: str, expected: ResponseDelay) -> None:
    assert ResponseDelay.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "fixed", "fixed:5min", "uniform:5ms", "uniform:20ms:1ms", "lognormal:median=5ms", "lognormal:median=9,p99=1",
     "gamma:1", "none:1"],
)
def test_bad_delay_specs_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="bad delay"):
        ResponseDelay.parse(text)


def test_durations() -> None:
    assert [parse_duration_ms(t) for t in ("3", "3ms", "3s", "3us", ".5s")] == [3, 3, 3000, 0.003, 500]


def test_delays_draw_from_their_distribution() -> None:
    rng = random.Random(1)
    assert ResponseDelay().draw_ms(rng) == 0
    assert ResponseDelay(DelayKind.FIXED, fixed_ms=7).draw_ms(rng) == 7
    uniform = [ResponseDelay(DelayKind.UNIFORM, low_ms=2, high_ms=4).draw_ms(rng) for _ in range(1000)]
    assert min(uniform) >= 2 and max(uniform) <= 4
    lognormal = ResponseDelay(DelayKind.LOGNORMAL, median_ms=5, p99_ms=50)
    draws = sorted(lognormal.draw_ms(rng) for _ in range(40_000))
    assert statistics.median(draws) == pytest.approx(5, rel=0.05)
    assert draws[int(0.99 * len(draws))] == pytest.approx(50, rel=0.1)


def test_traffic_rules_parse_and_check_their_rate_and_action() -> None:
    assert TrafficRule.parse("RemoteStartTransaction=2/h").rate_per_s == pytest.approx(2 / 3600)
    assert TrafficRule.parse("Reset=0.5/s").rate_per_s == 0.5
    assert TrafficRule.parse("TriggerMessage=3").per_station_per_hour == 3
    for bad in ("Reset", "Reset=fast", "Nonsense=1/h", "Reset=1/min"):
        with pytest.raises(ValueError):
            TrafficRule.parse(bad)
    with pytest.raises(ValueError, match="not sent by a Central System"):
        TrafficRule(Action.HEARTBEAT, per_station_per_s=1)
    with pytest.raises(ValueError, match="exactly one"):
        TrafficRule(Action.RESET, per_station_per_s=1, per_station_per_hour=1)
    with pytest.raises(ValueError, match="exactly one"):
        TrafficRule(Action.RESET)


def test_faults_are_checked() -> None:
    with pytest.raises(ValueError):
        Faults(drop_after_messages=0)
    with pytest.raises(ValueError):
        Faults(stall_at_s=-1, stall_for_s=1)


def test_basic_auth_never_shows_a_password() -> None:
    auth = BasicAuth(shared_password="s3cret-shared", passwords={"CP1": "s3cret-cp1"})
    config = CsmsConfig(basic_auth=auth)
    for text in (repr(auth), str(auth), repr(config), str(config)):
        assert "s3cret" not in text
    assert auth.password_for("CP1") == b"s3cret-cp1"
    assert auth.password_for("CP2") == b"s3cret-shared"
    assert BasicAuth(passwords={"CP1": "x"}).password_for("CP2") is None


def test_a_config_reads_from_toml() -> None:
    text = """
heartbeat_interval_s = 60
boot_status = "Pending"
unknown_id_tag = "Invalid"
[id_tags]
ALICE = "Accepted"
BOB = "Blocked"
[delay]
kind = "uniform"
low_ms = 1
high_ms = 3
[faults]
malformed_every = 10
[[traffic]]
action = "RemoteStartTransaction"
per_station_per_hour = 2
payload = { idTag = "ALICE" }
"""
    config = msgspec.toml.decode(text, type=CsmsConfig)
    assert config.boot_status is RegistrationStatus.PENDING
    assert config.id_tags == {"ALICE": AuthorizationStatus.ACCEPTED, "BOB": AuthorizationStatus.BLOCKED}
    assert config.delay.kind is DelayKind.UNIFORM and config.faults.malformed_every == 10
    assert config.traffic[0].payload == {"idTag": "ALICE"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.toml.decode("heartbeat_interval = 60", type=CsmsConfig)  # a misspelt key is an error
