"""The composite charging schedule (OCPP 1.6 §3.13): which limit is in force
on a connector at any moment, from the charging profiles installed.

Pure arithmetic on POSIX seconds (floats): no station, no clock.  The rules:

* a profile is in force at ``t`` when ``validFrom <= t < validTo`` (either
  absent: unbounded, §7.8) and ``t`` falls inside its schedule: after the
  schedule's start and before ``start + duration`` (§7.13);
* the schedule starts at ``startSchedule`` (Absolute), at the start of the
  transaction (Relative), or at the latest daily / weekly recurrence of
  ``startSchedule`` (Recurring) (§7.9, §7.37);
* of the profiles of one purpose in force, the one with the highest stack
  level prevails (§3.13.3);
* a TxProfile overrules a TxDefaultProfile for the duration of its
  transaction, and a TxDefaultProfile set on the connector overrules one set
  on connector 0 for all connectors (§3.13.2);
* the ChargePointMaxProfile (connector 0) caps the result (§3.13.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import msgspec

from fleetsim.ocpp.datatypes import ChargingProfile, ChargingSchedulePeriod
from fleetsim.ocpp.enums import (
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    RecurrencyKindType,
)

Purpose = ChargingProfilePurposeType
RECURRENCE_S = {RecurrencyKindType.DAILY: 86_400.0, RecurrencyKindType.WEEKLY: 604_800.0}
# A converter turns (limit, its unit, numberPhases of its period) into the
# unit being computed in; None when that cannot be done (A <-> W on DC).
Converter = Callable[[float, ChargingRateUnitType, int | None], float | None]


class Placed(msgspec.Struct, frozen=True):
    """A profile as installed on a connector (0: the whole Charge Point).
    ``anchor_s`` is when an Absolute schedule starts (its startSchedule, or the
    moment it was installed when it has none) and where a Recurring one was
    first anchored; unused for Relative profiles."""

    connector_id: int
    profile: ChargingProfile
    anchor_s: float


class Context(msgspec.Struct, frozen=True):
    """The connector whose schedule is wanted.  ``relative_start_s`` is the
    start of its transaction, or where Relative schedules are taken to start
    when there is none (the moment asked about); ``transaction_id`` is None
    without a transaction (then no TxProfile applies)."""

    connector_id: int
    relative_start_s: float
    has_transaction: bool = False
    transaction_id: int | None = None


class Limit(msgspec.Struct, frozen=True):
    """The limit of one schedule period, in its profile's unit."""

    value: float
    unit: ChargingRateUnitType
    number_phases: int | None


class Limits(msgspec.Struct, frozen=True):
    """What applies to a connector at one moment: the prevailing TxProfile or
    TxDefaultProfile, and the prevailing ChargePointMaxProfile."""

    transaction: Limit | None
    charge_point_max: Limit | None


class Period(msgspec.Struct, frozen=True):
    """One period of a composite schedule; ``limit`` None: nothing limits."""

    start_s: float
    limit: float | None
    number_phases: int | None = None


# ------------------------------------------------------------------ one profile


def schedule_start(placed: Placed, context: Context, at_s: float) -> float | None:
    """When the occurrence of ``placed``'s schedule that ``at_s`` falls in started."""
    profile = placed.profile
    match profile.charging_profile_kind:
        case ChargingProfileKindType.RELATIVE:
            return context.relative_start_s
        case ChargingProfileKindType.RECURRING:
            period_s = RECURRENCE_S[profile.recurrency_kind or RecurrencyKindType.DAILY]
            if at_s < placed.anchor_s:
                return None
            return placed.anchor_s + math.floor((at_s - placed.anchor_s) / period_s) * period_s
        case _:
            return placed.anchor_s


def _valid(profile: ChargingProfile, at_s: float) -> bool:
    if profile.valid_from is not None and at_s < profile.valid_from.timestamp():
        return False
    return profile.valid_to is None or at_s < profile.valid_to.timestamp()


def limit_at(placed: Placed, context: Context, at_s: float) -> Limit | None:
    """The limit ``placed`` sets at ``at_s``, or None when it is not in force."""
    profile = placed.profile
    if not _valid(profile, at_s):
        return None
    start_s = schedule_start(placed, context, at_s)
    if start_s is None or at_s < start_s:
        return None
    schedule = profile.charging_schedule
    offset_s = at_s - start_s
    if schedule.duration is not None and offset_s >= schedule.duration:
        return None
    current: ChargingSchedulePeriod | None = None
    for period in schedule.charging_schedule_period:  # ascending startPeriod (§7.13)
        if period.start_period > offset_s:
            break
        current = period
    if current is None:
        return None
    return Limit(current.limit, schedule.charging_rate_unit, current.number_phases)


def _prevailing(placed: Iterable[Placed], context: Context, at_s: float) -> Limit | None:
    """§3.13.3: of the profiles in force, the highest stack level wins."""
    best: tuple[int, Limit] | None = None
    for candidate in placed:
        limit = limit_at(candidate, context, at_s)
        if limit is not None and (best is None or candidate.profile.stack_level > best[0]):
            best = (candidate.profile.stack_level, limit)
    return None if best is None else best[1]


# ------------------------------------------------------------------ all profiles


def _of(placed: Iterable[Placed], purpose: Purpose, connector_id: int) -> list[Placed]:
    return [p for p in placed if p.profile.charging_profile_purpose == purpose and p.connector_id == connector_id]


def _transaction_profiles(placed: list[Placed], context: Context) -> list[Placed]:
    if not context.has_transaction:
        return []
    return [
        p for p in _of(placed, Purpose.TX_PROFILE, context.connector_id)
        if p.profile.transaction_id is None or p.profile.transaction_id == context.transaction_id
    ]


def limits_at(placed: list[Placed], context: Context, at_s: float) -> Limits:
    """The limits in force on ``context``'s connector at ``at_s``.  On connector
    0 only the ChargePointMaxProfile applies."""
    charge_point_max = _prevailing(_of(placed, Purpose.CHARGE_POINT_MAX_PROFILE, 0), context, at_s)
    if context.connector_id == 0:
        return Limits(None, charge_point_max)
    transaction = _prevailing(_transaction_profiles(placed, context), context, at_s)
    if transaction is None:
        transaction = _prevailing(_of(placed, Purpose.TX_DEFAULT_PROFILE, context.connector_id), context, at_s)
    if transaction is None:
        transaction = _prevailing(_of(placed, Purpose.TX_DEFAULT_PROFILE, 0), context, at_s)
    return Limits(transaction, charge_point_max)


def combined(limits: Limits, convert: Converter) -> tuple[float | None, int | None] | None:
    """The lower of the two limits in one unit, and the numberPhases of the
    transaction's period; None when a conversion is impossible."""
    values: list[float] = []
    for limit in (limits.transaction, limits.charge_point_max):
        if limit is None:
            continue
        value = convert(limit.value, limit.unit, limit.number_phases)
        if value is None:
            return None
        values.append(value)
    phases = limits.transaction.number_phases if limits.transaction is not None else None
    return (min(values) if values else None), phases


# ------------------------------------------------------------------ over time


def _boundaries(placed: Placed, context: Context, start_s: float, end_s: float) -> Iterator[float]:
    """Every moment in (start_s, end_s) at which ``placed`` may start or stop
    being in force, or change period."""
    profile = placed.profile
    for bound in (profile.valid_from, profile.valid_to):
        if bound is not None:
            yield bound.timestamp()
    schedule = profile.charging_schedule
    offsets = [period.start_period for period in schedule.charging_schedule_period]
    if schedule.duration is not None:
        offsets.append(schedule.duration)
    if profile.charging_profile_kind == ChargingProfileKindType.RECURRING:
        period_s = RECURRENCE_S[profile.recurrency_kind or RecurrencyKindType.DAILY]
        first = math.floor((start_s - placed.anchor_s) / period_s)
        last = math.ceil((end_s - placed.anchor_s) / period_s)
        occurrences = [placed.anchor_s + k * period_s for k in range(max(first, 0), max(last, 0) + 1)]
    else:
        start = schedule_start(placed, context, start_s)
        occurrences = [placed.anchor_s if start is None else start]
    for occurrence in occurrences:
        for offset in offsets:
            yield occurrence + offset


def _moments(placed: list[Placed], context: Context, start_s: float, end_s: float) -> list[float]:
    moments = {start_s}
    for candidate in placed:
        moments.update(m for m in _boundaries(candidate, context, start_s, end_s) if start_s < m < end_s)
    return sorted(moments)


def composite(placed: list[Placed], context: Context, start_s: float, duration_s: float,
              convert: Converter) -> list[Period] | None:
    """The composite schedule over [start_s, start_s + duration_s): periods of
    constant limit, each starting where the limit changes (§3.13.4, §5.10).
    None when the profiles' units cannot be converted to the one asked for."""
    periods: list[Period] = []
    for moment in _moments(placed, context, start_s, start_s + max(duration_s, 0.0)):
        value = combined(limits_at(placed, context, moment), convert)
        if value is None:
            return None
        limit, phases = value
        if periods and periods[-1].limit == limit and periods[-1].number_phases == phases:
            continue
        periods.append(Period(moment, limit, phases))
    return periods


def next_change(placed: list[Placed], context: Context, after_s: float, horizon_s: float,
                convert: Converter) -> float | None:
    """The first moment after ``after_s`` (within the horizon) at which the
    limit changes, or None."""
    first: tuple[float | None, int | None] | None = None
    for moment in _moments(placed, context, after_s, after_s + horizon_s):
        value = combined(limits_at(placed, context, moment), convert)
        if first is None:
            first = value
        elif value != first:
            return moment
    return None
