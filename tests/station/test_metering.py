"""Meter Values (OCPP 1.6 §4.7, §9.1 MeterValueSampleInterval,
MeterValuesSampledData, ClockAlignedDataInterval, MeterValuesAlignedData,
StopTxnAlignedData): when they are sent, what they carry, and that energy,
power, current and SoC tell one consistent story."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from core_steps import (
    AC_3PHASE,
    CORE_ONLY,
    DC_2CCS,
    MODEL_IDS,
    badge,
    booted,
    calls,
    configuration,
    configure,
    meter_values,
    model,
    number,
    sampled,
    start_charging,
    unplug,
)

from fleetsim.ocpp.enums import ReadingContext
from fleetsim.station.measurands import whole_text
from fleetsim.station.power import Ev

REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
DAY_S = 24 * 3600.0


def periodic(bench, connector_id=1):  # type: ignore[no-untyped-def]
    """(sent at, MeterValue) of the Sample.Periodic values of a connector."""
    return [(at, p.meter_value[0]) for at, p in meter_values(bench, connector_id=connector_id)
            if p.meter_value[0].sampled_value[0].context == ReadingContext.SAMPLE_PERIODIC]


def clock_aligned(bench, connector_id=1):  # type: ignore[no-untyped-def]
    return [(at, p) for at, p in meter_values(bench, connector_id=connector_id)
            if p.meter_value[0].sampled_value[0].context == ReadingContext.SAMPLE_CLOCK]


# ---------------------------------------------------------------- sampled data


def test_meter_values_every_sample_interval_during_a_transaction_only() -> None:
    bench = booted(AC_3PHASE)  # MeterValueSampleInterval 60
    bench.run_for(600)
    assert meter_values(bench) == [], "no transaction, no sampled data (ClockAlignedDataInterval 0)"
    start_charging(bench, 1)
    (_, start), = calls(bench, "StartTransaction")
    bench.run_for(1800)
    unplug(bench, 1)
    bench.run_for(600)

    samples = meter_values(bench)
    assert len(samples) == 30
    stamps = [p.meter_value[0].timestamp for _, p in samples]
    assert (stamps[0] - start.timestamp).total_seconds() == pytest.approx(60.0)
    assert [(b - a).total_seconds() for a, b in pairwise(stamps)] == pytest.approx([60.0] * 29)
    assert {(p.connector_id, p.transaction_id, len(p.meter_value)) for _, p in samples} == {(1, 1, 1)}


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_meter_values_carry_exactly_the_configured_measurands(model_id: str) -> None:
    bench = booted(model_id)
    configured = configuration(bench, "MeterValuesSampledData")["MeterValuesSampledData"].split(",")
    start_charging(bench, 1)
    bench.run_for(600)

    rating = bench.station.connectors[0].rating
    expected = [m for m in configured if rating.dc or m != "SoC"]  # AC (IEC 61851-1): no SoC from the EV
    for _, value in periodic(bench):
        reported = list(dict.fromkeys(str(v.measurand) for v in value.sampled_value))
        assert reported == expected
        assert {str(v.context) for v in value.sampled_value} == {ReadingContext.SAMPLE_PERIODIC}


def test_measurands_changed_during_a_transaction_apply_from_the_next_sample() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    bench.run_for(120)
    version = bench.station.config.version
    assert configure(bench, "MeterValuesSampledData", "Power.Active.Import,Energy.Active.Import.Register") \
        == "Accepted"
    assert bench.station.config.version == version + 1
    changed_at = bench.now_s
    assert configure(bench, "MeterValuesSampledData", "Unknown.Measurand") == "Rejected"
    assert bench.station.config.version == version + 1, "a rejected change changes nothing"
    bench.run_for(120)

    before = [value for at, value in periodic(bench) if at < changed_at]
    after = [value for at, value in periodic(bench) if at > changed_at]
    assert before and after
    assert all("Current.Import" in {str(v.measurand) for v in value.sampled_value} for value in before)
    for value in after:
        assert [str(v.measurand) for v in value.sampled_value] == ["Power.Active.Import", REGISTER]


def test_ac_three_phase_reports_current_and_voltage_per_phase() -> None:
    bench = booted(AC_3PHASE)
    measurands = "Energy.Active.Import.Register,Current.Import,Voltage"
    assert configure(bench, "MeterValuesSampledData", measurands) == "Accepted"
    start_charging(bench, 1)
    bench.run_for(120)

    _, value = periodic(bench)[-1]
    assert [(str(v.measurand), v.phase and str(v.phase), str(v.unit)) for v in value.sampled_value] == [
        (REGISTER, None, "Wh"),
        ("Current.Import", "L1", "A"), ("Current.Import", "L2", "A"), ("Current.Import", "L3", "A"),
        ("Voltage", "L1-N", "V"), ("Voltage", "L2-N", "V"), ("Voltage", "L3-N", "V"),
    ]


def test_dc_reports_the_ev_state_of_charge() -> None:
    bench = booted(DC_2CCS)
    start_charging(bench, 1, ev=Ev(battery_kwh=60.0, soc_start=0.25, max_dc_kw=100.0))
    bench.run_for(60)

    _, value = periodic(bench)[0]
    (soc,) = sampled(value.sampled_value, "SoC")
    assert (str(soc.unit), str(soc.location)) == ("Percent", "EV")
    # 100 kW for 60 s = 1.667 kWh = 2.8 % of 60 kWh
    assert float(soc.value) == pytest.approx(25 + 2.8, abs=0.6)
    (current,) = sampled(value.sampled_value, "Current.Import")
    assert current.phase is None


def test_sample_interval_zero_means_no_sampled_meter_values() -> None:
    bench = booted(AC_3PHASE)
    assert configure(bench, "MeterValueSampleInterval", "0") == "Accepted"
    start_charging(bench, 1)
    bench.run_for(3600)
    unplug(bench, 1)
    bench.run_for(5)

    assert meter_values(bench) == []
    (_, start), = calls(bench, "StartTransaction")
    (_, stop), = calls(bench, "StopTransaction")
    assert stop.meter_stop - start.meter_start > 10_000, "the meter keeps counting"


# ---------------------------------------------------------------- clock-aligned data


def test_a_day_of_clock_aligned_values_on_wall_clock_multiples_of_the_interval() -> None:
    # §9.1.7 ClockAlignedDataInterval: "the interval is relative to midnight":
    # bionever declares 30 s, so :00 and :30 of every minute.
    bench = booted(CORE_ONLY)
    bench.run_for(DAY_S)

    aligned = clock_aligned(bench)
    assert len(aligned) == pytest.approx(DAY_S / 30, abs=2)
    for _, payload in aligned:
        stamp = payload.meter_value[0].timestamp
        assert (stamp.second % 30, stamp.microsecond) == (0, 0), stamp
        assert payload.transaction_id is None, "no transaction"
        assert [str(v.measurand) for v in payload.meter_value[0].sampled_value] == [REGISTER]
    stamps = [p.meter_value[0].timestamp for _, p in aligned]
    assert len(set(stamps)) == len(stamps)


def test_changing_clock_aligned_data_interval_aligns_to_the_next_quarter_hour() -> None:
    bench = booted(AC_3PHASE)
    bench.run_until(7 * 60 + 13.0)  # 00:07:13
    assert configure(bench, "ClockAlignedDataInterval", "900") == "Accepted"
    bench.run_until(3600 + 60)

    for connector_id in (1, 2):
        stamps = [p.meter_value[0].timestamp.strftime("%H:%M:%S.%f") for _, p in clock_aligned(bench, connector_id)]
        assert stamps == ["00:15:00.000000", "00:30:00.000000", "00:45:00.000000", "01:00:00.000000"]


def test_clock_aligned_values_during_a_transaction_carry_its_id_and_the_aligned_measurands() -> None:
    bench = booted(AC_3PHASE)
    assert configure(bench, "MeterValuesAlignedData", "Energy.Active.Import.Register,Power.Active.Import") == "Accepted"
    assert configure(bench, "ClockAlignedDataInterval", "300") == "Accepted"
    start_charging(bench, 2)
    bench.run_for(1200)

    aligned = clock_aligned(bench, 2)
    assert len(aligned) == 4
    assert {p.transaction_id for _, p in aligned} == {1}
    for _, p in aligned:
        assert [str(v.measurand) for v in p.meter_value[0].sampled_value] == [REGISTER, POWER]
    assert {p.transaction_id for _, p in clock_aligned(bench, 1)} == {None}


def test_stop_txn_aligned_data_does_not_depend_on_meter_values_aligned_data() -> None:
    # §9.1.27 StopTxnAlignedData: "Clock-aligned periodic measurand(s) to be
    # included in the TransactionData element of StopTransaction.req"; an
    # empty MeterValuesAlignedData only turns off the MeterValues.req.
    bench = booted(AC_3PHASE)
    assert configure(bench, "MeterValuesAlignedData", "") == "Accepted"
    assert configure(bench, "StopTxnAlignedData", REGISTER) == "Accepted"
    assert configure(bench, "ClockAlignedDataInterval", "60") == "Accepted"
    start_charging(bench, 1)
    bench.run_for(600)
    badge(bench, 1)
    bench.run_for(5)

    assert clock_aligned(bench) == []
    (_, stop), = calls(bench, "StopTransaction")
    assert stop.transaction_data is not None
    contexts = {str(v.context) for entry in stop.transaction_data for v in entry.sampled_value}
    assert contexts == {ReadingContext.SAMPLE_CLOCK}


# ---------------------------------------------------------------- one consistent story


@pytest.mark.parametrize("model_id", [AC_3PHASE, DC_2CCS])
def test_energy_between_samples_is_the_power_reported_times_the_interval(model_id: str) -> None:
    bench = booted(model_id)
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import"
    assert configure(bench, "MeterValuesSampledData", measurands) == "Accepted"
    start_charging(bench, 1)
    bench.run_for(3 * 3600)

    values = [value for _, value in periodic(bench)]
    assert len(values) == 180
    rating = bench.station.connectors[0].rating
    for before, after in pairwise(values):
        dt_h = (after.timestamp - before.timestamp).total_seconds() / 3600
        delta_wh = number(after.sampled_value, REGISTER) - number(before.sampled_value, REGISTER)
        assert delta_wh >= 0, "the register only grows"
        assert delta_wh == pytest.approx(number(before.sampled_value, POWER) * dt_h, abs=1.0)
    for value in values:
        power_w = number(value.sampled_value, POWER)
        assert power_w <= rating.max_power_w
        currents = [float(v.value) for v in sampled(value.sampled_value, "Current.Import")]
        volts = 400.0 if rating.dc else 230.0 * rating.phases
        assert sum(currents) / len(currents) * volts == pytest.approx(power_w, abs=0.1 * volts)


def test_the_soc_rises_by_the_energy_over_the_battery() -> None:
    bench = booted(DC_2CCS)
    ev = Ev(battery_kwh=58.0, soc_start=0.2, max_dc_kw=100.0)
    start_charging(bench, 1, ev=ev)
    bench.run_for(2 * 3600)

    values = [value for _, value in periodic(bench)]
    (_, start), = calls(bench, "StartTransaction")
    for value in values:
        energy_kwh = (number(value.sampled_value, REGISTER) - start.meter_start) / 1000
        expected_soc = 100 * (ev.soc_start + energy_kwh / ev.battery_kwh)
        assert number(value.sampled_value, "SoC") == pytest.approx(min(100.0, expected_soc), abs=0.6)
    socs = [number(v.sampled_value, "SoC") for v in values]
    assert socs == sorted(socs)
    # DC taper (power.py): full power up to 80 %, then falling to nothing at 100 %.
    tapering = [number(v.sampled_value, POWER) for v in values if number(v.sampled_value, "SoC") > 85]
    assert tapering == sorted(tapering, reverse=True)
    assert max(number(v.sampled_value, POWER) for v in values) == 100_000


def test_an_ev_never_takes_more_energy_than_its_battery_holds() -> None:
    # 58 kWh from 20 % can take 46.4 kWh at most; with MeterValueSampleInterval
    # 900 s the station integrates 100 kW flat over each step and delivers 50 kWh.
    bench = booted(DC_2CCS)
    assert configure(bench, "MeterValueSampleInterval", "900") == "Accepted"
    ev = Ev(battery_kwh=58.0, soc_start=0.2, max_dc_kw=100.0)
    start_charging(bench, 1, ev=ev)
    bench.run_for(3 * 3600)
    unplug(bench, 1)
    bench.run_for(5)

    (_, start), = calls(bench, "StartTransaction")
    (_, stop), = calls(bench, "StopTransaction")
    assert stop.meter_stop - start.meter_start <= ev.battery_kwh * 1000 * (1 - ev.soc_start) * 1.01


def test_the_energy_interval_measurand_is_the_register_delta() -> None:
    bench = booted(DC_2CCS)
    assert configure(bench, "MeterValuesSampledData", "Energy.Active.Import.Register,Energy.Active.Import.Interval") \
        == "Accepted"
    start_charging(bench, 1)
    bench.run_for(1200)

    values = [value for _, value in periodic(bench)]
    for before, after in pairwise(values):
        delta = number(after.sampled_value, REGISTER) - number(before.sampled_value, REGISTER)
        assert number(after.sampled_value, "Energy.Active.Import.Interval") == pytest.approx(delta, abs=1)


def test_model_ratings_bound_the_power() -> None:
    assert model(AC_3PHASE).ratings[0].max_power_w == pytest.approx(22_080)
    bench = booted(AC_3PHASE)
    start_charging(bench, 1, ev=Ev(battery_kwh=80.0, soc_start=0.1, max_ac_kw=43.0))
    bench.run_for(600)

    assert {number(v.sampled_value, POWER) for _, v in periodic(bench)} == {22_080}


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.floats(min_value=0.0, max_value=1e16, allow_subnormal=True),
                 st.integers(min_value=0, max_value=10**9).map(lambda n: n + 0.5),
                 st.floats(allow_nan=True, allow_infinity=True)))
def test_a_whole_reading_reads_as_the_format_writes_it(reading: float) -> None:
    expected = "0" if reading == 0.0 else f"{reading:.0f}"  # (-0.0 reads "0")
    assert whole_text(reading) == expected
