"""The scenario file's schema: one msgspec Struct per TOML table, decoded
straight from ``tomllib``'s output.  Field names are the names users write;
units are in the names (``_s``, ``_per_s``).  The ``sessions`` and ``faults``
tables are the session models' and fault plan's own Structs
(fleetsim.sessions), so each is defined once.

Every Struct forbids unknown fields: a typo is an error naming the field, not
a default silently used.  Counts, times and rates carry the bounds of
fleetsim.inputs, the same as the command line's.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from fleetsim.csms.config import Faults as CsmsFaults
from fleetsim.csms.config import TrafficRule
from fleetsim.inputs import (
    MAX_DURATION_S,
    MAX_INTEGER,
    MAX_RAMP_PER_S,
    MAX_SPEED,
    MAX_STATIONS,
)
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES, MAX_LISTED
from fleetsim.ocpp.enums import AuthorizationStatus, DataTransferStatus, RegistrationStatus
from fleetsim.sessions.config import ReplaySessions, SegmentSessions
from fleetsim.sessions.faults import FaultPlan
from fleetsim.spec.stages import MAX_STAGES
from fleetsim.station.backoff import Backoff

AwareDateTime = Annotated[datetime, msgspec.Meta(tz=True)]
# Lengths of time, bounded as on the command line (fleetsim.inputs).
Seconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_DURATION_S)]
SecondsOrNone = Annotated[float, msgspec.Meta(ge=0, le=MAX_DURATION_S)]  # 0: none at all
WholeSeconds = Annotated[int, msgspec.Meta(ge=0, le=int(MAX_DURATION_S))]
Stations = Annotated[int, msgspec.Meta(ge=1, le=MAX_STATIONS)]


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Target(_Table):
    """``[target]``: the CSMS under test.  Secrets are given by reference
    only (an environment variable or a file), so a scenario can be committed,
    copied into results and shared without leaking one."""

    csms: str | None = None  # ws:// or wss:// URL; None: the embedded CSMS on loopback
    # OCPP 1.6 security whitepaper §2: 0 none, 1 Basic auth on ws://, 2 TLS and
    # Basic auth, 3 TLS with client certificates.
    security_profile: Annotated[int, msgspec.Meta(ge=0, le=3)] = 0
    password_env: str | None = None  # environment variable holding the AuthorizationKey
    password_file: str | None = None  # file holding it (relative to the scenario's folder)
    ca_file: str | None = None  # CA bundle the CSMS certificate is checked against
    client_cert: str | None = None  # security profile 3: PEM, may include the key
    client_key: str | None = None
    insecure: bool = False  # do not verify the CSMS certificate (test setups only)
    source_addresses: tuple[str, ...] = ()  # local addresses, for more connections than one has ports


class Group(_Table):
    """``[[groups]]``: stations of one certified model, and what their
    drivers do."""

    model: str  # a profile id (`fleetsim profiles list`) or one from profile_files
    stations: Stations  # the whole scenario has at most MAX_STATIONS too
    name: str | None = None  # for the plan; default: the model
    # Charge point ids: a str.format pattern of ``n`` (1, 2, ...) and ``model``,
    # e.g. "AMS-{n:04d}"; None: ``<run.id_prefix>-<model>-<n:05d>``.
    id_pattern: str | None = None
    # Connector ids drivers use (e.g. [1] on a twin station where only one
    # bay has parking), each once; None: every connector of the model.
    connectors: Annotated[tuple[Annotated[int, msgspec.Meta(ge=1)], ...], msgspec.Meta(min_length=1)] | None = None
    # None: the simple idle/session cycle of [run] mean_idle_s / mean_session_s.
    sessions: SegmentSessions | ReplaySessions | None = None
    # Configuration keys as the CSMS set them before the run (ChangeConfiguration),
    # e.g. MeterValueSampleInterval = 300; each must be one the model accepts.
    configuration: dict[str, str | int | bool] = {}

    def configuration_values(self) -> tuple[tuple[str, str], ...]:
        """The keys and values as ChangeConfiguration would carry them."""
        return tuple((key, _config_text(value)) for key, value in self.configuration.items())

    @property
    def label(self) -> str:
        return self.name or self.model


def _config_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class StopMode(StrEnum):
    CLEAN = "clean"  # stop transactions and deliver their StopTransactions
    CLOSE = "close"  # just close the connections


class Timestamps(StrEnum):
    """What OCPP timestamps show under time acceleration."""

    SIMULATED = "simulated"  # the fleet's simulated time: an hour of charging spans an hour of timestamps
    WALL = "wall"  # the real clock: power computed from meter deltas then looks ``speed`` times higher


class StageTable(_Table):
    """``[[run.stages]]``: move to ``stations`` running stations at the run's
    ramp rate, then hold until ``duration_s`` (the ramp included) is up."""

    duration_s: Seconds
    stations: Annotated[int, msgspec.Meta(le=MAX_STATIONS)]  # below 0 is refused with a sentence (scenario.load)


class RunSettings(_Table):
    """``[run]``: how long, how fast, from which seed."""

    duration_s: Seconds = 60.0  # of real (engine) time
    # stations started per (real) second; 0: all at once
    ramp_per_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_RAMP_PER_S)] = 100.0
    # time acceleration: simulated seconds per real second (MIN_SPEED at least)
    speed: Annotated[float, msgspec.Meta(gt=0, le=MAX_SPEED)] = 1.0
    timestamps: Timestamps = Timestamps.SIMULATED
    # Simulated start: the session models' time of day and date, in the time
    # zone of its offset; None: the real start of the run.
    start: AwareDateTime | None = None
    seed: Annotated[int, msgspec.Meta(ge=-MAX_INTEGER, le=MAX_INTEGER)] = 1
    stop: StopMode = StopMode.CLEAN
    stop_grace_s: SecondsOrNone = 10.0  # real seconds to deliver the StopTransactions at the end
    interval_s: Seconds = 1.0  # real seconds, of latency.hlog and the time series (MIN_INTERVAL_S at least)
    id_prefix: str = "FS"
    reaction_delays: bool = True  # the certified models' measured reaction times
    connect_timeout_s: Seconds = 10.0  # real seconds
    reconnect: Backoff = Backoff()  # [run.reconnect]: base_s, cap_s (real seconds), jitter full/equal/none
    # The simple session cycle of groups without a [groups.sessions] table
    # (simulated seconds): idle between sessions, plugged in per session.
    mean_idle_s: Seconds = 600.0
    mean_session_s: Seconds = 1800.0
    # The percentiles of summary.json's latency figures (p50, p90, p99 and
    # p99.9 are always in), e.g. [50, 90, 95, 99, 99.9, 99.99].
    percentiles: Annotated[tuple[Annotated[float, msgspec.Meta(gt=0, lt=100)], ...],
                           msgspec.Meta(max_length=MAX_LISTED)] = DEFAULT_PERCENTILES
    # Load that changes during the run (k6's stages): the fleet starts empty,
    # each stage moves it to its target; the run lasts the stages' sum, so
    # duration_s is not given with them.
    stages: Annotated[tuple[StageTable, ...], msgspec.Meta(max_length=MAX_STAGES)] = ()


class CsmsSettings(_Table):
    """``[csms]``: what the embedded CSMS answers and sends of its own accord.
    Only with the embedded CSMS (no ``target.csms``)."""

    heartbeat_interval_s: WholeSeconds = 300  # BootNotification.conf interval
    boot_status: RegistrationStatus = RegistrationStatus.ACCEPTED
    boot_retry_interval_s: WholeSeconds = 60
    require_boot: bool = False
    # The verdict for a tag it does not know (OCPP 1.6 §7.2); None: Accepted,
    # or Invalid when the groups' sessions present id tags of their own.
    unknown_id_tag: AuthorizationStatus | None = None
    concurrent_tx: bool = False
    data_transfer_status: DataTransferStatus = DataTransferStatus.ACCEPTED
    delay: str = "none"  # response delay: none, fixed:5ms, uniform:1ms:20ms, lognormal:median=5ms,p99=50ms
    # CSMS-initiated calls as on the command line ("RemoteStartTransaction=6/h");
    # None: the same mix as `fleetsim run` without --csms-call.
    calls: tuple[str, ...] | None = None
    traffic: tuple[TrafficRule, ...] = ()  # the same, as tables (with a payload)
    csms_call_timeout_s: Seconds = 30.0  # real seconds
    faults: CsmsFaults = CsmsFaults()  # the CSMS misbehaving on purpose


class Scenario(_Table):
    """A whole scenario file."""

    groups: tuple[Group, ...]
    name: str | None = None
    description: str | None = None
    profile_files: tuple[str, ...] = ()  # extra profiles (`fleetsim profiles import`), relative paths
    thresholds: tuple[str, ...] = ()  # k6 syntax, judged like `fleetsim run --threshold` (abort suffix too)
    target: Target = Target()
    run: RunSettings = RunSettings()
    csms: CsmsSettings | None = None
    faults: FaultPlan = FaultPlan()

    @property
    def stations(self) -> int:
        return sum(group.stations for group in self.groups)
