"""Meter values (OCPP 1.6 §4.7, §9.1): sampled every MeterValueSampleInterval
during a transaction with the MeterValuesSampledData measurands, clock-aligned
every ClockAlignedDataInterval with MeterValuesAlignedData, and the
StopTxn*Data that StopTransaction carries.  Values come from the connector's
meter and the EV's physics, so energy, power, current and SoC agree.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fleetsim.ocpp.datatypes import MeterValue, SampledValue, TransactionData
from fleetsim.ocpp.enums import Location, Measurand, Phase, ReadingContext, UnitOfMeasure
from fleetsim.ocpp.payloads.core import MeterValuesReq
from fleetsim.station.connector import Connector, Transaction
from fleetsim.station.outgoing import Outgoing
from fleetsim.station.power import NOMINAL_VOLTAGE_V

if TYPE_CHECKING:
    from fleetsim.station.ports import MeterPort

INF = math.inf
PHYSICS_STEP_S = 60.0  # simulated seconds between power updates while charging
DC_VOLTAGE_V = 400.0
_AC_PHASES = (Phase.L1, Phase.L2, Phase.L3)
_AC_PHASE_VOLTAGES = (Phase.L1_N, Phase.L2_N, Phase.L3_N)


def next_due(station: MeterPort) -> float:
    due = INF
    for connector in station.connectors:
        if connector.sample_due_s < due:
            due = connector.sample_due_s
        if connector.physics_due_s < due:
            due = connector.physics_due_s
    return due


def schedule_physics(station: MeterPort, connector: Connector, now_s: float) -> None:
    """While energy flows, update the power at least every PHYSICS_STEP_S
    simulated seconds (the DC taper moves) and exactly when the EV is full
    (SuspendedEV then, not at the next sample)."""
    if connector.power_w <= 0:
        return
    step_s = min(PHYSICS_STEP_S, connector.seconds_to_full())
    connector.physics_due_s = min(connector.physics_due_s, now_s + station.sim_s(max(step_s, 1e-3)))


def _interval_s(station: MeterPort, key: str) -> int:
    return max(0, station.config.get_int(key, 0))


def on_boot(station: MeterPort, now_s: float) -> None:
    schedule_aligned(station, now_s)


def schedule_aligned(station: MeterPort, now_s: float) -> None:
    """Clock-aligned data falls due on wall-clock multiples of the interval
    (OCPP 1.6 §9.1.7: 900 s means :00, :15, :30, :45)."""
    interval = _interval_s(station, "ClockAlignedDataInterval")
    if interval <= 0:
        station.aligned_due_s = INF
        return
    wall = station.timebase.wall(now_s)
    since_midnight = wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
    wait_sim_s = interval - (since_midnight % interval)
    station.aligned_due_s = now_s + station.sim_s(wait_sim_s)


def on_transaction_started(station: MeterPort, connector: Connector, now_s: float) -> None:
    connector.last_sample_wh = connector.register_wh
    transaction = connector.transaction
    assert transaction is not None
    begin = _sample(station, connector, "StopTxnSampledData", ReadingContext.TRANSACTION_BEGIN)
    if begin:
        transaction.samples.append((station.timebase.wall(now_s), begin))
    _schedule_sample(station, connector, now_s)


def on_transaction_stopped(station: MeterPort, connector: Connector) -> None:
    connector.sample_due_s = INF
    connector.physics_due_s = INF


def _schedule_sample(station: MeterPort, connector: Connector, now_s: float) -> None:
    interval = _interval_s(station, "MeterValueSampleInterval")
    connector.sample_due_s = now_s + station.sim_s(interval) if interval > 0 else INF


def on_timer(station: MeterPort, now_s: float) -> None:
    for connector in station.connectors:
        if connector.physics_due_s <= now_s:
            connector.physics_due_s = INF
            station.update_power(connector, now_s)
        if connector.sample_due_s <= now_s:
            _periodic_sample(station, connector, now_s)
    if station.aligned_due_s <= now_s:
        for connector in station.connectors:
            connector.advance(now_s)
            _aligned_sample(station, connector, now_s)
        schedule_aligned(station, now_s + 1e-6)


def _periodic_sample(station: MeterPort, connector: Connector, now_s: float) -> None:
    station.update_power(connector, now_s)
    transaction = connector.transaction
    if transaction is None or transaction.stopping:
        connector.sample_due_s = INF
        return
    _send_values(station, connector, "MeterValuesSampledData", ReadingContext.SAMPLE_PERIODIC, now_s)
    extra = _sample(station, connector, "StopTxnSampledData", ReadingContext.SAMPLE_PERIODIC)
    if extra:
        transaction.samples.append((station.timebase.wall(now_s), extra))
    connector.last_sample_wh = connector.register_wh
    _schedule_sample(station, connector, now_s)


def _aligned_sample(station: MeterPort, connector: Connector, now_s: float) -> None:
    """Clock-aligned values go out as MeterValues (MeterValuesAlignedData) and,
    independently, into the transaction's StopTxnAlignedData."""
    transaction = connector.transaction if connector.transaction and not connector.transaction.stopping else None
    if transaction is not None:
        aligned = _sample(station, connector, "StopTxnAlignedData", ReadingContext.SAMPLE_CLOCK)
        if aligned:
            transaction.samples.append((station.timebase.wall(now_s), aligned))
    _send_values(station, connector, "MeterValuesAlignedData", ReadingContext.SAMPLE_CLOCK, now_s)


def trigger(station: MeterPort, connector_id: int | None, now_s: float) -> None:
    """MeterValues on TriggerMessage: the sampled measurands, context Trigger."""
    targets = station.connectors if connector_id in (None, 0) else [c for c in station.connectors if c.connector_id == connector_id]
    for connector in targets:
        connector.advance(now_s)
        _send_values(station, connector, "MeterValuesSampledData", ReadingContext.TRIGGER, now_s, front=True)


def _send_values(station: MeterPort, connector: Connector, key: str, context: ReadingContext, now_s: float,
                 front: bool = False) -> None:
    # The call's intended send time is now, when the station's timer fired:
    # how late that was (the simulator's own timer lag, as in a burst of
    # clock-aligned samples) is measured apart, and not charged to the CSMS.
    values = _sample(station, connector, key, context)
    if not values:
        return
    transaction = connector.transaction if connector.transaction and not connector.transaction.stopping else None
    meter_value = [MeterValue(timestamp=station.timebase.wall(now_s), sampled_value=values)]
    if transaction is None:
        call = Outgoing("MeterValues", MeterValuesReq(connector_id=connector.connector_id, meter_value=meter_value), now_s)
    else:
        call = Outgoing("MeterValues", None, now_s, build=_transaction_builder(connector.connector_id, transaction, meter_value),
                        is_transaction=True)
    if not station.online and transaction is None:
        return  # only transaction-related meter values are kept for later (§4.7)
    station.queue.push_front(call) if front else station.enqueue(call)


def _transaction_builder(connector_id: int, transaction: Transaction, meter_value: list[MeterValue]):  # type: ignore[no-untyped-def]
    def build() -> MeterValuesReq | None:
        if transaction.transaction_id is None:
            return None
        return MeterValuesReq(connector_id=connector_id, transaction_id=transaction.transaction_id, meter_value=meter_value)

    return build


def stop_transaction_data(station: MeterPort, connector: Connector, transaction: Transaction, now_s: float
                          ) -> list[TransactionData] | None:
    """StopTransaction.req transactionData (OCPP 1.6 §6.49): the StopTxn*Data
    samples taken during the transaction, bounded by the model's limit."""
    end = _sample(station, connector, "StopTxnSampledData", ReadingContext.TRANSACTION_END)
    samples = list(transaction.samples)
    if end:
        samples.append((station.timebase.wall(now_s), end))
    if not samples:
        return None
    limit = station.config.get_int("StopTransactionMaxMeterValues", 0) or len(samples)
    if len(samples) > limit:
        samples = samples[: max(1, limit - 1)] + samples[-1:]
    return [TransactionData(timestamp=stamp, sampled_value=values) for stamp, values in samples[:limit]]


def _sample(station: MeterPort, connector: Connector, key: str, context: ReadingContext) -> list[SampledValue]:
    measurands = station.config.get_list(key)
    values: list[SampledValue] = []
    for name in measurands:
        values.extend(_values_for(name, connector, context))
    return values


def _values_for(name: str, connector: Connector, context: ReadingContext) -> list[SampledValue]:
    rating = connector.rating
    power_w = connector.power_w
    match name:
        case Measurand.ENERGY_ACTIVE_IMPORT_REGISTER:
            return [_value(f"{connector.register_wh:.0f}", context, name, UnitOfMeasure.WH)]
        case Measurand.ENERGY_ACTIVE_IMPORT_INTERVAL:
            return [_value(f"{connector.register_wh - connector.last_sample_wh:.0f}", context, name, UnitOfMeasure.WH)]
        case Measurand.POWER_ACTIVE_IMPORT:
            return [_value(f"{power_w:.0f}", context, name, UnitOfMeasure.W)]
        case Measurand.POWER_OFFERED:
            return [_value(f"{min(rating.max_power_w, connector.limit_w):.0f}", context, name, UnitOfMeasure.W)]
        case Measurand.CURRENT_IMPORT:
            if rating.dc:
                return [_value(f"{power_w / DC_VOLTAGE_V:.1f}", context, name, UnitOfMeasure.A)]
            amps = power_w / (NOMINAL_VOLTAGE_V * rating.phases)
            return [_value(f"{amps:.1f}", context, name, UnitOfMeasure.A, phase) for phase in _AC_PHASES[: rating.phases]]
        case Measurand.CURRENT_OFFERED:
            offered_w = min(rating.max_power_w, connector.limit_w)
            amps = offered_w / DC_VOLTAGE_V if rating.dc else offered_w / (NOMINAL_VOLTAGE_V * rating.phases)
            return [_value(f"{amps:.1f}", context, name, UnitOfMeasure.A)]
        case Measurand.VOLTAGE:
            if rating.dc:
                return [_value(f"{DC_VOLTAGE_V:.1f}", context, name, UnitOfMeasure.V)]
            return [_value(f"{NOMINAL_VOLTAGE_V:.1f}", context, name, UnitOfMeasure.V, phase)
                    for phase in _AC_PHASE_VOLTAGES[: rating.phases]]
        case Measurand.SOC:
            if connector.ev is None or not rating.dc:
                return []  # AC (IEC 61851-1 PWM) charging has no SoC from the EV
            return [_value(f"{connector.soc * 100:.0f}", context, name, UnitOfMeasure.PERCENT, location=Location.EV)]
        case Measurand.FREQUENCY:
            return [_value("50.0", context, name, None)]
        case Measurand.TEMPERATURE:
            return [_value("25.0", context, name, UnitOfMeasure.CELSIUS, location=Location.BODY)]
        case _:
            if name in Measurand._value2member_map_:
                return [_value("0", context, name, None)]
            return []


def _value(value: str, context: ReadingContext, measurand: str, unit: UnitOfMeasure | None,
           phase: Phase | None = None, location: Location | None = None) -> SampledValue:
    return SampledValue(value=value, context=context, measurand=measurand, phase=phase, location=location,
                        unit=unit)
