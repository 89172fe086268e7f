"""Faults of the station itself, as pure steps of its state machine: a
connector fault, a power loss, a wrong clock.

Each step is meant to run as one of the station's own timers (:func:`inject`),
so the station settles after it as after any other event: it sends what may
go and computes its next wake-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from fleetsim.ocpp.enums import ChargePointErrorCode, ChargePointStatus, Reason
from fleetsim.station import status

if TYPE_CHECKING:
    from fleetsim.station.ports import FaultPort

INF = float("inf")
# How long a station that reports its StopTransactions before going down
# (AQ-7.1) keeps running on its hold-up supply: engine seconds, so that one
# round trip to the CSMS fits whatever the time acceleration.
POWER_HOLDUP_S = 1.0


def inject(station: FaultPort, step: Callable[[float], None], now_s: float) -> None:
    """Run ``step(now_s)`` on the station now, then let it settle."""
    station.at(now_s, step)
    station.on_timer(now_s)


# ---------------------------------------------------------------- connector faults


def connector_fault(station: FaultPort, connector_id: int, error_code: ChargePointErrorCode, now_s: float,
                    recover_after_s: float) -> None:
    """The connector fails with ``error_code``: StatusNotification Faulted with
    that errorCode (OCPP 1.6 §4.9, §7.6), the transaction on it stops, and after
    ``recover_after_s`` (simulated) the connector recovers."""
    connector = station.connector(connector_id)
    if connector is None or connector.status is ChargePointStatus.FAULTED:
        return  # already down: the fault in force decides the recovery
    station.stats.count("fault.connector")
    connector.error_code = error_code
    # A session waiting for its plug (a badge, an Accepted RemoteStart) ends
    # with the fault: a Faulted connector takes none (§4.9), nor after it.
    connector.authorized_id_tag = None
    station.set_status(connector, ChargePointStatus.FAULTED, now_s)
    # OCPP 1.6 §7.32 (Reason): none of the specific reasons (EmergencyStop is
    # "the Emergency Stop button was used", PowerLoss "complete loss of power")
    # describes a fault the station detected itself, so it reports Other, "any
    # other reason".  The Faulted status above already told the CSMS why.
    stopped = connector.transaction is not None
    station.stop_transaction(connector, Reason.OTHER, now_s)
    connector.advance(now_s)  # no power flows while Faulted
    station.at(now_s + station.sim_s(recover_after_s),
               lambda now: connector_recovered(station, connector_id, now, stopped_transaction=stopped))


def connector_recovered(station: FaultPort, connector_id: int, now_s: float, *,
                        stopped_transaction: bool = True) -> None:
    """The fault clears: NoError, and the status the connector now has (§4.9:
    Finishing while the EV of the session the fault stopped is still plugged
    in; Preparing for an EV plugged in with no transaction yet)."""
    connector = station.connector(connector_id)
    if connector is None or connector.status is not ChargePointStatus.FAULTED:
        return
    connector.error_code = ChargePointErrorCode.NO_ERROR
    if connector.plugged:
        recovered = ChargePointStatus.FINISHING if stopped_transaction else ChargePointStatus.PREPARING
    else:
        recovered = status.idle_status(connector)
    station.set_status(connector, recovered, now_s)
    station.stats.count("fault.connector.recovered")


# ---------------------------------------------------------------- power loss


def power_loss(station: FaultPort, now_s: float, for_s: float) -> None:
    """The station loses power for ``for_s`` (simulated): charging stops, the
    connection goes, and the station boots again once power is back.  Its
    transactions end with reason PowerLoss (OCPP 1.6 §7.32), reported as the
    model certified: AQ-7.1 before going down, AQ-7.2 after being back online."""
    station.stats.count("fault.power_loss")
    back_s = now_s + station.sim_s(for_s)
    if station.model.stop_transaction_before_power_down:  # AQ-7.1
        _stop_all(station, now_s)
        holdup_s = min(POWER_HOLDUP_S, back_s - now_s)
        station.at(now_s + holdup_s, lambda now: _power_down(station, now, back_s))
    else:
        # AQ-7.2 (and a model that certified neither way): the transactions end
        # now, on the meter as it stood, but the station is already down; the
        # StopTransactions wait in its queue and go after the next boot.
        _power_down(station, now_s, back_s)
        _stop_all(station, now_s)


def _stop_all(station: FaultPort, now_s: float) -> None:
    for connector in station.connectors:
        station.stop_transaction(connector, Reason.POWER_LOSS, now_s)


def _power_down(station: FaultPort, now_s: float, back_s: float) -> None:
    # As after a hard reset, for as long as the power is off (simulated, as ``back_s``).
    station.go_down(now_s, back_s)
    for connector in station.connectors:
        connector.advance(now_s)


# ---------------------------------------------------------------- clock skew


def skew_clock(station: FaultPort, skew_s: float) -> None:
    """The station's clock is off by ``skew_s``: every timestamp it sends, and
    every date the CSMS sends it, is read on that clock; the people at the
    charger keep the true time of day.  Call before the run."""
    station.timebase = msgspec.structs.replace(station.timebase, skew_s=station.timebase.skew_s + skew_s)
    station.stats.count("fault.clock_skew")
