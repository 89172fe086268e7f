"""Faults a scenario injects, and their seeded schedule (pure).

These Structs are the scenario file's ``[faults]`` table as it is
(fleetsim.scenario decodes TOML straight into them).  Times are simulated
seconds from the start of the run (``at_s``) and simulated durations
(``for_s``); time acceleration shrinks them on the engine's clock.  Shares are
of the fleet (0..1); rates are per station (or connector) per simulated hour.
"""

from __future__ import annotations

import msgspec

from fleetsim.ocpp.enums import ChargePointErrorCode


class _Fault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Drops(_Fault):
    """Random connection drops: each station loses its connection at this
    rate (a Poisson process), then reconnects with back-off."""

    per_station_per_hour: float


class Storm(_Fault):
    """A share of the fleet (all of it by default) loses its connection at
    once, then reconnects with back-off: a reconnect storm."""

    at_s: float
    share: float = 1.0


class Outage(_Fault):
    """The CSMS is unreachable for ``for_s``: every connection drops and no new
    one gets through.  The stations keep charging, queue their transaction
    messages and deliver them in order afterwards."""

    at_s: float
    for_s: float


class Reboots(_Fault):
    """Stations reboot (as after a hard Reset): at ``at_s`` a share of the fleet,
    or randomly at ``per_station_per_hour``."""

    at_s: float | None = None
    share: float = 1.0
    per_station_per_hour: float = 0.0


class ConnectorFaults(_Fault):
    """Connectors go Faulted with ``error_code`` at this rate and recover
    (Available again) after ``recover_after_s``."""

    per_connector_per_hour: float
    error_code: ChargePointErrorCode = ChargePointErrorCode.GROUND_FAILURE
    recover_after_s: float = 300.0


class PowerLoss(_Fault):
    """A share of the fleet loses power at ``at_s`` for ``for_s``: transactions
    end with reason PowerLoss, reported before going down or after coming back
    as the model certified (AQ-7.1 / AQ-7.2)."""

    at_s: float
    for_s: float = 60.0
    share: float = 1.0


class ClockSkew(_Fault):
    """A share of the stations run with a wrong clock: each one's timestamps
    are off by a uniform draw in [-max_skew_s, +max_skew_s]."""

    share: float
    max_skew_s: float


class FaultPlan(_Fault):
    drops: Drops | None = None
    storms: tuple[Storm, ...] = ()
    outages: tuple[Outage, ...] = ()
    reboots: tuple[Reboots, ...] = ()
    connector_faults: ConnectorFaults | None = None
    power_loss: tuple[PowerLoss, ...] = ()
    clock_skew: ClockSkew | None = None
