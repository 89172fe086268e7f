"""Every byte a station sends through a scripted day of metering, against
digests recorded from an earlier implementation: making the metering cheaper
must not change a value, a unit, a phase, a timestamp or the order of anything
sent.

The day covers what the meter code decides: periodic samples every few
seconds with every measurand (AC 1- and 3-phase, DC with SoC and the taper),
a measurand list changed mid-transaction, clock-aligned data with and without
a transaction, StopTxnSampledData and StopTxnAlignedData, a StopTransaction
cut to StopTransactionMaxMeterValues and one carrying every sample, sample
intervals changed by the CSMS, samples taken offline and sent afterwards, a
triggered MeterValues, smart-charging limits (a lower one, then none at all),
and EVs that fill up.  A digest mismatch names the action whose frames
changed; to see how, compare the frames of the day (``scripted_day``) before
and after the change.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime

import msgspec
import pytest
from core_steps import AC_1PHASE, AC_3PHASE, DC_2CCS, badge, calls, configure, csms_call, model, plug_in, unplug
from harness import Bench

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.ocpp.datatypes import ChargingProfile, ChargingSchedule, ChargingSchedulePeriod
from fleetsim.ocpp.enums import (
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    Measurand,
    MessageTrigger,
)
from fleetsim.ocpp.payloads.remote_trigger import TriggerMessageReq
from fleetsim.ocpp.payloads.smart_charging import ClearChargingProfileReq, SetChargingProfileReq
from fleetsim.station.power import Ev
from fleetsim.station.timebase import Timebase

DAY_S = 24 * 3600.0
# Every measurand of §7.31, and one no station knows (it is left out).
EVERY_MEASURAND = ",".join([*(m.value for m in Measurand), "Unknown.Measurand"])
# EVs that stop drawing within the day's sessions: a DC one through the
# taper to full, AC ones once they have what they wanted (SuspendedEV).
FILLING_EV = {
    AC_1PHASE: Ev(battery_kwh=40.0, soc_start=0.3, max_ac_kw=7.4, energy_wanted_kwh=3.0),
    AC_3PHASE: Ev(battery_kwh=58.0, soc_start=0.3, max_ac_kw=11.0, energy_wanted_kwh=6.0),
    DC_2CCS: Ev(battery_kwh=60.0, soc_start=0.6, soc_target=0.9, max_dc_kw=100.0),
}
SECOND_EV = {
    AC_1PHASE: Ev(battery_kwh=58.0, soc_start=0.5, max_ac_kw=3.7),
    AC_3PHASE: Ev(battery_kwh=77.0, soc_start=0.1, max_ac_kw=22.0),
    DC_2CCS: Ev(battery_kwh=58.0, soc_start=0.2, max_dc_kw=50.0),
}


def _tx_profile(profile_id: int, limit_w: float) -> ChargingProfile:
    return ChargingProfile(
        charging_profile_id=profile_id, stack_level=1, transaction_id=None,
        charging_profile_purpose=ChargingProfilePurposeType.TX_PROFILE,
        charging_profile_kind=ChargingProfileKindType.RELATIVE,
        charging_schedule=ChargingSchedule(charging_rate_unit=ChargingRateUnitType.W, charging_schedule_period=[
            ChargingSchedulePeriod(start_period=0, limit=limit_w)]),
    )


def scripted_day(model_id: str, speed: float = 1.0) -> Bench:
    """A day of one station's metering, at ``speed`` times real time."""
    timebase = Timebase(0.0, datetime(2026, 1, 1, tzinfo=UTC), speed)
    bench = Bench(model(model_id), timebase=timebase)
    station = bench.station

    def run(sim_s: float) -> None:
        bench.run_for(sim_s / speed)

    bench.connect()
    run(30)
    assert configure(bench, "ClockAlignedDataInterval", "900") == "Accepted"
    # Values beyond what the certificates allow a CSMS to set: the station's own.
    station.config.set("MeterValueSampleInterval", "5")
    station.config.set("MeterValuesSampledData", EVERY_MEASURAND)
    station.config.set("MeterValuesAlignedData", "Energy.Active.Import.Register,Energy.Active.Import.Interval,"
                                                 "Current.Offered,Power.Offered,Frequency,Temperature,SoC")
    station.config.set("StopTxnSampledData", "Energy.Active.Import.Register,Energy.Active.Import.Interval,"
                                             "SoC,Current.Import")
    station.config.set("StopTxnAlignedData", "Energy.Active.Import.Register,Power.Active.Import,Voltage")
    station.config.set("StopTransactionMaxMeterValues", "25")
    run(700)  # into the first quarter hour: clock-aligned data without a transaction

    plug_in(bench, 1, FILLING_EV[model_id])
    badge(bench, 1, "TAG-1")
    run(300)
    station.config.set("MeterValuesSampledData", "Power.Active.Import,SoC,Energy.Active.Import.Register,"
                                                 "Current.Import,Voltage")
    run(200)
    two = len(station.connectors) > 1
    if two:
        plug_in(bench, 2, SECOND_EV[model_id])
        badge(bench, 2, "TAG-2")
    run(100)
    if model(model_id).supports(FeatureProfile.SMART_CHARGING):
        for profile_id, limit_w in ((1, 3000.0), (2, 0.0)):
            request = SetChargingProfileReq(connector_id=1, cs_charging_profiles=_tx_profile(profile_id, limit_w))
            assert str(csms_call(bench, request, wait_s=1.0).status) == "Accepted"
            run(240)
        assert str(csms_call(bench, ClearChargingProfileReq(), wait_s=1.0).status) == "Accepted"
    if model(model_id).supports(FeatureProfile.REMOTE_TRIGGER):
        request = TriggerMessageReq(requested_message=MessageTrigger.METER_VALUES, connector_id=1)
        assert str(csms_call(bench, request, wait_s=1.0).status) == "Accepted"
    run(200)
    bench.disconnect()  # samples taken offline go out once the station is back (§4.7)
    run(180)
    bench.connect()
    run(60)
    assert configure(bench, "MeterValueSampleInterval", "10") == "Accepted"
    run(2400)  # the first EV fills up
    unplug(bench, 1)  # StopTransaction with 25 of its samples
    run(200)
    if two:
        unplug(bench, 2)
    run(100)
    # No limit (StopTransactionMaxMeterValues 0), set between transactions:
    # the limit in force when a sample is taken decides whether it is kept.
    station.config.set("StopTransactionMaxMeterValues", "0")
    plug_in(bench, 1, SECOND_EV[model_id])
    badge(bench, 1, "TAG-3")
    run(600)
    badge(bench, 1, "TAG-3")  # StopTransaction with every sample
    run(60)
    unplug(bench, 1)
    run(DAY_S - bench.now_s * speed)
    return bench


def digests(frames: list[tuple[float, bytes]]) -> dict[str, tuple[int, str]]:
    """Per action (CALLs) or kind of frame: how many, and a digest of them
    all with the engine times they went out at."""
    by_kind: dict[str, list[bytes]] = defaultdict(list)
    for at_s, data in frames:
        frame = msgspec.json.decode(data)
        kind = frame[2] if frame[0] == 2 else ("CALLRESULT" if frame[0] == 3 else "CALLERROR")
        by_kind[kind].append(repr(at_s).encode() + b" " + data)
    return {kind: (len(items), hashlib.sha256(b"\n".join(items)).hexdigest()[:16])
            for kind, items in sorted(by_kind.items())}


# Recorded from the implementation before the cheaper metering.
GOLDEN: dict[tuple[str, float], dict[str, tuple[int, str]]] = {
    (AC_1PHASE, 1.0): {
        "Authorize": (2, "a8bd94c141d35619"),
        "BootNotification": (1, "0ef865727e1a109e"),
        "CALLRESULT": (3, "6a03e3770361231f"),
        "Heartbeat": (227, "5feb4fbe74da5c1f"),
        "MeterValues": (604, "5c6090a206089f4f"),
        "StartTransaction": (2, "5e9928f9d9e663b5"),
        "StatusNotification": (10, "8281793cdcf66bca"),
        "StopTransaction": (2, "0f38cf36e5295955"),
    },
    (AC_3PHASE, 1.0): {
        "Authorize": (3, "acf21332affb2630"),
        "BootNotification": (1, "5b061592c36f4e23"),
        "CALLRESULT": (6, "665f4a732a086f5b"),
        "Heartbeat": (182, "495abb1f505f58e4"),
        "MeterValues": (1259, "5541f5a76322ac9d"),
        "StartTransaction": (3, "826b4e433dceb209"),
        "StatusNotification": (16, "2081deccf6b54442"),
        "StopTransaction": (3, "8deea756471ea094"),
    },
    (DC_2CCS, 1.0): {
        "Authorize": (3, "acf21332affb2630"),
        "BootNotification": (1, "064664dddf417b83"),
        "CALLRESULT": (6, "665f4a732a086f5b"),
        "Heartbeat": (182, "495abb1f505f58e4"),
        "MeterValues": (1259, "b188817a5faca010"),
        "StartTransaction": (3, "cdd94ad0b3ee62e5"),
        "StatusNotification": (16, "be8a21d7c9aefea2"),
        "StopTransaction": (3, "443e95b76db78dcb"),
    },
    (AC_3PHASE, 60.0): {
        "Authorize": (3, "ddd8914589c8ee7c"),
        "BootNotification": (1, "5b061592c36f4e23"),
        "CALLRESULT": (6, "addaf0c958fc835e"),
        "Heartbeat": (181, "77d80b2ced5ce870"),
        "MeterValues": (1364, "ae75cd1035955fb9"),
        "StartTransaction": (3, "30a0bb5b1eca8d8a"),
        "StatusNotification": (16, "4ac758dd767cc90c"),
        "StopTransaction": (3, "c9b0b5a6d4482891"),
    },
    (DC_2CCS, 30.0): {
        "Authorize": (3, "46519951fac3896a"),
        "BootNotification": (1, "064664dddf417b83"),
        "CALLRESULT": (6, "1e07642e2fb4d1d1"),
        "Heartbeat": (181, "55fba4046a74a19c"),
        "MeterValues": (1310, "67dd007a75d7bb51"),
        "StartTransaction": (3, "d4aa57fd0eff8329"),
        "StatusNotification": (16, "8ec90d0f18898d13"),
        "StopTransaction": (3, "777d27e546fe45ae"),
    },
}


@pytest.mark.parametrize(("model_id", "speed"), list(GOLDEN), ids=lambda v: str(v))
def test_a_scripted_day_sends_the_recorded_frames(model_id: str, speed: float) -> None:
    bench = scripted_day(model_id, speed)
    assert digests(bench.frames) == GOLDEN[(model_id, speed)]


@pytest.mark.parametrize("model_id", [AC_1PHASE, AC_3PHASE, DC_2CCS])
def test_the_scripted_day_covers_what_the_meter_decides(model_id: str) -> None:
    bench = scripted_day(model_id)
    rating = bench.station.connectors[0].rating
    sent = [p for _, p in calls(bench, "MeterValues")]
    values = [v for p in sent for mv in p.meter_value for v in mv.sampled_value]
    contexts = {str(v.context) for v in values}
    assert {"Sample.Periodic", "Sample.Clock"} <= contexts
    if model(model_id).supports(FeatureProfile.REMOTE_TRIGGER):
        assert "Trigger" in contexts
    phases = {str(v.phase) for v in values if v.phase is not None}
    assert phases == (set() if rating.dc else {"L1", "L2", "L3", "L1-N", "L2-N", "L3-N"} if rating.phases == 3
                      else {"L1", "L1-N"})
    assert ("SoC" in {str(v.measurand) for v in values}) == rating.dc
    assert any(p.transaction_id is None for p in sent) and any(p.transaction_id is not None for p in sent)
    stops = [p for _, p in calls(bench, "StopTransaction")]
    assert [len(p.transaction_data) for p in stops[:-1]] == [25] * (len(stops) - 1)
    assert 25 < len(stops[-1].transaction_data) < 1000
    stop_contexts = {str(v.context) for p in stops for entry in p.transaction_data for v in entry.sampled_value}
    assert stop_contexts == {"Transaction.Begin", "Sample.Periodic", "Sample.Clock", "Transaction.End"}
    statuses = {str(p.status) for _, p in calls(bench, "StatusNotification")}
    assert "SuspendedEV" in statuses
    if model(model_id).supports(FeatureProfile.SMART_CHARGING):
        assert "SuspendedEVSE" in statuses
