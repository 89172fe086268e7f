"""Meter values (OCPP 1.6 §4.7, §9.1): sampled every MeterValueSampleInterval
during a transaction with the MeterValuesSampledData measurands, clock-aligned
every ClockAlignedDataInterval with MeterValuesAlignedData, and the
StopTxn*Data that StopTransaction carries.  Values come from the connector's
meter and the EV's physics, so energy, power, current and SoC agree.

This module decides when a connector samples and where the values go; what a
sample holds is :mod:`fleetsim.station.measurands`, worked out per connector
once per configuration version (:func:`plan`): every second of a thousand
stations' MeterValues goes through here.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Final

from fleetsim.ocpp.datatypes import MeterValue, TransactionData
from fleetsim.ocpp.enums import ReadingContext
from fleetsim.ocpp.payloads.core import MeterValuesReq
from fleetsim.station.connector import Connector, Transaction
from fleetsim.station.measurands import MeterPlan, Recipe, sample
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import MeterPort

INF = math.inf
# The contexts of every sample, as module constants (see sending.ACCEPTED).
SAMPLE_PERIODIC: Final = ReadingContext.SAMPLE_PERIODIC
SAMPLE_CLOCK: Final = ReadingContext.SAMPLE_CLOCK
PHYSICS_STEP_S = 60.0  # simulated seconds between power updates while charging


def plan(station: MeterPort, connector: Connector) -> MeterPlan:
    """What ``connector`` samples under the station's configuration now,
    worked out again only after the configuration changed."""
    current = connector.meter_plan
    if current is None or current.version != station.config.version:
        current = connector.meter_plan = MeterPlan(station.config, connector.rating)
    return current


def schedule_physics(station: MeterPort, connector: Connector, now_s: float) -> None:
    """While energy flows, update the power at least every PHYSICS_STEP_S
    simulated seconds (the DC taper moves) and exactly when the EV is full
    (SuspendedEV then, not at the next sample).

    Runs after every event; it computes only when what the due time follows
    from changed since it last did (the meter's update, its power, the EV,
    or the due time itself, which firing or a stop resets): else it would
    come out at or after the due time already set, and change nothing."""
    power_w = connector.power_w
    if power_w <= 0:
        return
    due_s = connector.physics_due_s
    if (due_s == connector.physics_basis_due_s and connector.last_update_s == connector.physics_basis_s
            and power_w == connector.physics_basis_w and connector.ev is connector.physics_basis_ev):
        return
    step_s = min(PHYSICS_STEP_S, connector.seconds_to_full())
    due_s = connector.physics_due_s = min(due_s, now_s + station.sim_s(max(step_s, 1e-3)))
    connector.physics_basis_due_s = due_s
    connector.physics_basis_s = connector.last_update_s
    connector.physics_basis_w = power_w
    connector.physics_basis_ev = connector.ev


def _interval_s(station: MeterPort, key: str) -> int:
    return max(0, station.config.get_int(key, 0))


def on_boot(station: MeterPort, now_s: float) -> None:
    schedule_aligned(station, now_s)


def schedule_aligned(station: MeterPort, now_s: float, *, handled: int = 0) -> None:
    """Clock-aligned data falls due on wall-clock multiples of the interval
    (OCPP 1.6 §9.1.7: 900 s means :00, :15, :30, :45).  Those the station
    slept through with a full queue (see :func:`aligned_wake_s`) up to
    ``now_s``, but for the ``handled`` latest, are counted as dropped first."""
    if station.aligned_held is not None:
        _count_slept(station, now_s, handled)
    interval = _interval_s(station, "ClockAlignedDataInterval")
    if interval <= 0:
        station.aligned_due_s = INF
        return
    wall = station.wall(now_s)
    since_midnight = wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
    wait_sim_s = interval - (since_midnight % interval)
    station.aligned_due_s = now_s + station.sim_s(wait_sim_s)


def aligned_wake_s(station: MeterPort, now_s: float, transacting: bool) -> float:
    """When the station wakes for its clock-aligned values (``transacting``:
    a connector has a transaction).  Online, with no room in its queue and no
    transaction to keep them for, they could only be dropped (as
    :func:`_send_values` drops them): it sleeps through them (INF), and counts
    them when it next fires (:func:`schedule_aligned`); a CSMS that answers
    slower than they fall due would otherwise have every such station woken
    for nothing at each one."""
    if transacting or not station.online or not station.queue.full():
        # (Room again after sleeping through some: due now, not when the
        # first of them was, which the engine would read as its timer's lag.)
        due_s = station.aligned_due_s
        return due_s if station.aligned_held is None else max(due_s, now_s)
    if station.aligned_held is None:
        # What each value slept through would have been: (engine seconds
        # between them, MeterValues dropped at each one).
        step_s = station.sim_s(_interval_s(station, "ClockAlignedDataInterval"))
        station.aligned_held = step_s, sum(1 for connector in station.connectors if plan(station, connector).aligned)
    return INF


def _count_slept(station: MeterPort, now_s: float, handled: int) -> None:
    """Count the boundaries slept through up to ``now_s`` as dropped, with the
    step and the MeterValues per boundary of when the sleep began (a
    MeterValuesAlignedData change during it counts the old number).  The
    station wakes at once when it has room again, so a boundary counted that
    fell after the room came can only be one within that wake-up's lag."""
    held = station.aligned_held
    assert held is not None
    station.aligned_held = None
    step_s, per_boundary = held
    if step_s <= 0 or per_boundary == 0 or station.aligned_due_s > now_s:
        return
    boundaries = int((now_s - station.aligned_due_s) / step_s) + 1  # in [aligned_due_s, now_s]
    if boundaries > handled:
        station.queue.refuse("MeterValues", (boundaries - handled) * per_boundary)


def on_transaction_started(station: MeterPort, connector: Connector, now_s: float) -> None:
    connector.last_sample_wh = connector.register_wh
    transaction = connector.transaction
    assert transaction is not None
    current = plan(station, connector)
    begin = sample(connector, current.stop_sampled, ReadingContext.TRANSACTION_BEGIN)
    if begin:
        transaction.keep_sample((station.wall(now_s), begin), current.stop_limit)
    _schedule_sample(station, connector, current, now_s)


def on_transaction_stopped(station: MeterPort, connector: Connector) -> None:
    connector.sample_due_s = INF
    connector.physics_due_s = INF


def _schedule_sample(station: MeterPort, connector: Connector, current: MeterPlan, now_s: float) -> None:
    interval = current.sample_interval_s
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
        schedule_aligned(station, now_s + 1e-6, handled=1)


def _periodic_sample(station: MeterPort, connector: Connector, now_s: float) -> None:
    station.update_power(connector, now_s)
    transaction = connector.transaction
    if transaction is None or transaction.stopping:
        connector.sample_due_s = INF
        return
    current = plan(station, connector)
    stamp = station.wall(now_s)
    _send_values(station, connector, current.sampled, SAMPLE_PERIODIC, now_s, stamp)
    extra = sample(connector, current.stop_sampled, SAMPLE_PERIODIC)
    if extra:
        transaction.keep_sample((stamp, extra), current.stop_limit)
    connector.last_sample_wh = connector.register_wh
    _schedule_sample(station, connector, current, now_s)


def _aligned_sample(station: MeterPort, connector: Connector, now_s: float) -> None:
    """Clock-aligned values go out as MeterValues (MeterValuesAlignedData) and,
    independently, into the transaction's StopTxnAlignedData."""
    current = plan(station, connector)
    stamp = station.wall(now_s)
    transaction = connector.transaction if connector.transaction and not connector.transaction.stopping else None
    if transaction is not None:
        aligned = sample(connector, current.stop_aligned, SAMPLE_CLOCK)
        if aligned:
            transaction.keep_sample((stamp, aligned), current.stop_limit)
    _send_values(station, connector, current.aligned, SAMPLE_CLOCK, now_s, stamp)


def trigger(station: MeterPort, connector_id: int | None, now_s: float) -> None:
    """MeterValues on TriggerMessage: the sampled measurands, context Trigger."""
    targets = station.connectors if connector_id in (None, 0) else [c for c in station.connectors if c.connector_id == connector_id]
    for connector in targets:
        connector.advance(now_s)
        _send_values(station, connector, plan(station, connector).sampled, ReadingContext.TRIGGER, now_s,
                     station.wall(now_s), front=True)


def _send_values(station: MeterPort, connector: Connector, recipes: tuple[Recipe, ...], context: ReadingContext,
                 now_s: float, stamp: datetime, front: bool = False) -> None:
    # The call's intended send time is now, when the station's timer fired:
    # how late that was (the simulator's own timer lag, as in a burst of
    # clock-aligned samples) is measured apart, and not charged to the CSMS.
    transaction = connector.transaction if connector.transaction and not connector.transaction.stopping else None
    if not station.online and transaction is None:
        return  # only transaction-related meter values are kept for later (§4.7)
    if transaction is None and station.queue.full():
        # A CSMS that answers slower than they fall due: dropped as a full
        # queue drops them, without sampling and building them first.
        if recipes:
            station.queue.refuse("MeterValues")
        return
    values = sample(connector, recipes, context)
    if not values:
        return
    meter_value = [MeterValue(timestamp=stamp, sampled_value=values)]
    if transaction is None:
        call = Outgoing("MeterValues", MeterValuesReq(connector_id=connector.connector_id, meter_value=meter_value), now_s)
    else:
        call = Outgoing("MeterValues", None, now_s, build=_transaction_builder(connector.connector_id, transaction, meter_value),
                        is_transaction=True)
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
    samples taken during the transaction, at most StopTransactionMaxMeterValues
    of them: when there were more, the first ones and the last."""
    current = plan(station, connector)
    at_end = sample(connector, current.stop_sampled, ReadingContext.TRANSACTION_END)
    end = (station.wall(now_s), at_end) if at_end else None
    samples = transaction.stop_samples(end, current.stop_limit)
    return [TransactionData(timestamp=stamp, sampled_value=values) for stamp, values in samples] or None
