"""Smart Charging (OCPP 1.6 §3.13, §5.7, §5.10, §5.16): the composite schedule
as a pure function, then a station whose power really follows the limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from feature_steps import (
    AC_1PHASE,
    AC_3PHASE,
    AC_EV,
    CORE_ONLY,
    DC_ALL,
    booted,
    calls,
    csms_call,
    meter_values,
    number,
    plug_in,
    refused_with,
    start_charging,
    status_of,
    unplug,
)
from harness import Bench

from fleetsim.ocpp.datatypes import ChargingProfile, ChargingSchedule, ChargingSchedulePeriod
from fleetsim.ocpp.enums import ChargingProfileKindType as Kind
from fleetsim.ocpp.enums import ChargingProfilePurposeType as Purpose
from fleetsim.ocpp.enums import ChargingRateUnitType as Unit
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.payloads.core import RemoteStartTransactionReq
from fleetsim.ocpp.payloads.smart_charging import (
    ClearChargingProfileReq,
    GetCompositeScheduleReq,
    SetChargingProfileReq,
)
from fleetsim.station.features import composite, smart_charging
from fleetsim.station.features.composite import Context, Placed

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0


def schedule(*periods: tuple[int, float], unit: Unit = Unit.A, duration: int | None = None,
             start: datetime | None = None) -> ChargingSchedule:
    return ChargingSchedule(
        duration=duration, start_schedule=start, charging_rate_unit=unit,
        charging_schedule_period=[ChargingSchedulePeriod(start_period=s, limit=limit) for s, limit in periods],
    )


def charging_profile(purpose: Purpose, *periods: tuple[int, float], profile_id: int = 1, stack: int = 0,
                     kind: Kind = Kind.RELATIVE, unit: Unit = Unit.A, duration: int | None = None,
                     start: datetime | None = None, recurrency: str | None = None, transaction_id: int | None = None,
                     valid_from: datetime | None = None, valid_to: datetime | None = None) -> ChargingProfile:
    return ChargingProfile(
        charging_profile_id=profile_id, transaction_id=transaction_id, stack_level=stack,
        charging_profile_purpose=purpose, charging_profile_kind=kind, recurrency_kind=recurrency,
        valid_from=valid_from, valid_to=valid_to,
        charging_schedule=schedule(*periods, unit=unit, duration=duration, start=start),
    )


def placed(connector_id: int, profile: ChargingProfile) -> Placed:
    start = profile.charging_schedule.start_schedule
    return Placed(connector_id, profile, start.timestamp() if start else T0)


def at(offset_s: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset_s, UTC)


def same_unit(limit: float, unit: Unit, phases: int | None) -> float:
    return limit


def steps(profiles: list[Placed], context: Context, start_offset_s: float, duration_s: float
          ) -> list[tuple[float, float | None]]:
    """The composite as (seconds from the window's start, limit)."""
    start = T0 + start_offset_s
    periods = composite.composite(profiles, context, start, duration_s, same_unit)
    assert periods is not None
    return [(p.start_s - start, p.limit) for p in periods]


IN_TRANSACTION = Context(1, T0, True, 7)
IDLE = Context(1, T0)

# ---------------------------------------------------------------- the composite schedule (pure)


def test_the_highest_stack_level_in_force_prevails_and_a_finished_one_gives_way() -> None:
    # §3.13.3: when a schedule's duration elapses, the next lower stack level takes effect.
    profiles = [
        placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 32.0), profile_id=1, stack=0)),
        placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 10.0), (600, 12.0), profile_id=2, stack=1,
                                   duration=3600)),
    ]
    assert steps(profiles, IN_TRANSACTION, 0, 2 * HOUR) == [(0, 10.0), (600, 12.0), (3600, 32.0)]


def test_a_tx_profile_overrules_the_default_only_during_a_transaction() -> None:
    profiles = [
        placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 20.0), profile_id=1, stack=5)),
        placed(1, charging_profile(Purpose.TX_PROFILE, (0, 6.0), profile_id=2, stack=0)),
    ]
    assert steps(profiles, IN_TRANSACTION, 0, HOUR) == [(0, 6.0)]
    assert steps(profiles, IDLE, 0, HOUR) == [(0, 20.0)]


def test_a_tx_profile_for_another_transaction_does_not_apply() -> None:
    profiles = [placed(1, charging_profile(Purpose.TX_PROFILE, (0, 6.0), transaction_id=8))]
    assert steps(profiles, IN_TRANSACTION, 0, HOUR) == [(0, None)]
    assert steps(profiles, Context(1, T0, True, 8), 0, HOUR) == [(0, 6.0)]


def test_a_default_on_the_connector_overrules_the_one_for_all_connectors() -> None:
    profiles = [
        placed(0, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 20.0), profile_id=1, stack=3)),
        placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 10.0), profile_id=2, stack=0)),
    ]
    assert steps(profiles, IN_TRANSACTION, 0, HOUR) == [(0, 10.0)]
    assert steps(profiles, Context(2, T0, True, 9), 0, HOUR) == [(0, 20.0)]


def test_the_charge_point_max_profile_caps_the_transaction_limit() -> None:
    # §3.13.4: the composite is the lower of the two.
    profiles = [
        placed(1, charging_profile(Purpose.TX_PROFILE, (0, 32.0), (2400, 8.0))),
        placed(0, charging_profile(Purpose.CHARGE_POINT_MAX_PROFILE, (0, 16.0), (1800, 40.0), profile_id=2,
                                   kind=Kind.ABSOLUTE, start=at(0))),
    ]
    assert steps(profiles, IN_TRANSACTION, 0, HOUR) == [(0, 16.0), (1800, 32.0), (2400, 8.0)]
    # connector 0: the Charge Point as a whole, the ChargePointMaxProfile alone
    assert steps(profiles, Context(0, T0), 0, HOUR) == [(0, 16.0), (1800, 40.0)]


def test_a_daily_recurring_profile_repeats_from_its_start_schedule() -> None:
    # 18:00 to 22:00 at 10 A, then 32 A until 18:00 the next day.
    evening = datetime(2025, 12, 31, 18, tzinfo=UTC)
    profiles = [placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 10.0), (4 * 3600, 32.0),
                                           kind=Kind.RECURRING, recurrency="Daily", start=evening))]
    assert steps(profiles, IDLE, 20 * HOUR, 6 * HOUR) == [(0, 10.0), (2 * HOUR, 32.0)]  # 1 Jan 20:00 - 2:00
    assert steps(profiles, IDLE, 41 * HOUR, 2 * HOUR) == [(0, 32.0), (HOUR, 10.0)]  # 2 Jan 17:00 - 19:00


def test_a_weekly_recurring_profile_with_a_duration_is_off_between_occurrences() -> None:
    monday = datetime(2025, 12, 29, tzinfo=UTC)  # a Monday
    profiles = [placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 5.0), kind=Kind.RECURRING,
                                           recurrency="Weekly", start=monday, duration=2 * 86400))]
    next_monday = (datetime(2026, 1, 5, tzinfo=UTC).timestamp() - T0) / HOUR
    assert steps(profiles, IDLE, (next_monday - 1) * HOUR, 50 * HOUR) == [(0, None), (HOUR, 5.0), (49 * HOUR, None)]


def test_a_relative_profile_counts_from_the_start_of_the_transaction() -> None:
    profiles = [placed(1, charging_profile(Purpose.TX_PROFILE, (0, 10.0), (600, 20.0)))]
    started_earlier = Context(1, T0 - 300, True, 7)
    assert steps(profiles, started_earlier, 0, 1200) == [(0, 10.0), (300, 20.0)]


def test_valid_from_and_valid_to_bound_a_profile() -> None:
    profiles = [
        placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0), profile_id=1, stack=0)),
        placed(1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 6.0), profile_id=2, stack=1,
                                   valid_from=at(600), valid_to=at(1200))),
    ]
    assert steps(profiles, IN_TRANSACTION, 0, HOUR) == [(0, 16.0), (600, 6.0), (1200, 16.0)]


def test_limits_in_other_units_are_converted_or_the_composite_is_impossible() -> None:
    profiles = [
        placed(1, charging_profile(Purpose.TX_PROFILE, (0, 6900.0), unit=Unit.W)),
        placed(0, charging_profile(Purpose.CHARGE_POINT_MAX_PROFILE, (0, 16.0), profile_id=2, kind=Kind.ABSOLUTE,
                                   start=at(0))),
    ]

    def watts_to_amps(limit: float, unit: Unit, phases: int | None) -> float:
        return limit / (3 * 230) if unit == Unit.W else limit

    periods = composite.composite(profiles, IN_TRANSACTION, T0, HOUR, watts_to_amps)
    assert [(p.start_s - T0, p.limit) for p in periods] == [(0, 10.0)]
    assert composite.composite(profiles, IN_TRANSACTION, T0, HOUR, lambda *_: None) is None


def test_the_next_change_is_where_the_limit_changes() -> None:
    profiles = [placed(1, charging_profile(Purpose.TX_PROFILE, (0, 10.0), (300, 10.0), (900, 0.0)))]
    assert composite.next_change(profiles, IN_TRANSACTION, T0, HOUR, same_unit) == T0 + 900
    assert composite.next_change(profiles, IN_TRANSACTION, T0 + 900, HOUR, same_unit) is None


# ---------------------------------------------------------------- a station under SetChargingProfile


def set_profile(bench: Bench, connector_id: int, profile: ChargingProfile) -> str:
    return status_of(csms_call(bench, SetChargingProfileReq(connector_id=connector_id, cs_charging_profiles=profile)))


def transaction_id(bench: Bench, connector_id: int = 1) -> int:
    transaction = bench.station.connectors[connector_id - 1].transaction
    assert transaction is not None and transaction.transaction_id is not None
    return transaction.transaction_id


def samples(bench: Bench, connector_id: int, since_s: float) -> list[tuple[float, float, float]]:
    """(time, energy register Wh, power W) of each periodic MeterValues."""
    found = []
    for sent_at, request in meter_values(bench, connector_id, since_s):
        values = request.meter_value[0].sampled_value
        found.append((sent_at, number(values, "Energy.Active.Import.Register"), number(values, "Power.Active.Import")))
    return found


def test_a_tx_profile_caps_the_power_and_the_energy_metered() -> None:
    bench = booted(AC_3PHASE)  # 3 x 32 A; the EV takes 11 kW
    start_charging(bench, 1)
    bench.run_for(120)
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)

    assert set_profile(bench, 1, charging_profile(Purpose.TX_PROFILE, (0, 10.0))) == "Accepted"
    since = bench.now_s
    bench.run_for(600)

    limited_w = 10 * 3 * 230  # §7.13: A per phase
    assert bench.station.connectors[0].power_w == pytest.approx(limited_w)
    reported = samples(bench, 1, since)
    assert len(reported) >= 9
    assert {power for _, _, power in reported} == {limited_w}
    for (t1, e1, _), (t2, e2, _) in itertools.pairwise(reported):
        assert e2 - e1 == pytest.approx(limited_w * (t2 - t1) / 3600, abs=1.0)
    assert bench.station.connectors[0].status == "Charging"


def test_the_power_follows_the_schedule_at_its_period_boundaries() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    started = bench.station.connectors[0].transaction.started_s  # type: ignore[union-attr]
    profile = charging_profile(Purpose.TX_PROFILE, (0, 10.0), (600, 0.0), (900, 16.0))
    assert set_profile(bench, 1, profile) == "Accepted"
    bench.run_for(1200)

    statuses = [(at, str(p.status)) for at, p in calls(bench, "StatusNotification") if p.connector_id == 1]
    suspended_at = next(at for at, status in statuses if status == "SuspendedEVSE")
    resumed_at = next(at for at, status in statuses if status == "Charging" and at > suspended_at)
    assert suspended_at == pytest.approx(started + 600, abs=0.01)
    assert resumed_at == pytest.approx(started + 900, abs=0.01)
    flat = [e for at, e, _ in samples(bench, 1, 0) if started + 601 < at < started + 899]
    assert len(flat) >= 4 and len(set(flat)) == 1, "no energy while the limit is 0"
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)  # 16 A x 3 x 230 V > 11 kW


def test_a_tx_profile_needs_a_transaction_and_ends_with_it() -> None:
    bench = booted(AC_3PHASE)
    profile = charging_profile(Purpose.TX_PROFILE, (0, 6.0))
    assert set_profile(bench, 1, profile) == "Rejected"  # §3.13.2: no transaction
    start_charging(bench, 1)
    assert set_profile(bench, 1, charging_profile(Purpose.TX_PROFILE, (0, 6.0), transaction_id=999)) == "Rejected"
    assert set_profile(bench, 1, profile) == "Accepted"
    assert bench.station.connectors[0].power_w == pytest.approx(6 * 3 * 230)

    unplug(bench, 1)
    assert smart_charging.installed(bench.station) == []
    start_charging(bench, 1, id_tag="TAG-2")
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)


def test_a_default_profile_for_all_connectors_limits_every_new_transaction() -> None:
    bench = booted(AC_3PHASE)
    assert set_profile(bench, 0, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 6.0))) == "Accepted"
    start_charging(bench, 2)
    assert bench.station.connectors[1].power_w == pytest.approx(6 * 3 * 230)
    start_charging(bench, 1, id_tag="TAG-2")
    assert bench.station.connectors[0].power_w == pytest.approx(6 * 3 * 230)


def test_the_charge_point_max_profile_is_shared_by_the_connectors_delivering() -> None:
    bench = booted(AC_3PHASE)
    cap = charging_profile(Purpose.CHARGE_POINT_MAX_PROFILE, (0, 16.0), kind=Kind.ABSOLUTE,
                           start=bench.timebase.wall(0))
    assert set_profile(bench, 0, cap) == "Accepted"
    start_charging(bench, 1)
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)  # 16 A x 3 x 230 V = 11 040 W
    start_charging(bench, 2, id_tag="TAG-2")
    both = [c.power_w for c in bench.station.connectors]
    assert both == pytest.approx([11_040 / 2, 11_040 / 2])
    unplug(bench, 2)
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)


@pytest.mark.parametrize(
    ("model_id", "connector_id", "profile", "why"),
    [
        (AC_3PHASE, 1, charging_profile(Purpose.CHARGE_POINT_MAX_PROFILE, (0, 16.0)), "ChargePointMax on a connector"),
        (AC_3PHASE, 0, charging_profile(Purpose.TX_PROFILE, (0, 16.0)), "TxProfile on connector 0"),
        (AC_3PHASE, 3, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0)), "no such connector"),
        (AC_3PHASE, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0), stack=11),
         "ChargeProfileMaxStackLevel 10"),
        (DC_ALL, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0), stack=6), "ChargeProfileMaxStackLevel 5"),
        (AC_3PHASE, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, *[(i * 60, 16.0) for i in range(6)]),
         "ChargingScheduleMaxPeriods 5"),
        (DC_ALL, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 20000.0), unit=Unit.W), "certified A only"),
        (AC_3PHASE, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (60, 16.0), (0, 8.0)), "periods out of order"),
        (AC_3PHASE, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0), kind=Kind.RECURRING), "no recurrency"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_profiles_the_station_rejects(model_id: str, connector_id: int, profile: ChargingProfile, why: str) -> None:
    bench = booted(model_id)
    assert set_profile(bench, connector_id, profile) == "Rejected", why
    assert smart_charging.installed(bench.station) == []


def test_the_limits_of_the_certificate_accept_what_they_allow() -> None:
    bench = booted(DC_ALL)  # SC-1.1 current only, stack levels 0-5, 24 periods
    profile = charging_profile(Purpose.TX_DEFAULT_PROFILE, *[(i * 60, 50.0) for i in range(24)], stack=5)
    assert set_profile(bench, 1, profile) == "Accepted"
    bench = booted(AC_3PHASE)  # SC-1.1 and SC-1.2
    assert set_profile(bench, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 7000.0), unit=Unit.W)) == "Accepted"


def test_a_profile_with_the_same_id_or_stack_level_and_purpose_is_replaced() -> None:
    bench = booted(AC_3PHASE)
    assert set_profile(bench, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 10.0), profile_id=1)) == "Accepted"
    assert set_profile(bench, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 12.0), profile_id=2)) == "Accepted"
    assert [p.profile.charging_profile_id for p in smart_charging.installed(bench.station)] == [2]
    assert set_profile(bench, 0, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 14.0), profile_id=2, stack=3)) \
        == "Accepted"
    assert [(p.connector_id, p.profile.stack_level) for p in smart_charging.installed(bench.station)] == [(0, 3)]


def test_no_more_profiles_than_max_charging_profiles_installed() -> None:
    bench = booted(AC_3PHASE)  # ORS-19: 20
    for n in range(20):
        connector_id, stack = divmod(n, 10)
        profile = charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0), profile_id=n + 1, stack=stack)
        assert set_profile(bench, connector_id, profile) == "Accepted"
    one_more = charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 16.0), profile_id=99, stack=0)
    assert set_profile(bench, 2, one_more) == "Rejected"
    replacing = charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 8.0), profile_id=20, stack=9)
    assert set_profile(bench, 1, replacing) == "Accepted"
    assert len(smart_charging.installed(bench.station)) == 20


def test_clear_charging_profile_by_id_or_by_criteria() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    set_profile(bench, 1, charging_profile(Purpose.TX_PROFILE, (0, 6.0), profile_id=1))
    set_profile(bench, 0, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 8.0), profile_id=2, stack=2))
    set_profile(bench, 0, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 9.0), profile_id=3, stack=4))
    assert bench.station.connectors[0].power_w == pytest.approx(6 * 690)

    assert status_of(csms_call(bench, ClearChargingProfileReq(id=42))) == "Unknown"
    assert status_of(csms_call(bench, ClearChargingProfileReq(id=1))) == "Accepted"
    assert bench.station.connectors[0].power_w == pytest.approx(9 * 690), "back to the default, stack level 4"
    criteria = ClearChargingProfileReq(connector_id=0, charging_profile_purpose="TxDefaultProfile", stack_level=4)
    assert status_of(csms_call(bench, criteria)) == "Accepted"
    assert [p.profile.charging_profile_id for p in smart_charging.installed(bench.station)] == [2]
    assert status_of(csms_call(bench, ClearChargingProfileReq())) == "Accepted"
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)
    assert status_of(csms_call(bench, ClearChargingProfileReq())) == "Unknown"


def composite_of(bench: Bench, request: GetCompositeScheduleReq) -> list[tuple[int, float]] | str:
    answer = csms_call(bench, request)
    if status_of(answer) != "Accepted":
        return status_of(answer)
    assert answer.connector_id == request.connector_id  # type: ignore[union-attr]
    schedule = answer.charging_schedule  # type: ignore[union-attr]
    assert schedule.duration == request.duration
    return [(p.start_period, p.limit) for p in schedule.charging_schedule_period]


def test_get_composite_schedule_in_the_unit_asked_for() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    set_profile(bench, 1, charging_profile(Purpose.TX_PROFILE, (0, 10.0), (1200, 20.0)))
    bench.run_for(195)
    started = bench.station.connectors[0].transaction.started_s  # type: ignore[union-attr]
    arrives = bench.now_s + bench.latency_s
    first, second = composite_of(bench, GetCompositeScheduleReq(connector_id=1, duration=1800))
    assert first == (0, 10.0)
    assert second[0] == pytest.approx(started + 1200 - arrives, abs=1) and second[1] == 20.0
    in_watts = GetCompositeScheduleReq(connector_id=1, duration=600, charging_rate_unit="W")
    assert composite_of(bench, in_watts) == [(0, 6900.0)]
    # nothing set on connector 2: its hardware limit, 32 A
    assert composite_of(bench, GetCompositeScheduleReq(connector_id=2, duration=60)) == [(0, 32.0)]
    assert composite_of(bench, GetCompositeScheduleReq(connector_id=3, duration=60)) == "Rejected"


def test_get_composite_schedule_cannot_convert_on_dc() -> None:
    bench = booted(DC_ALL)
    set_profile(bench, 1, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 50.0)))
    assert composite_of(bench, GetCompositeScheduleReq(connector_id=1, duration=60, charging_rate_unit="A")) \
        == [(0, 50.0)]
    assert composite_of(bench, GetCompositeScheduleReq(connector_id=1, duration=60, charging_rate_unit="W")) \
        == "Rejected"


def test_a_remote_start_with_a_tx_profile_limits_the_transaction_it_starts() -> None:
    bench = booted(AC_3PHASE)
    plug_in(bench, 1, AC_EV)
    request = RemoteStartTransactionReq(connector_id=1, id_tag="TAG-R",
                                        charging_profile=charging_profile(Purpose.TX_PROFILE, (0, 8.0)))
    assert status_of(csms_call(bench, request, wait_s=10)) == "Accepted"
    assert bench.station.connectors[0].transaction is not None
    assert bench.station.connectors[0].power_w == pytest.approx(8 * 690)
    assert [p.connector_id for p in smart_charging.installed(bench.station)] == [1]


@pytest.mark.parametrize(
    ("model_id", "profile"),
    [
        (AC_3PHASE, charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 8.0))),  # §5.11: must be a TxProfile
        (AC_3PHASE, charging_profile(Purpose.TX_PROFILE, (0, 8.0), transaction_id=5)),  # no transactionId yet
    ],
)
def test_a_remote_start_with_a_profile_it_cannot_use_is_rejected(model_id: str, profile: ChargingProfile) -> None:
    bench = booted(model_id)
    plug_in(bench, 1)
    request = RemoteStartTransactionReq(connector_id=1, id_tag="TAG-R", charging_profile=profile)
    assert status_of(csms_call(bench, request, wait_s=10)) == "Rejected"
    assert bench.station.connectors[0].transaction is None


@pytest.mark.parametrize(
    "request_",
    [
        SetChargingProfileReq(connector_id=1,
                              cs_charging_profiles=charging_profile(Purpose.TX_DEFAULT_PROFILE, (0, 6.0))),
        ClearChargingProfileReq(),
        GetCompositeScheduleReq(connector_id=1, duration=60),
    ],
    ids=lambda r: type(r).__name__,
)
@pytest.mark.parametrize("model_id", [CORE_ONLY, AC_1PHASE])
def test_a_model_without_smart_charging_answers_not_supported(model_id: str, request_: object) -> None:
    bench = booted(model_id)
    assert refused_with(bench, request_) == ErrorCode.NOT_SUPPORTED  # type: ignore[arg-type]


def test_a_recurring_schedule_wakes_the_station_up_at_its_boundaries() -> None:
    bench = booted(AC_3PHASE, settle_s=10)
    start_charging(bench, 1, ev=AC_EV)
    now = bench.timebase.wall(bench.now_s)
    half_past = now.replace(minute=30, second=0, microsecond=0)  # 00:30, 20 minutes from now
    profile = charging_profile(Purpose.TX_PROFILE, (0, 6.0), (3600, 12.0), kind=Kind.RECURRING,
                               recurrency="Daily", start=half_past)
    assert set_profile(bench, 1, profile) == "Accepted"
    assert bench.station.connectors[0].power_w == pytest.approx(11_000), "before 00:30 nothing is in force"
    bench.run_until(bench.timebase.engine_s(half_past) + 0.01)
    assert bench.station.connectors[0].power_w == pytest.approx(6 * 690)
    bench.run_until(bench.timebase.engine_s(half_past + timedelta(hours=1)) + 0.01)
    assert bench.station.connectors[0].power_w == pytest.approx(12 * 690)


def test_the_limit_lifts_at_the_end_of_validity() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    ends = bench.timebase.wall(bench.now_s + 300)
    assert set_profile(bench, 1, charging_profile(Purpose.TX_PROFILE, (0, 6.0), valid_to=ends)) == "Accepted"
    bench.run_until(bench.timebase.engine_s(ends) - 0.01)
    assert bench.station.connectors[0].power_w == pytest.approx(6 * 690)
    bench.run_for(0.02)
    assert bench.station.connectors[0].power_w == pytest.approx(11_000)
    assert len(bench.station._timers) < 10, "no wake-ups pile up"
