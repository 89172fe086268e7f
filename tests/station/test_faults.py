"""Faults of the station itself (fleetsim.station.faults): a connector fault
(OCPP 1.6 §4.9 Faulted with its errorCode, the transaction stopped, recovery),
a power loss reported as the model certified (AQ-7.1 / AQ-7.2), and a wrong
clock."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import msgspec
import pytest
from core_steps import AC_3PHASE, AC_EV, DC_2CCS, booted, calls, model, plug_in, profile, start_charging, unplug
from harness import Bench

from fleetsim.ocpp.enums import ChargePointErrorCode, Reason
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.build import build_model
from fleetsim.station.faults import connector_fault, inject, power_loss, skew_clock
from fleetsim.station.model import StationModel


def fault(bench: Bench, connector_id: int, error_code: ChargePointErrorCode, recover_after_s: float) -> None:
    station = bench.station
    bench.act(lambda now: inject(station, partial(connector_fault, station, connector_id, error_code,
                                                  recover_after_s=recover_after_s), now))


def meter_now(bench: Bench, connector_id: int) -> int:
    """The meter's register now (integrated up to this moment)."""
    connector = bench.station.connectors[connector_id - 1]
    connector.advance(bench.now_s)
    return connector.meter_wh()


def statuses_with_codes(bench: Bench, connector_id: int, since_s: float) -> list[tuple[str, str]]:
    return [(str(p.status), str(p.error_code)) for _, p in calls(bench, "StatusNotification", since_s)
            if p.connector_id == connector_id]


def test_a_connector_fault_reports_faulted_stops_the_transaction_and_recovers() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    bench.run_for(600)
    t0 = bench.now_s
    meter_before = meter_now(bench, 1)
    fault(bench, 1, ChargePointErrorCode.GROUND_FAILURE, recover_after_s=300)
    bench.run_for(60)
    (stop,) = [p for _, p in calls(bench, "StopTransaction", t0)]
    assert stop.reason == Reason.OTHER  # §7.32: none of the specific reasons is a detected fault
    assert stop.meter_stop == meter_before  # stopped at once: no energy since
    assert statuses_with_codes(bench, 1, t0) == [("Faulted", "GroundFailure")]
    assert bench.station.connectors[0].power_w == 0.0
    # Faulted first, then the transaction's end (the CSMS learns why first).
    actions = [a for a in bench.sent_actions(t0) if a in ("StatusNotification", "StopTransaction")]
    assert actions == ["StatusNotification", "StopTransaction"]

    bench.run_for(300)  # recovered: the EV is still plugged in, so Finishing
    assert statuses_with_codes(bench, 1, t0) == [("Faulted", "GroundFailure"), ("Finishing", "NoError")]
    unplug(bench, 1)
    bench.run_for(5)
    assert statuses_with_codes(bench, 1, t0)[-1] == ("Available", "NoError")
    assert bench.station.stats.counters["fault.connector"] == 1
    assert bench.station.stats.counters["fault.connector.recovered"] == 1


def test_an_ev_plugged_in_without_a_transaction_is_preparing_again_after_the_fault() -> None:
    bench = booted(AC_3PHASE)
    plug_in(bench, 1)
    bench.run_for(5)
    t0 = bench.now_s
    fault(bench, 1, ChargePointErrorCode.GROUND_FAILURE, recover_after_s=120)
    bench.run_for(180)
    assert statuses_with_codes(bench, 1, t0) == [("Faulted", "GroundFailure"), ("Preparing", "NoError")]
    assert not calls(bench, "StopTransaction", t0)


def test_a_faulted_connector_takes_no_session_and_outlasts_an_unplug() -> None:
    bench = booted(AC_3PHASE)
    t0 = bench.now_s
    fault(bench, 2, ChargePointErrorCode.OVER_CURRENT_FAILURE, recover_after_s=120)
    plug_in(bench, 2)
    bench.run_for(5)
    assert bench.station.stats.counters["session.plug_in_refused"] == 1
    unplug(bench, 2)  # not plugged: nothing changes
    bench.run_for(120)
    assert statuses_with_codes(bench, 2, t0) == [("Faulted", "OverCurrentFailure"), ("Available", "NoError")]
    assert calls(bench, "StartTransaction", t0) == []
    # Connector 1 was never touched.
    assert statuses_with_codes(bench, 1, t0) == []


def test_a_fault_during_a_fault_changes_nothing() -> None:
    bench = booted(AC_3PHASE)
    t0 = bench.now_s
    fault(bench, 1, ChargePointErrorCode.GROUND_FAILURE, recover_after_s=100)
    bench.run_for(50)
    fault(bench, 1, ChargePointErrorCode.HIGH_TEMPERATURE, recover_after_s=100)
    bench.run_for(60)  # the first fault's recovery
    assert statuses_with_codes(bench, 1, t0) == [("Faulted", "GroundFailure"), ("Available", "NoError")]
    assert bench.station.stats.counters["fault.connector"] == 1


# ---------------------------------------------------------------- power loss (AQ-7)


def aq7_1_model(model_id: str) -> StationModel:
    """A model as its certificate would read with AQ-7.1 Yes / AQ-7.2 No."""
    base = profile(model_id)
    answers = msgspec.structs.replace(base.answers, stop_transaction_before_power_down=True,
                                      stop_transaction_after_power_up=False)
    return build_model(msgspec.structs.replace(base, answers=answers))


def lose_power(bench: Bench, for_s: float) -> tuple[float, float]:
    """Cut the power; the bench's connection goes when the station goes down.
    Returns (power lost at, station down at)."""
    station = bench.station
    lost_at = bench.now_s
    bench.act(lambda now: inject(station, partial(power_loss, station, for_s=for_s), now))
    while not station.want_disconnect:
        bench.run_for(0.1)
    down_at = bench.now_s
    bench.disconnect()
    return lost_at, down_at


def power_back(bench: Bench) -> None:
    bench.run_until(bench.station.offline_until_s)
    bench.connect()
    bench.run_for(30)


def test_the_certified_models_report_stop_transaction_after_power_returns() -> None:
    # Every certificate that answers AQ-7 says 7.1 No, 7.2 Yes; Bionever's has no AQ rows.
    answers = {model_id: (p.answers.stop_transaction_before_power_down, p.answers.stop_transaction_after_power_up)
               for model_id, p in load_builtin().items()}
    assert answers == {
        "bescore-bsc-s12bcc": (False, True), "evsis-jc-9932-100-cu07": (False, True),
        "taeseongcontech-tsct-2007cp": (False, True), "wenzhou-bsec-22k-a-2-ccs2-400s": (False, True),
        "bionever-bss011k-v1000": (None, None),
    }
    assert not model(DC_2CCS).stop_transaction_before_power_down
    assert aq7_1_model(DC_2CCS).stop_transaction_before_power_down


def test_power_loss_aq7_2_reports_stop_transaction_after_the_next_boot() -> None:
    bench = booted(DC_2CCS)
    start_charging(bench, 1)
    bench.run_for(300)
    connector = bench.station.connectors[0]
    lost_at, down_at = lose_power(bench, for_s=120)
    meter_at_loss = meter_now(bench, 1)  # no energy since the power went
    assert down_at - lost_at < 0.5  # down at once
    assert calls(bench, "StopTransaction") == []  # nothing reported before going down
    assert connector.power_w == 0.0
    power_back(bench)
    sent = bench.sent_actions(down_at)
    assert sent.index("BootNotification") < sent.index("StopTransaction")
    ((_, stop),) = calls(bench, "StopTransaction")
    assert stop.reason == Reason.POWER_LOSS
    # The meter and time as they stood when the power went.
    assert stop.meter_stop == meter_at_loss
    assert stop.timestamp == bench.timebase.wall(lost_at)
    assert bench.station.stats.counters["fault.power_loss"] == 1


def test_power_loss_aq7_1_reports_stop_transaction_before_going_down() -> None:
    bench = Bench(aq7_1_model(DC_2CCS))
    bench.connect()
    bench.run_for(30)
    start_charging(bench, 1)
    start_charging(bench, 2)
    bench.run_for(300)
    meters = [meter_now(bench, 1), meter_now(bench, 2)]
    lost_at, down_at = lose_power(bench, for_s=120)
    stops = calls(bench, "StopTransaction")
    assert len(stops) == 2 and all(at < down_at for at, _ in stops)  # sent while still up
    assert all(stop.reason == Reason.POWER_LOSS and stop.timestamp == bench.timebase.wall(lost_at) for _, stop in stops)
    assert sorted(stop.meter_stop for _, stop in stops) == sorted(meters)
    power_back(bench)
    assert len(calls(bench, "StopTransaction")) == 2  # not again after the boot
    assert "BootNotification" in bench.sent_actions(down_at)


def test_no_session_starts_while_the_power_is_off() -> None:
    bench = booted(AC_3PHASE)
    lose_power(bench, for_s=600)
    bench.station.plug_in(1, AC_EV, bench.now_s)
    assert bench.station.stats.counters["session.plug_in_refused"] == 1
    power_back(bench)
    assert bench.station.registration is not None  # booted again


# ---------------------------------------------------------------- clock skew


@pytest.mark.parametrize("skew_s", [-90.0, 42.5])
def test_clock_skew_shifts_every_timestamp(skew_s: float) -> None:
    straight = booted(AC_3PHASE)
    skewed = Bench(model(AC_3PHASE))
    skew_clock(skewed.station, skew_s)
    skewed.connect()
    skewed.run_for(30)
    for bench in (straight, skewed):
        start_charging(bench, 1)
        bench.run_for(120)
    (_, start_ok), (_, start_off) = calls(straight, "StartTransaction")[0], calls(skewed, "StartTransaction")[0]
    assert start_off.timestamp - start_ok.timestamp == timedelta(seconds=skew_s)
    meter_ok = [p.meter_value[0].timestamp for _, p in calls(straight, "MeterValues")]
    meter_off = [p.meter_value[0].timestamp for _, p in calls(skewed, "MeterValues")]
    assert meter_ok and [b - a for a, b in zip(meter_ok, meter_off, strict=True)] == [timedelta(seconds=skew_s)] * len(
        meter_ok)
    assert skewed.station.stats.counters["fault.clock_skew"] == 1


def test_clock_skew_leaves_simulated_time_alone() -> None:
    """Drivers arrive by the true time of day; only the station's clock is off."""
    bench = Bench(model(AC_3PHASE))
    before = bench.station.timebase
    skew_clock(bench.station, 90.0)
    after = bench.station.timebase
    assert after.simulated(123.0) == before.simulated(123.0)
    assert after.wall(123.0) - before.wall(123.0) == timedelta(seconds=90)
    assert after.engine_s(after.wall(50.0)) == pytest.approx(50.0)  # it reads the CSMS's dates on its own clock
