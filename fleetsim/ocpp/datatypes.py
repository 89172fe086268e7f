"""The compound types of OCPP 1.6 §7 that payloads share.

The schemas put no bounds on integers (not even connectorId >= 0) and no
minItems on chargingSchedulePeriod, although the spec's text does; we follow the
schemas, so that every schema-valid payload decodes.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from fleetsim.ocpp.base import CiString50, CiString500, DateTime, IdToken, Payload
from fleetsim.ocpp.enums import (
    AuthorizationStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    Location,
    Measurand,
    Phase,
    ReadingContext,
    RecurrencyKindType,
    UnitOfMeasure,
    ValueFormat,
)


class IdTagInfo(Payload):
    """OCPP 1.6 §7.27."""

    expiry_date: DateTime | None = None
    parent_id_tag: IdToken | None = None
    status: AuthorizationStatus


class AuthorizationData(Payload):
    """OCPP 1.6 §7.1: one entry of a SendLocalList.req.  In a Differential
    update an entry without idTagInfo deletes the idTag from the list."""

    id_tag: IdToken
    id_tag_info: IdTagInfo | None = None


class KeyValue(Payload):
    """OCPP 1.6 §7.29: one configuration key in GetConfiguration.conf."""

    key: CiString50
    readonly: bool
    value: CiString500 | None = None


class SampledValue(Payload):
    """OCPP 1.6 §7.43.  ``value`` is a string on the wire, a number unless
    ``format`` is SignedData.  An absent field takes the spec's default
    (Sample.Periodic, Raw, Energy.Active.Import.Register, Outlet, Wh)."""

    value: str
    context: ReadingContext | None = None
    format: ValueFormat | None = None
    measurand: Measurand | None = None
    phase: Phase | None = None
    location: Location | None = None
    unit: UnitOfMeasure | None = None


class TransactionData(Payload):
    """OCPP 1.6 §7.33 MeterValue as StopTransaction.req carries it (§6.49).

    Its schema, unlike MeterValues.req's, sets no minItems on sampledValue, so
    an empty list decodes.  Its unit enum also lacks "Hertz", which we accept
    anyway (errata v4.0); the station must not send Hertz here.
    """

    timestamp: DateTime
    sampled_value: list[SampledValue]


class MeterValue(TransactionData):
    """OCPP 1.6 §7.33 as MeterValues.req carries it (§6.31): at least one
    sampled value.  A MeterValue is also valid as TransactionData."""

    sampled_value: Annotated[list[SampledValue], msgspec.Meta(min_length=1)]


class ChargingSchedulePeriod(Payload):
    """OCPP 1.6 §7.14.  ``start_period`` is in seconds from the start of the
    schedule; ``limit`` is in the schedule's chargingRateUnit."""

    start_period: int
    # The schema says multipleOf 0.1; not enforced, because 0.1 has no exact
    # binary float and msgspec's multiple_of rejects valid values (0.3, 1.0, 16.2).
    limit: float
    number_phases: int | None = None


class ChargingSchedule(Payload):
    """OCPP 1.6 §7.13.  ``duration`` is in seconds."""

    duration: int | None = None
    start_schedule: DateTime | None = None
    charging_rate_unit: ChargingRateUnitType
    charging_schedule_period: list[ChargingSchedulePeriod]
    # multipleOf 0.1 in the schema; not enforced (see ChargingSchedulePeriod.limit).
    min_charging_rate: float | None = None


class ChargingProfile(Payload):
    """OCPP 1.6 §7.8."""

    charging_profile_id: int
    transaction_id: int | None = None
    stack_level: int
    charging_profile_purpose: ChargingProfilePurposeType
    charging_profile_kind: ChargingProfileKindType
    recurrency_kind: RecurrencyKindType | None = None
    valid_from: DateTime | None = None
    valid_to: DateTime | None = None
    charging_schedule: ChargingSchedule
