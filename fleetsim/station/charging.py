"""Transactions, and the people at the charger who cause them (OCPP 1.6 §4.8,
§4.10, §5.11): an EV plugged in and unplugged, an RFID card presented, a
transaction started and stopped, and the power that flows meanwhile.

The station calls these for its drivers (:meth:`Station.plug_in` and the
like, which then let it settle) and for the CSMS's calls (RemoteStart,
RemoteStop, UnlockConnector, Reset ...).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from fleetsim.ocpp.enums import AuthorizationStatus, ChargePointStatus, Reason
from fleetsim.ocpp.payloads.core import (
    StartTransactionConf,
    StartTransactionReq,
    StopTransactionConf,
    StopTransactionReq,
)
from fleetsim.station import authorization, features, metering, status
from fleetsim.station.connector import Connector, Transaction
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import ChargingPort
    from fleetsim.station.power import Ev


def end_sessions(station: ChargingPort, reason: Reason, now_s: float) -> None:
    """The run is ending: stop every transaction and start no new one."""
    station.closing = True
    for connector in station.connectors:
        connector.authorized_id_tag = None
        stop_transaction(station, connector, reason, now_s)


def plug_in(station: ChargingPort, connector_id: int, ev: Ev, now_s: float) -> None:
    connector = station.connectors[connector_id - 1]
    if connector.plugged or station.closing or not usable(station, connector, now_s):
        station.stats.count("session.plug_in_refused")
        return
    connector.advance(now_s)
    transaction = connector.transaction
    if transaction is not None and not transaction.stopping:
        # The EV is back to a transaction kept through its unplugging (C-06.1).
        connector.plugged, connector.ev = True, ev
        update_power(station, connector, now_s)
        return
    connector.plugged, connector.ev, connector.soc, connector.delivered_wh = True, ev, ev.soc_start, 0.0
    tag = connector.authorized_id_tag
    if tag is not None:
        connector.authorized_id_tag = None
        start_transaction(station, connector, tag, now_s, remote=False)
    else:
        station.set_status(connector, ChargePointStatus.PREPARING, now_s)


def present_id_tag(station: ChargingPort, connector_id: int, id_tag: str, now_s: float) -> None:
    """An RFID card at the reader: starts a transaction, or stops the one it started."""
    connector = station.connectors[connector_id - 1]
    if station.closing or not usable(station, connector, now_s):
        return  # an Unavailable or Faulted connector takes no sessions (§4.9)
    transaction = connector.transaction
    if transaction is not None:
        if transaction.id_tag == id_tag and not transaction.stopping:
            stop_transaction(station, connector, Reason.LOCAL, now_s, id_tag=id_tag)
        return
    authorization.authorize(station, id_tag, now_s, lambda now, ok: authorized(station, connector, id_tag, ok, now))


def authorized(station: ChargingPort, connector: Connector, id_tag: str, accepted: bool, now_s: float) -> None:
    """The verdict on a tag presented at (or remotely started on) ``connector``."""
    if not accepted:
        station.stats.count("session.authorization_refused")
        return
    if not usable(station, connector, now_s):  # went Faulted or Unavailable while the tag was checked
        station.stats.count("session.connector_unavailable")
        return
    if features.reserved_for_other(station, connector, id_tag):  # OCPP 1.6 §5.13
        station.stats.count("session.reserved_for_other")
        return
    if connector.plugged:
        start_transaction(station, connector, id_tag, now_s, remote=False)
    else:
        connector.authorized_id_tag = id_tag
        station.set_status(connector, ChargePointStatus.PREPARING, now_s)
        timeout_s = station.config.get_int("ConnectionTimeOut", 60)
        station.at(now_s + station.sim_s(timeout_s), partial(_connection_timeout, station, connector, id_tag))


def _connection_timeout(station: ChargingPort, connector: Connector, id_tag: str, now_s: float) -> None:
    # OCPP 1.6 §9.1.9 ConnectionTimeOut: authorized but never plugged in.
    if connector.authorized_id_tag == id_tag and not connector.plugged:
        connector.authorized_id_tag = None
        station.set_status(connector, status.idle_status(connector), now_s)


def usable(station: ChargingPort, connector: Connector, now_s: float) -> bool:
    """Whether ``connector`` can start a transaction: neither Unavailable nor
    Faulted (the inoperative statuses, OCPP 1.6 §7.7), the station not down
    (rebooting, without power)."""
    return (not connector.inoperative and connector.status is not ChargePointStatus.FAULTED
            and now_s >= station.offline_until_s)


def unplug(station: ChargingPort, connector_id: int, now_s: float) -> None:
    connector = station.connectors[connector_id - 1]
    if not connector.plugged:
        return
    connector.advance(now_s)
    connector.plugged, connector.ev = False, None
    transaction = connector.transaction
    if transaction is not None and not transaction.stopping:
        if station.config.get_bool("StopTransactionOnEVSideDisconnect", True):
            stop_transaction(station, connector, Reason.EV_DISCONNECTED, now_s)
        else:
            # C-06.1: the transaction stays, suspended, until the EV returns.
            connector.advance(now_s)
            station.set_status(connector, ChargePointStatus.SUSPENDED_EV, now_s)
    elif connector.status is not ChargePointStatus.FAULTED:  # a fault outlasts the plug (§4.9)
        connector.advance(now_s)
        station.set_status(connector, status.idle_status(connector), now_s)


# ------------------------------------------------------------ transactions


def start_transaction(station: ChargingPort, connector: Connector, id_tag: str, now_s: float, *, remote: bool,
                      reservation_id: int | None = None) -> Transaction | None:
    if station.closing:
        return None
    connector.advance(now_s)
    if reservation_id is None:
        reservation_id = features.use_reservation(station, connector, id_tag, now_s)
    transaction = Transaction(id_tag, connector.meter_wh(), station.wall(now_s), now_s, reservation_id,
                              remote)
    connector.transaction = transaction
    features.on_transaction_started(station, connector, now_s)
    request = StartTransactionReq(
        connector_id=connector.connector_id,
        id_tag=id_tag,
        meter_start=transaction.meter_start_wh,
        reservation_id=reservation_id,
        timestamp=transaction.started_at,
    )
    # StartTransaction first, then the Charging status: the transaction is
    # what the CSMS waits for (the order is free, OCTT TC_003).
    station.enqueue(Outgoing(
        "StartTransaction", request, now_s, is_transaction=True,
        on_answer=lambda conf, now: _on_start_answer(station, connector, transaction, conf, now),
        on_failure=lambda now: station.stats.count("transaction.never_started"),
    ))
    update_power(station, connector, now_s)
    metering.on_transaction_started(station, connector, now_s)
    return transaction


def _on_start_answer(station: ChargingPort, connector: Connector, transaction: Transaction,
                     conf: StartTransactionConf, now_s: float) -> None:
    transaction.transaction_id = conf.transaction_id
    authorization.remember(station, transaction.id_tag, conf.id_tag_info)  # §4.8
    verdict = conf.id_tag_info.status
    if verdict == AuthorizationStatus.ACCEPTED or connector.transaction is not transaction:
        return
    # OCPP 1.6 §5.16 / §9.1.22 StopTransactionOnInvalidId.
    station.stats.count(f"transaction.rejected.{verdict}")
    if station.config.get_bool("StopTransactionOnInvalidId", True):
        stop_transaction(station, connector, Reason.DE_AUTHORIZED, now_s)
    else:
        transaction.invalid = True
        connector.advance(now_s)
        station.set_status(connector, connector.charging_status(), now_s)


def stop_transaction(station: ChargingPort, connector: Connector, reason: Reason, now_s: float, *,
                     id_tag: str | None = None) -> None:
    transaction = connector.transaction
    if transaction is None or transaction.stopping:
        return
    connector.advance(now_s)
    transaction.stopping = True
    meter_stop = connector.meter_wh()
    stamp = station.wall(now_s)
    transaction_data = metering.stop_transaction_data(station, connector, transaction, now_s)
    reason_field = None if reason == Reason.LOCAL else reason  # Local is the default (§7.32)

    def build() -> StopTransactionReq | None:
        if transaction.transaction_id is None:
            return None  # its StartTransaction was never accepted: nothing to stop
        return StopTransactionReq(
            id_tag=id_tag, meter_stop=meter_stop, timestamp=stamp, transaction_id=transaction.transaction_id,
            reason=reason_field, transaction_data=transaction_data,
        )

    station.enqueue(Outgoing("StopTransaction", None, now_s, build=build, is_transaction=True,
                             on_answer=lambda conf, now: _on_stop_answer(station, transaction, conf)))
    connector.transaction = None
    features.on_transaction_stopped(station, connector, now_s)
    connector.advance(now_s)
    metering.on_transaction_stopped(station, connector)
    if connector.status is not ChargePointStatus.FAULTED:  # a fault outlasts its transaction (§4.9)
        after = ChargePointStatus.FINISHING if connector.plugged else status.idle_status(connector)
        station.set_status(connector, after, now_s)
    if connector.inoperative_scheduled is not None:
        status.apply_scheduled_availability(station, connector, now_s)


def _on_stop_answer(station: ChargingPort, transaction: Transaction, conf: StopTransactionConf) -> None:
    if conf.id_tag_info is not None:
        station.stats.count(f"stop.{conf.id_tag_info.status}")
        authorization.remember(station, transaction.id_tag, conf.id_tag_info)  # §4.10


def update_power(station: ChargingPort, connector: Connector, now_s: float) -> None:
    """Something changed what may flow (a limit, a suspension): integrate up
    to now, then report Charging / SuspendedEV / SuspendedEVSE."""
    connector.advance(now_s)
    transaction = connector.transaction
    if transaction is not None and not transaction.stopping and connector.plugged:
        new_status = connector.charging_status()
        if new_status != connector.status:
            station.set_status(connector, new_status, now_s)
            connector.advance(now_s)  # the power depends on the status (none while SuspendedEVSE)
