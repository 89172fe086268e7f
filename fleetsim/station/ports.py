"""The narrow interfaces the station's modules are written against.

Each module of the station does its part with functions that take the
station as their first argument; the type of that argument is the port below
that names what the module reads, writes and calls back, and nothing else.
:class:`fleetsim.station.station.Station` provides every port (a test checks
it), and only ``station.py`` imports it: the modules depend on these
protocols, never on the station, so the package has no import cycle.

A port's methods are how a module calls *up*: a feature that changes a
connector's power asks the station to update it (``update_power``), which the
transaction code does, and that code in turn calls the features' hooks.
Calls *down* are plain function calls on the module below.

The ports, from the bottom up:

* :class:`Clock`, :class:`Sender`: the station's time and timers, and where
  its CALLs go; most ports include them;
* :class:`StatusPort`, :class:`MeterPort`, :class:`AuthPort`: StatusNotification,
  meter values, idTags (:mod:`.status`, :mod:`.metering`, :mod:`.authorization`);
* one port per feature profile (:mod:`.features`), and :class:`FeaturePort`,
  all of them, for the hooks of :mod:`.features` itself;
* :class:`FaultPort`: the station's own faults (:mod:`.faults`);
* :class:`ChargingPort`, :class:`SenderPort`, :class:`LifecyclePort` and
  :class:`CsmsCallPort`: the core that ties the others together
  (:mod:`.charging`, :mod:`.sending`, :mod:`.lifecycle`, :mod:`.handlers`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from fleetsim.metrics.recorder import ModelStats
from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import ChargePointStatus, Reason, RegistrationStatus
from fleetsim.station.config import Configuration
from fleetsim.station.connector import Connector
from fleetsim.station.model import StationModel
from fleetsim.station.outgoing import Outgoing, OutgoingQueue
from fleetsim.station.timebase import Timebase

# ------------------------------------------------------------------ building blocks


@runtime_checkable
class Clock(Protocol):
    """Engine time and the station's own timers; ``timebase`` turns engine
    time into the wall-clock time OCPP messages carry."""

    timebase: Timebase

    def at(self, when_s: float, action: Callable[[float], None]) -> None:
        """Run ``action(now_s)`` at engine time ``when_s``."""

    def sim_s(self, seconds: float) -> float:
        """Engine seconds for a simulated duration."""

    def wall(self, now_s: float) -> datetime:
        """``timebase.wall(now_s)``: the timestamp OCPP messages carry."""


@runtime_checkable
class Sender(Protocol):
    """Where the station's CALLs go: queued last (``enqueue``), or first
    (``queue.push_front``) for a message the CSMS triggered."""

    online: bool
    queue: OutgoingQueue

    def enqueue(self, call: Outgoing) -> None: ...


# ------------------------------------------------------------------ statuses, meter values, idTags


@runtime_checkable
class StatusPort(Clock, Sender, Protocol):
    """:mod:`.status`: the connectors' statuses and their notifications."""

    connectors: list[Connector]
    config: Configuration
    reported_station_status: ChargePointStatus | None


@runtime_checkable
class MeterPort(Clock, Sender, Protocol):
    """:mod:`.metering`: samples of the connectors' meters."""

    connectors: list[Connector]
    config: Configuration
    aligned_due_s: float
    aligned_held: tuple[float, int] | None

    def update_power(self, connector: Connector, now_s: float) -> None: ...


@runtime_checkable
class AuthPort(Sender, Protocol):
    """:mod:`.authorization`: the local list, the cache, the CSMS."""

    timebase: Timebase
    config: Configuration
    stats: ModelStats
    registration: RegistrationStatus | None
    local_list: dict[str, IdTagInfo]
    auth_cache: dict[str, IdTagInfo]

    def wall(self, now_s: float) -> datetime:
        """``timebase.wall(now_s)``: the timestamp OCPP messages carry."""


# ------------------------------------------------------------------ the feature profiles


@runtime_checkable
class SmartChargingPort(Clock, Protocol):
    """:mod:`.features.smart_charging`: profiles kept in ``features``, limits
    put on the connectors."""

    features: dict[str, Any]
    config: Configuration
    stats: ModelStats
    model: StationModel
    connectors: list[Connector]

    def connector(self, connector_id: int) -> Connector | None: ...

    def update_power(self, connector: Connector, now_s: float) -> None: ...


@runtime_checkable
class ReservationPort(Clock, Protocol):
    """:mod:`.features.reservation`: reservations on the connectors."""

    features: dict[str, Any]
    stats: ModelStats
    model: StationModel
    connectors: list[Connector]
    local_list: dict[str, IdTagInfo]
    auth_cache: dict[str, IdTagInfo]

    def connector(self, connector_id: int) -> Connector | None: ...

    def set_status(self, connector: Connector, new_status: ChargePointStatus, now_s: float) -> None: ...


@runtime_checkable
class LocalAuthPort(Protocol):
    """:mod:`.features.local_auth`: the Local Authorization List."""

    config: Configuration
    stats: ModelStats
    local_list: dict[str, IdTagInfo]
    local_list_version: int


@runtime_checkable
class FirmwarePort(Clock, Sender, Protocol):
    """:mod:`.features.firmware`: updates (which reboot the station) and uploads."""

    features: dict[str, Any]
    config: Configuration
    stats: ModelStats
    model: StationModel
    connectors: list[Connector]
    rng: random.Random
    charge_point_id: str

    def reboot(self, reason: Reason, now_s: float) -> None: ...


@runtime_checkable
class SecurityPort(FirmwarePort, Protocol):
    """:mod:`.features.security`: certificates, security events, and the
    extended TriggerMessage (which triggers Core messages too)."""

    def connector(self, connector_id: int) -> Connector | None: ...

    def trigger(self, action: str, connector_id: int | None, now_s: float) -> None: ...

    def effect_at(self, now_s: float, delay_s: float) -> float: ...

    def reaction(self, sampler: Callable[[random.Random], float]) -> float: ...


@runtime_checkable
class FeaturePort(SmartChargingPort, ReservationPort, LocalAuthPort, SecurityPort, Protocol):
    """:mod:`.features`: the hooks that reach every feature profile."""


# ------------------------------------------------------------------ faults


@runtime_checkable
class FaultPort(Clock, Protocol):
    """:mod:`.faults`: a connector fault, a power loss, a wrong clock."""

    stats: ModelStats
    model: StationModel
    connectors: list[Connector]

    def connector(self, connector_id: int) -> Connector | None: ...

    def on_timer(self, now_s: float) -> None: ...

    def set_status(self, connector: Connector, new_status: ChargePointStatus, now_s: float) -> None: ...

    def stop_transaction(self, connector: Connector, reason: Reason, now_s: float, *,
                         id_tag: str | None = None) -> None: ...

    def go_down(self, now_s: float, until_s: float) -> None: ...


# ------------------------------------------------------------------ the core


@runtime_checkable
class ChargingPort(StatusPort, MeterPort, AuthPort, FeaturePort, Protocol):
    """:mod:`.charging`: transactions, which every other part reacts to."""

    closing: bool
    offline_until_s: float


@runtime_checkable
class SenderPort(Clock, Sender, Protocol):
    """:mod:`.sending`: the CALL in flight, its answer or its timeout."""

    config: Configuration
    stats: ModelStats
    model: StationModel
    registration: RegistrationStatus | None
    want_disconnect: bool
    online_since_s: float
    outbox: list[bytes]
    heartbeat_due_s: float
    timed_out_id: str | None

    def interval_s(self, name: str) -> float:
        """A configured interval in engine seconds (INF: none)."""


@runtime_checkable
class LifecyclePort(ChargingPort, SenderPort, Protocol):
    """:mod:`.lifecycle`: boot, reset and down time, triggered messages."""

    serial_number: str
    boot_due_s: float
    ever_booted: bool


@runtime_checkable
class CsmsCallPort(LifecyclePort, Protocol):
    """:mod:`.handlers`: the CSMS's calls, answered after a reaction delay."""

    reply_at_s: float
    ping_due_s: float

    def schedule_ping(self, now_s: float) -> None: ...

    def pending_timers(self) -> int: ...
