"""Smart Charging (OCPP 1.6 §3.13; §5.7 ClearChargingProfile, §5.10
GetCompositeSchedule, §5.16 SetChargingProfile; keys §9.4).

The profiles a station holds are kept per station in ``station.features``;
the limit they put in force (see :mod:`.composite`) is what really caps the
power: it is written to ``connector.limit_w`` whenever it changes, at every
schedule boundary included (the station wakes itself up there).

The ChargePointMaxProfile limits the Charge Point as a whole (§3.13.2), so the
physical cap shares it equally among the connectors delivering energy; the
composite schedule GetCompositeSchedule reports is the per-connector one of
§3.13.4 (the transaction's limit capped by the ChargePointMaxProfile).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.ocpp.datatypes import ChargingProfile, ChargingSchedule, ChargingSchedulePeriod
from fleetsim.ocpp.enums import (
    ChargingProfileKindType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
)
from fleetsim.ocpp.payloads.smart_charging import (
    ClearChargingProfileConf,
    ClearChargingProfileReq,
    GetCompositeScheduleConf,
    GetCompositeScheduleReq,
    SetChargingProfileConf,
    SetChargingProfileReq,
)
from fleetsim.station.features import composite
from fleetsim.station.features.composite import Context, Converter, Placed, Purpose
from fleetsim.station.power import NOMINAL_VOLTAGE_V, ConnectorRating, limit_to_watts

if TYPE_CHECKING:
    from fleetsim.station.connector import Connector
    from fleetsim.station.ports import SmartChargingPort
    from fleetsim.station.replies import Reply

KEY = "smart_charging"
INF = math.inf
HORIZON_S = 8 * 86_400.0  # how far ahead to look for the next change: a week's recurrence and a day
EPSILON_S = 1e-3  # evaluate just after a boundary, so float rounding never lands before it
PENDING_MARGIN_S = 120.0  # engine seconds a RemoteStart profile waits beyond ConnectionTimeOut
UNITS = {"Current": ChargingRateUnitType.A, "Power": ChargingRateUnitType.W}  # §9.4.2


class Pending(msgspec.Struct):
    """A TxProfile that came with a RemoteStartTransaction (§5.11): installed
    when the transaction starts, forgotten if none starts in time."""

    profile: ChargingProfile
    expires_s: float


class SmartCharging(msgspec.Struct):
    placed: list[Placed] = msgspec.field(default_factory=list)
    pending: dict[int, Pending] = msgspec.field(default_factory=dict)
    wake_s: float = INF  # the earliest schedule boundary a wake-up is set for


def _state(station: SmartChargingPort) -> SmartCharging:
    state = station.features.get(KEY)
    if state is None:
        state = station.features[KEY] = SmartCharging()
    return state


def _wall_s(station: SmartChargingPort, now_s: float) -> float:
    return station.wall(now_s).timestamp()


# ------------------------------------------------------------------ validation


def _allowed_units(station: SmartChargingPort) -> list[ChargingRateUnitType]:
    """§9.4.2 ChargingScheduleAllowedChargingRateUnit: what the model certified (SC-1.1 A, SC-1.2 W)."""
    names = station.config.get_list("ChargingScheduleAllowedChargingRateUnit")
    return [UNITS[name] for name in names if name in UNITS]


def _schedule_rejection(station: SmartChargingPort, profile: ChargingProfile) -> str | None:
    """What makes a profile unacceptable whatever its connector, or None."""
    config = station.config
    if not 0 <= profile.stack_level <= config.get_int("ChargeProfileMaxStackLevel", profile.stack_level):
        return "stack_level"  # §9.4.1 ChargeProfileMaxStackLevel
    schedule = profile.charging_schedule
    allowed = _allowed_units(station)
    if allowed and schedule.charging_rate_unit not in allowed:
        return "rate_unit"
    periods = schedule.charging_schedule_period
    if not periods or len(periods) > config.get_int("ChargingScheduleMaxPeriods", len(periods)):
        return "periods"  # §7.13: 1..*, at most ChargingScheduleMaxPeriods (§9.4.3)
    starts = [period.start_period for period in periods]
    if starts[0] < 0 or any(b <= a for a, b in itertools.pairwise(starts)):
        return "period_order"  # §7.14: each startPeriod ends the previous period
    if any(p.limit < 0 or (p.number_phases is not None and not 1 <= p.number_phases <= 3) for p in periods):
        return "period_values"
    if profile.charging_profile_kind == ChargingProfileKindType.RECURRING and (
        profile.recurrency_kind is None or schedule.start_schedule is None
    ):
        return "recurrence"  # §7.8/§7.13: a Recurring profile repeats its startSchedule daily or weekly
    return None


def _rejection(station: SmartChargingPort, connector_id: int, profile: ChargingProfile) -> str | None:
    """§5.16 and §3.13.2: why SetChargingProfile.req is Rejected, or None."""
    purpose = profile.charging_profile_purpose
    if connector_id != 0 and station.connector(connector_id) is None:
        return "connector"
    if purpose == Purpose.CHARGE_POINT_MAX_PROFILE and connector_id != 0:
        return "purpose_connector"  # ChargePointMaxProfile only on connector 0
    if purpose == Purpose.TX_PROFILE and connector_id == 0:
        return "purpose_connector"  # §5.16: a TxProfile only on a connector (> 0)
    if purpose != Purpose.TX_PROFILE and profile.transaction_id is not None:
        return "transaction_id"  # §7.8: transactionId only for a TxProfile
    if purpose == Purpose.TX_PROFILE:
        connector = station.connector(connector_id)
        transaction = connector.transaction if connector is not None else None
        if transaction is None or transaction.stopping:
            return "no_transaction"  # §3.13.2: a TxProfile without a transaction is discarded
        if profile.transaction_id is not None and profile.transaction_id != transaction.transaction_id:
            return "transaction_id"
    return _schedule_rejection(station, profile)


def _install(station: SmartChargingPort, state: SmartCharging, connector_id: int, profile: ChargingProfile,
             now_s: float) -> bool:
    """§5.16: a profile with the same id, or the same stackLevel and purpose
    on the connector, is replaced; past MaxChargingProfilesInstalled, refused."""
    now_wall = _wall_s(station, now_s)
    kept = [
        placed for placed in state.placed
        if placed.profile.charging_profile_id != profile.charging_profile_id
        and not (placed.connector_id == connector_id and placed.profile.stack_level == profile.stack_level
                 and placed.profile.charging_profile_purpose == profile.charging_profile_purpose)
        and (placed.profile.valid_to is None or placed.profile.valid_to.timestamp() > now_wall)  # expired: gone
    ]
    if len(kept) >= station.config.get_int("MaxChargingProfilesInstalled", len(kept) + 1):  # §9.4.4
        return False
    start = profile.charging_schedule.start_schedule
    kept.append(Placed(connector_id, profile, start.timestamp() if start is not None else now_wall))
    state.placed = kept
    return True


# ------------------------------------------------------------------ CSMS calls


def set_charging_profile(station: SmartChargingPort, request: SetChargingProfileReq, now_s: float) -> Reply:
    profile = request.cs_charging_profiles
    reason = _rejection(station, request.connector_id, profile)
    state = _state(station)
    if reason is None and not _install(station, state, request.connector_id, profile, now_s):
        reason = "max_installed"
    if reason is not None:
        station.stats.count(f"smart_charging.rejected.{reason}")
        return SetChargingProfileConf(status=ChargingProfileStatus.REJECTED)
    refresh(station, now_s)
    return SetChargingProfileConf(status=ChargingProfileStatus.ACCEPTED)


def _cleared_by(request: ClearChargingProfileReq) -> Callable[[Placed], bool]:
    """§5.7/§6.13: a chargingProfileId names one profile; otherwise each field
    given narrows the selection, and none clears everything."""
    if request.id is not None:
        return lambda placed: placed.profile.charging_profile_id == request.id
    return lambda placed: (
        (request.connector_id is None or placed.connector_id == request.connector_id)
        and (request.charging_profile_purpose is None
             or placed.profile.charging_profile_purpose == request.charging_profile_purpose)
        and (request.stack_level is None or placed.profile.stack_level == request.stack_level)
    )


def clear_charging_profile(station: SmartChargingPort, request: ClearChargingProfileReq, now_s: float) -> Reply:
    state = station.features.get(KEY)
    cleared = _cleared_by(request)
    kept = [placed for placed in state.placed if not cleared(placed)] if state is not None else []
    if state is None or len(kept) == len(state.placed):
        return ClearChargingProfileConf(status=ClearChargingProfileStatus.UNKNOWN)
    state.placed = kept
    refresh(station, now_s)
    return ClearChargingProfileConf(status=ClearChargingProfileStatus.ACCEPTED)


def get_composite_schedule(station: SmartChargingPort, request: GetCompositeScheduleReq, now_s: float) -> Reply:
    """§5.10: the schedule in force from now for ``duration`` seconds, in the
    unit asked for (A <-> W at 230 V per phase on AC; impossible on DC)."""
    rejected = GetCompositeScheduleConf(status=GetCompositeScheduleStatus.REJECTED)
    connector = station.connector(request.connector_id)
    if (connector is None and request.connector_id != 0) or request.duration < 0:
        return rejected
    state = station.features.get(KEY)
    placed = state.placed if state is not None else []
    now_wall = _wall_s(station, now_s)
    context = _context(connector, request.connector_id, now_wall)
    rating = connector.rating if connector is not None else _station_rating(station)
    unit = request.charging_rate_unit or _natural_unit(station, placed, context, now_wall)
    periods = composite.composite(placed, context, now_wall, request.duration, _converter(unit, rating))
    if periods is None:
        return rejected
    hardware = rating.max_current_a if unit == ChargingRateUnitType.A else rating.max_power_w
    schedule_periods: list[ChargingSchedulePeriod] = []
    for period in periods:
        start = round(period.start_s - now_wall)
        limit = _rounded(hardware if period.limit is None else min(period.limit, hardware), unit)
        if schedule_periods and schedule_periods[-1].start_period == start:
            schedule_periods.pop()  # two changes within one second: the later one holds
        schedule_periods.append(ChargingSchedulePeriod(start_period=start, limit=limit,
                                                       number_phases=period.number_phases))
    start_at = station.wall(now_s)
    schedule = ChargingSchedule(duration=request.duration, start_schedule=start_at, charging_rate_unit=unit,
                                charging_schedule_period=schedule_periods)
    return GetCompositeScheduleConf(status=GetCompositeScheduleStatus.ACCEPTED, connector_id=request.connector_id,
                                    schedule_start=start_at, charging_schedule=schedule)


def _rounded(limit: float, unit: ChargingRateUnitType) -> float:
    # The schema's resolution is 0.1 (multipleOf); watts are reported whole.
    return float(round(limit)) if unit == ChargingRateUnitType.W else round(limit, 1)


def _station_rating(station: SmartChargingPort) -> ConnectorRating:
    """The Charge Point as a whole, for connector 0: all connectors together."""
    ratings = [connector.rating for connector in station.connectors]
    return ConnectorRating(
        dc=any(r.dc for r in ratings), phases=max(r.phases for r in ratings),
        max_current_a=max(r.max_current_a for r in ratings), max_power_kw=sum(r.max_power_w for r in ratings) / 1000,
    )


def _natural_unit(station: SmartChargingPort, placed: list[Placed], context: Context,
                  now_wall: float) -> ChargingRateUnitType:
    """Without a unit asked for: the unit of the limit in force, else the
    first the model supports."""
    limits = composite.limits_at(placed, context, now_wall)
    for limit in (limits.transaction, limits.charge_point_max):
        if limit is not None:
            return limit.unit
    allowed = _allowed_units(station)
    return allowed[0] if allowed else ChargingRateUnitType.A


def _converter(unit: ChargingRateUnitType, rating: ConnectorRating) -> Converter:
    def convert(limit: float, from_unit: ChargingRateUnitType, phases: int | None) -> float | None:
        if from_unit == unit:
            return limit
        if rating.dc:
            return None  # a DC voltage varies with the battery: no fixed A <-> W factor
        volt_amps = (phases or rating.phases) * NOMINAL_VOLTAGE_V
        return limit * volt_amps if unit == ChargingRateUnitType.W else limit / volt_amps

    return convert


def _to_watts(rating: ConnectorRating) -> Converter:
    return lambda limit, unit, phases: limit_to_watts(limit, unit == ChargingRateUnitType.A, rating, phases)


# ------------------------------------------------------------------ the limit in force


def _context(connector: Connector | None, connector_id: int, now_wall: float) -> Context:
    transaction = connector.transaction if connector is not None else None
    if transaction is None or transaction.stopping:
        return Context(connector_id, now_wall)
    return Context(connector_id, transaction.started_at.timestamp(), True, transaction.transaction_id)


def refresh(station: SmartChargingPort, now_s: float) -> None:
    """Put the limits in force now on every connector, and wake up at the
    next schedule boundary of a connector delivering energy."""
    state = station.features.get(KEY)
    if state is None:
        return
    at_wall = _wall_s(station, now_s) + EPSILON_S
    delivering = sum(1 for c in station.connectors if c.transaction is not None and not c.transaction.stopping)
    next_wall = INF
    for connector in station.connectors:
        context = _context(connector, connector.connector_id, at_wall)
        to_watts = _to_watts(connector.rating)
        limit_w = _cap_w(composite.limits_at(state.placed, context, at_wall), to_watts, delivering)
        if limit_w != connector.limit_w:
            connector.limit_w = limit_w
            station.update_power(connector, now_s)
        if context.has_transaction:
            change = composite.next_change(state.placed, context, at_wall, HORIZON_S, to_watts)
            if change is not None:
                next_wall = min(next_wall, change)
    if next_wall < INF:
        _wake_at(station, state, now_s + station.sim_s(next_wall - at_wall + EPSILON_S))


def _cap_w(limits: composite.Limits, to_watts: Converter, delivering: int) -> float:
    cap_w = INF
    if limits.transaction is not None:
        cap_w = to_watts(limits.transaction.value, limits.transaction.unit, limits.transaction.number_phases) or 0.0
    if limits.charge_point_max is not None:
        station_w = to_watts(limits.charge_point_max.value, limits.charge_point_max.unit,
                             limits.charge_point_max.number_phases) or 0.0
        cap_w = min(cap_w, station_w / max(1, delivering))  # §3.13.2: one limit for the whole Charge Point
    return cap_w


def _wake_at(station: SmartChargingPort, state: SmartCharging, due_s: float) -> None:
    if state.wake_s <= due_s:
        return  # an earlier wake-up is set (every one is reset when it fires): it will look again
    state.wake_s = due_s
    station.at(due_s, lambda now: _on_wake(station, now))


def _on_wake(station: SmartChargingPort, now_s: float) -> None:
    state = station.features.get(KEY)
    if state is None:
        return
    if now_s >= state.wake_s:
        state.wake_s = INF
    refresh(station, now_s)


# ------------------------------------------------------------------ transactions


def accept_remote_start_profile(station: SmartChargingPort, connector: Connector, profile: ChargingProfile,
                                now_s: float) -> bool:
    """§5.11: a RemoteStartTransaction may carry a TxProfile (without a
    transactionId) for the transaction it starts; a model without Smart
    Charging cannot honour it, so the request is Rejected."""
    if not station.model.supports(FeatureProfile.SMART_CHARGING):
        return False
    if profile.charging_profile_purpose != Purpose.TX_PROFILE or profile.transaction_id is not None:
        return False
    if _schedule_rejection(station, profile) is not None:
        return False
    wait_s = station.sim_s(station.config.get_int("ConnectionTimeOut", 60)) + PENDING_MARGIN_S
    _state(station).pending[connector.connector_id] = Pending(profile, now_s + wait_s)
    return True


def on_transaction_started(station: SmartChargingPort, connector: Connector, now_s: float) -> None:
    state = station.features.get(KEY)
    if state is None:
        return
    pending = state.pending.pop(connector.connector_id, None)
    transaction = connector.transaction
    usable = pending is not None and transaction is not None and transaction.remote and now_s <= pending.expires_s
    if usable and not _install(station, state, connector.connector_id, pending.profile, now_s):  # type: ignore[union-attr]
        station.stats.count("smart_charging.rejected.max_installed")
    refresh(station, now_s)


def on_transaction_stopped(station: SmartChargingPort, connector: Connector, now_s: float) -> None:
    state = station.features.get(KEY)
    if state is None:
        return
    # §3.13.2: a TxProfile applies to its transaction only.
    state.placed = [
        placed for placed in state.placed
        if not (placed.connector_id == connector.connector_id
                and placed.profile.charging_profile_purpose == Purpose.TX_PROFILE)
    ]
    refresh(station, now_s)


def installed(station: SmartChargingPort) -> list[Placed]:
    """The profiles the station holds (for reports and tests)."""
    state = station.features.get(KEY)
    return list(state.placed) if state is not None else []


HANDLERS: dict[type, Callable[..., Any]] = {
    SetChargingProfileReq: set_charging_profile,
    ClearChargingProfileReq: clear_charging_profile,
    GetCompositeScheduleReq: get_composite_schedule,
}
