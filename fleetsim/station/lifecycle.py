"""A station's life with its CSMS: the BootNotification until it is Accepted
(OCPP 1.6 §4.2), a reset or reboot and the time it is down (§5.14), and the
messages a CSMS may trigger (§5.17), which are allowed even before the boot
was accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetsim.metrics.summary import BOOT
from fleetsim.ocpp.enums import Reason, RegistrationStatus
from fleetsim.ocpp.payloads.core import BootNotificationConf, BootNotificationReq, HeartbeatReq
from fleetsim.station import charging, features, metering, sending, status
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import LifecyclePort

INF = float("inf")
DEFAULT_BOOT_RETRY_S = 60.0  # BootNotification.conf interval 0 on Pending/Rejected
REBOOT_S = 10.0  # how long a station is down for a reset or reboot (simulated seconds)
# Engine seconds a station that goes down stays down at least, whatever the time
# acceleration: its link is closed before it may connect again.
MIN_DOWN_S = 0.005
# Engine seconds from the Reset.conf to going down: the reset's StopTransactions
# go out first (§5.14), one CSMS round trip each, at network speed, not simulated.
RESET_SHUTDOWN_S = 1.0


# ------------------------------------------------------------ boot


def send_boot(station: LifecyclePort, now_s: float) -> None:
    model = station.model
    request = BootNotificationReq(
        charge_point_vendor=model.vendor[:20],
        charge_point_model=model.model[:20],
        charge_point_serial_number=station.serial_number,
        firmware_version=model.firmware_version[:50] if model.firmware_version else None,
    )
    station.queue.discard("BootNotification")
    station.queue.push_front(Outgoing("BootNotification", request, now_s,
                                      on_answer=lambda conf, now: _on_boot_answer(station, conf, now),
                                      on_failure=lambda now: _on_boot_failed(station, now), before_accept=True))


def _on_boot_failed(station: LifecyclePort, now_s: float) -> None:
    # No usable answer (a CALLERROR, a timeout, an invalid conf): try again later.
    station.boot_due_s = now_s + station.sim_s(DEFAULT_BOOT_RETRY_S)


def _on_boot_answer(station: LifecyclePort, conf: BootNotificationConf, now_s: float) -> None:
    station.registration = conf.status
    station.stats.count(f"boot.{conf.status}")
    if conf.status == RegistrationStatus.ACCEPTED:
        station.stats.record_reaction(BOOT, now_s - station.online_since_s)  # connected → accepted
        if not station.ever_booted:
            station.ever_booted = True
            station.stats.count("stations.booted")
        if conf.interval > 0:
            station.config.set("HeartbeatInterval", str(conf.interval))
        sending.reset_heartbeat(station, now_s)
        metering.on_boot(station, now_s)
        status.report_all(station, now_s)
        features.on_boot_accepted(station, now_s)
    else:
        retry_s = conf.interval if conf.interval > 0 else DEFAULT_BOOT_RETRY_S
        station.boot_due_s = now_s + station.sim_s(retry_s)


def accepted_online(station: LifecyclePort) -> bool:
    """Connected, and its BootNotification Accepted: what a CSMS may call (§4.2.1)."""
    return station.online and station.registration == RegistrationStatus.ACCEPTED


# ------------------------------------------------------------ triggered messages


def trigger(station: LifecyclePort, action: str, connector_id: int | None, now_s: float) -> None:
    """Send a message because the CSMS asked for it (TriggerMessage); it is
    allowed even before the boot was accepted (OCPP 1.6 §4.2.1)."""
    match action:
        case "BootNotification":
            send_boot(station, now_s)
        case "Heartbeat":
            station.queue.push_front(Outgoing("Heartbeat", HeartbeatReq(), now_s, before_accept=True))
        case "StatusNotification":
            status.trigger(station, connector_id, now_s)
        case "MeterValues":
            metering.trigger(station, connector_id, now_s)
        case _:
            features.trigger(station, action, connector_id, now_s)


# ------------------------------------------------------------ reset and down time


def reboot(station: LifecyclePort, reason: Reason, now_s: float) -> None:
    """Reset (OCPP 1.6 §5.14): stop transactions, go down, come back, boot."""
    features.on_reboot(station, reason, now_s)
    for connector in station.connectors:
        charging.stop_transaction(station, connector, reason, now_s)
    # Down a moment after the Reset.conf went out (§5.14: answer, then reset).
    station.at(station.effect_at(now_s, RESET_SHUTDOWN_S), lambda now: _go_down_for_reboot(station, now))


def _go_down_for_reboot(station: LifecyclePort, now_s: float) -> None:
    go_down(station, now_s, now_s + station.sim_s(REBOOT_S))  # a reboot lasts simulated time
    station.stats.count("reboot")


def go_down(station: LifecyclePort, now_s: float, until_s: float) -> None:
    """Off until ``until_s`` (never less than the engine needs to close the
    link); registration None: it boots again when it is back (§4.2)."""
    station.want_disconnect = True
    station.registration = None
    station.offline_until_s = max(station.offline_until_s, until_s, now_s + MIN_DOWN_S)
    station.heartbeat_due_s = INF
