"""The embedded reference CSMS: the default target of a load run, and a
programmable one (delays, faults, its own CALLs) for tests.

``central``, ``config`` and ``outbound`` are pure; ``server`` and ``timers``
are the trio side.
"""

from fleetsim.csms.central import CentralSystem, ChargePointState, Refusal
from fleetsim.csms.config import BasicAuth, CsmsConfig, Faults, ResponseDelay, TrafficRule
from fleetsim.csms.server import CsmsStats, RunningCsms, serve_csms

__all__ = [
    "BasicAuth",
    "CentralSystem",
    "ChargePointState",
    "CsmsConfig",
    "CsmsStats",
    "Faults",
    "Refusal",
    "ResponseDelay",
    "RunningCsms",
    "TrafficRule",
    "serve_csms",
]
