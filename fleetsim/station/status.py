"""StatusNotification (OCPP 1.6 §4.9, §6.47): what each connector is doing, and
connector 0 for the station as a whole.

A status is *decided* when it changes and *reported* when its notification is
queued; the two differ while the station is offline (it reports what changed
when it is back) and while MinimumStatusDuration (§9.1) holds a short-lived
status back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetsim.ocpp.enums import ChargePointErrorCode, ChargePointStatus
from fleetsim.ocpp.payloads.core import StatusNotificationReq
from fleetsim.station.connector import Connector
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import StatusPort


def idle_status(connector: Connector) -> ChargePointStatus:
    """The status of a connector with no session on it."""
    if connector.inoperative:
        return ChargePointStatus.UNAVAILABLE
    if connector.reservation_id is not None:
        return ChargePointStatus.RESERVED
    return ChargePointStatus.AVAILABLE


def station_status(station: StatusPort) -> ChargePointStatus:
    """Connector 0: Unavailable when the whole station is (§5.2), else Available."""
    return ChargePointStatus.UNAVAILABLE if all(c.inoperative for c in station.connectors) else ChargePointStatus.AVAILABLE


def set_status(station: StatusPort, connector: Connector, status: ChargePointStatus, now_s: float) -> None:
    if connector.status == status:
        return
    connector.status = status
    connector.status_since_s = now_s
    minimum_s = station.config.get_int("MinimumStatusDuration", 0)
    if minimum_s > 0:
        # §9.1 MinimumStatusDuration: report a status only once it has lasted this long.
        station.at(now_s + station.sim_s(minimum_s), lambda now: _report_if_current(station, connector, status, now))
    else:
        _report_if_current(station, connector, status, now_s)


def _report_if_current(station: StatusPort, connector: Connector, status: ChargePointStatus, now_s: float) -> None:
    if connector.status == status and connector.reported_status != status:
        send(station, connector.connector_id, now_s)


def send(station: StatusPort, connector_id: int, now_s: float, *, front: bool = False, triggered: bool = False) -> None:
    """Queue the StatusNotification of a connector (0: the station)."""
    if not station.online:
        return  # reported once the station is back (report_changed)
    if connector_id == 0:
        status, error_code, since_s = station_status(station), ChargePointErrorCode.NO_ERROR, now_s
        station.reported_station_status = status
    else:
        connector = station.connectors[connector_id - 1]
        status, error_code, since_s = connector.status, connector.error_code, connector.status_since_s
        connector.reported_status = status
    # The timestamp is when the status began, not when it could be reported.
    request = StatusNotificationReq(connector_id=connector_id, error_code=error_code, status=status,
                                    timestamp=station.wall(min(since_s, now_s)))
    call = Outgoing("StatusNotification", request, now_s, before_accept=triggered)
    if front:
        station.queue.push_front(call)
    else:
        station.enqueue(call)


def report_all(station: StatusPort, now_s: float) -> None:
    """After a boot: every connector, 0 first (§4.2); what was queued before is stale."""
    station.queue.discard("StatusNotification")
    for connector_id in range(len(station.connectors) + 1):
        send(station, connector_id, now_s)


def report_changed(station: StatusPort, now_s: float) -> None:
    """After a reconnect: what changed while offline."""
    if station.reported_station_status != station_status(station):
        send(station, 0, now_s)
    for connector in station.connectors:
        if connector.reported_status != connector.status:
            send(station, connector.connector_id, now_s)


def report_station(station: StatusPort, now_s: float) -> None:
    """Connector 0's notification, when the station's own status changed."""
    if station.reported_station_status != station_status(station):
        send(station, 0, now_s)


# ---------------------------------------------------------------- availability (§5.2)


def set_availability(station: StatusPort, connector: Connector, inoperative: bool, now_s: float) -> None:
    connector.inoperative = inoperative
    if inoperative:
        connector.authorized_id_tag = None  # an Unavailable connector takes no session (§5.2): the claim goes
    if connector.transaction is None:
        set_status(station, connector, idle_status(connector) if not connector.plugged or inoperative
                   else ChargePointStatus.PREPARING, now_s)


def apply_scheduled_availability(station: StatusPort, connector: Connector, now_s: float) -> None:
    """A ChangeAvailability that waited for the connector's transaction to end (Scheduled)."""
    scheduled, connector.inoperative_scheduled = connector.inoperative_scheduled, None
    if scheduled is not None:
        set_availability(station, connector, scheduled, now_s)
        report_station(station, now_s)


# ---------------------------------------------------------------- TriggerMessage


def trigger(station: StatusPort, connector_id: int | None, now_s: float) -> None:
    """TriggerMessage(StatusNotification): one connector, or all of them in order."""
    targets = [connector_id] if connector_id is not None else list(range(len(station.connectors) + 1))
    for target in reversed(targets):  # pushed to the front: reversed, so they go out in order
        send(station, target, now_s, front=True, triggered=True)
