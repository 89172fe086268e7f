"""Reservation (OCPP 1.6 §3.11; §5.4 CancelReservation, §5.13 ReserveNow).

A connector's reservation lives on the connector (``reservation_id``,
``reserved_id_tag``, ``reservation_expires_s``): its status is Reserved while
idle, and only the reserved idTag (or one with the reservation's parentIdTag)
may start a transaction there; the StartTransaction.req of that transaction
carries the reservationId, which ends the reservation.  A reservation of
connector 0 (R-1, ReserveConnectorZeroSupported) reserves no connector in
particular: the station keeps one connector free for the reserved idTag.
Every reservation ends at its expiryDate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from fleetsim.ocpp.enums import CancelReservationStatus, ChargePointStatus, ReservationStatus
from fleetsim.ocpp.payloads.reservation import (
    CancelReservationConf,
    CancelReservationReq,
    ReserveNowConf,
    ReserveNowReq,
)
from fleetsim.station.status import idle_status

if TYPE_CHECKING:
    from fleetsim.station.connector import Connector
    from fleetsim.station.ports import ReservationPort
    from fleetsim.station.replies import Reply

KEY = "reservation"
INF = float("inf")
_BUSY = {  # §5.13: a connector in one of these is Occupied
    ChargePointStatus.PREPARING, ChargePointStatus.CHARGING, ChargePointStatus.SUSPENDED_EV,
    ChargePointStatus.SUSPENDED_EVSE, ChargePointStatus.FINISHING,
}


class WholeStation(msgspec.Struct):
    """A reservation of connector 0."""

    reservation_id: int
    id_tag: str
    parent_id_tag: str | None
    expires_s: float


class Reservations(msgspec.Struct):
    parents: dict[int, str] = msgspec.field(default_factory=dict)  # reservationId -> parentIdTag (connectors)
    whole_station: WholeStation | None = None


def _state(station: ReservationPort) -> Reservations:
    state = station.features.get(KEY)
    if state is None:
        state = station.features[KEY] = Reservations()
    return state


# ------------------------------------------------------------------ ReserveNow


def _connector_verdict(connector: Connector, reservation_id: int) -> ReservationStatus:
    """§5.13/§7.40: what a connector answers to being reserved.  A connector
    held by the same reservationId counts as free: that reservation is replaced."""
    if connector.status == ChargePointStatus.FAULTED:
        return ReservationStatus.FAULTED
    if connector.inoperative or connector.status == ChargePointStatus.UNAVAILABLE:
        return ReservationStatus.UNAVAILABLE
    if connector.reservation_id is not None and connector.reservation_id != reservation_id:
        return ReservationStatus.OCCUPIED
    if connector.transaction is not None or connector.plugged or connector.authorized_id_tag is not None:
        return ReservationStatus.OCCUPIED
    return ReservationStatus.OCCUPIED if connector.status in _BUSY else ReservationStatus.ACCEPTED


def _station_verdict(station: ReservationPort, reservation_id: int) -> ReservationStatus:
    """Connector 0: Accepted while some connector is free; otherwise what
    keeps them all from it (all Faulted, all Unavailable, else Occupied)."""
    if not station.model.reserve_connector_zero:
        return ReservationStatus.REJECTED  # R-1 not certified: §5.13 Rejected
    verdicts = {_connector_verdict(c, reservation_id) for c in station.connectors}
    if ReservationStatus.ACCEPTED in verdicts:
        return ReservationStatus.ACCEPTED
    if len(verdicts) == 1:
        return verdicts.pop()
    return ReservationStatus.OCCUPIED


def reserve_now(station: ReservationPort, request: ReserveNowReq, now_s: float) -> Reply:
    expires_s = station.timebase.engine_s(request.expiry_date)
    connector = station.connector(request.connector_id)
    if expires_s <= now_s or (connector is None and request.connector_id != 0):
        return ReserveNowConf(status=ReservationStatus.REJECTED)
    verdict = (_connector_verdict(connector, request.reservation_id) if connector is not None
               else _station_verdict(station, request.reservation_id))
    if verdict != ReservationStatus.ACCEPTED:
        return ReserveNowConf(status=verdict)
    # §5.13: a reservationId the station already holds is replaced by the new one.
    _cancel(station, request.reservation_id, now_s, restore=connector is None or connector.reservation_id is None)
    state = _state(station)
    if connector is None:
        state.whole_station = WholeStation(request.reservation_id, request.id_tag, request.parent_id_tag, expires_s)
        station.at(expires_s, lambda now: _expire_whole(station, request.reservation_id, expires_s, now))
        return ReserveNowConf(status=ReservationStatus.ACCEPTED)
    connector.reservation_id = request.reservation_id
    connector.reserved_id_tag = request.id_tag
    connector.reservation_expires_s = expires_s
    if request.parent_id_tag is not None:
        state.parents[request.reservation_id] = request.parent_id_tag
    station.set_status(connector, ChargePointStatus.RESERVED, now_s)
    station.at(expires_s, lambda now: _expire(station, connector, request.reservation_id, expires_s, now))
    return ReserveNowConf(status=ReservationStatus.ACCEPTED)


# ------------------------------------------------------------------ ending reservations


def _release(station: ReservationPort, connector: Connector, now_s: float, *, restore: bool = True) -> None:
    reservation_id = connector.reservation_id
    connector.reservation_id = connector.reserved_id_tag = None
    connector.reservation_expires_s = INF
    state = station.features.get(KEY)
    if state is not None and reservation_id is not None:
        state.parents.pop(reservation_id, None)
    if restore and connector.status == ChargePointStatus.RESERVED:
        station.set_status(connector, idle_status(connector), now_s)


def _expire(station: ReservationPort, connector: Connector, reservation_id: int, expires_s: float,
            now_s: float) -> None:
    # §5.13: the reservation ends at expiryDate (unless replaced or used before).
    if connector.reservation_id == reservation_id and connector.reservation_expires_s == expires_s:
        station.stats.count("reservation.expired")
        _release(station, connector, now_s)


def _expire_whole(station: ReservationPort, reservation_id: int, expires_s: float, now_s: float) -> None:
    state = station.features.get(KEY)
    whole = state.whole_station if state is not None else None
    if whole is not None and whole.reservation_id == reservation_id and whole.expires_s == expires_s:
        station.stats.count("reservation.expired")
        state.whole_station = None


def _cancel(station: ReservationPort, reservation_id: int, now_s: float, *, restore: bool = True) -> bool:
    for connector in station.connectors:
        if connector.reservation_id == reservation_id:
            _release(station, connector, now_s, restore=restore)
            return True
    state = station.features.get(KEY)
    if state is not None and state.whole_station is not None and state.whole_station.reservation_id == reservation_id:
        state.whole_station = None
        return True
    return False


def cancel_reservation(station: ReservationPort, request: CancelReservationReq, now_s: float) -> Reply:
    """§5.4: Accepted when the station held the reservation, else Rejected."""
    found = _cancel(station, request.reservation_id, now_s)
    return CancelReservationConf(status=CancelReservationStatus.ACCEPTED if found else CancelReservationStatus.REJECTED)


# ------------------------------------------------------------------ using reservations


def _parent_of(station: ReservationPort, id_tag: str) -> str | None:
    info = station.local_list.get(id_tag) or station.auth_cache.get(id_tag)
    return info.parent_id_tag if info is not None else None


def _holds(station: ReservationPort, reserved_tag: str | None, parent: str | None, id_tag: str) -> bool:
    """§5.13: the reserved idTag, or one whose parentIdTag is the reservation's."""
    if reserved_tag is not None and reserved_tag.casefold() == id_tag.casefold():
        return True
    return parent is not None and (_parent_of(station, id_tag) or "").casefold() == parent.casefold()


def _free(connector: Connector) -> bool:
    return _connector_verdict(connector, -1) == ReservationStatus.ACCEPTED


def reserved_for_other(station: ReservationPort, connector: Connector, id_tag: str) -> bool:
    """Whether a reservation keeps ``id_tag`` from starting on ``connector``."""
    state = station.features.get(KEY)
    if connector.reservation_id is not None:
        parent = state.parents.get(connector.reservation_id) if state is not None else None
        if not _holds(station, connector.reserved_id_tag, parent, id_tag):
            return True
    whole = state.whole_station if state is not None else None
    if whole is None or _holds(station, whole.id_tag, whole.parent_id_tag, id_tag):
        return False
    # A reservation of connector 0: one connector stays free for its idTag.
    return not any(_free(other) for other in station.connectors if other is not connector)


def use_reservation(station: ReservationPort, connector: Connector, id_tag: str, now_s: float) -> int | None:
    """A transaction of ``id_tag`` starts on ``connector``: the reservation it
    uses (its id goes into StartTransaction.req) ends."""
    state = station.features.get(KEY)
    if connector.reservation_id is not None:
        reservation_id = connector.reservation_id
        parent = state.parents.get(reservation_id) if state is not None else None
        if _holds(station, connector.reserved_id_tag, parent, id_tag):
            _release(station, connector, now_s, restore=False)  # the transaction sets the status
            return reservation_id
    whole = state.whole_station if state is not None else None
    if whole is not None and _holds(station, whole.id_tag, whole.parent_id_tag, id_tag):
        state.whole_station = None
        return whole.reservation_id
    return None


HANDLERS: dict[type, Callable[..., Any]] = {
    ReserveNowReq: reserve_now,
    CancelReservationReq: cancel_reservation,
}
