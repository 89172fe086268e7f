"""What the embedded CSMS is told to be: its answers, its speed, its faults and
the calls it makes of its own accord.

Pure: no clock, no IO.  Every field has a default that makes a fast, lenient
Central System, the right target for a load run; tests and scenarios change
only what they exercise.  Loadable from TOML (``msgspec.toml.decode(text,
type=CsmsConfig)``), field names as written here.
"""

from __future__ import annotations

import math
import random
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import msgspec

from fleetsim.ocpp.actions import ACTIONS, Action, Initiator
from fleetsim.ocpp.enums import AuthorizationStatus, DataTransferStatus, RegistrationStatus
from fleetsim.ocpp.frames import DEFAULT_MAX_FRAME_BYTES

_Z_99: Final = 2.3263478740408408  # the standard normal's 0.99 quantile
# A CSMS that serves fewer than one CALL a minute is no load-test target: a
# larger service time is more likely milliseconds written as seconds.
MAX_SERVICE_TIME_S: Final = 60.0


class DelayKind(StrEnum):
    NONE = "none"
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


class ResponseDelay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How long the CSMS waits before answering a CALL, in milliseconds.

    Lognormal is given by its median and 99th percentile, the two figures a
    latency report shows, rather than by mu and sigma.
    """

    kind: DelayKind = DelayKind.NONE
    fixed_ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    median_ms: float = 0.0
    p99_ms: float = 0.0

    def __post_init__(self) -> None:
        if min(self.fixed_ms, self.low_ms, self.high_ms, self.median_ms, self.p99_ms) < 0:
            raise ValueError("delays cannot be negative")
        if self.kind is DelayKind.UNIFORM and self.low_ms > self.high_ms:
            raise ValueError("uniform delay: low_ms is above high_ms")
        if self.kind is DelayKind.LOGNORMAL and not 0 < self.median_ms <= self.p99_ms:
            raise ValueError("lognormal delay needs 0 < median_ms <= p99_ms")

    def draw_ms(self, rng: random.Random) -> float:
        match self.kind:
            case DelayKind.NONE:
                return 0.0
            case DelayKind.FIXED:
                return self.fixed_ms
            case DelayKind.UNIFORM:
                return rng.uniform(self.low_ms, self.high_ms)
            case DelayKind.LOGNORMAL:
                mu = math.log(self.median_ms)
                sigma = (math.log(self.p99_ms) - mu) / _Z_99
                return rng.lognormvariate(mu, sigma)
        raise AssertionError(f"unreachable: {self.kind!r}")

    @classmethod
    def parse(cls, text: str) -> ResponseDelay:
        """``none``, ``fixed:5ms``, ``uniform:1ms:20ms`` or
        ``lognormal:median=5ms,p99=50ms`` (units us, ms or s; bare numbers are ms)."""
        kind, _, rest = text.strip().partition(":")
        try:
            match kind:
                case "none" if not rest:
                    return cls()
                case "fixed":
                    return cls(DelayKind.FIXED, fixed_ms=parse_duration_ms(rest))
                case "uniform":
                    low, sep, high = rest.partition(":")
                    if sep:
                        return cls(DelayKind.UNIFORM, low_ms=parse_duration_ms(low), high_ms=parse_duration_ms(high))
                case "lognormal":
                    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
                    if fields.keys() == {"median", "p99"}:
                        median, p99 = parse_duration_ms(fields["median"]), parse_duration_ms(fields["p99"])
                        return cls(DelayKind.LOGNORMAL, median_ms=median, p99_ms=p99)
        except ValueError as error:
            raise ValueError(f"bad delay {text!r}: {error}") from None
        raise ValueError(
            f"bad delay {text!r}: use none, fixed:5ms, uniform:1ms:20ms or lognormal:median=5ms,p99=50ms"
        )


_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)?\s*")
_MS_PER_UNIT: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, None: 1.0}


def parse_duration_ms(text: str) -> float:
    """``250us``, ``5ms``, ``1.5s`` or a bare number of milliseconds."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(match[1]) * _MS_PER_UNIT[match[2]]


class MalformedKind(StrEnum):
    PAYLOAD = "payload"  # the right unique id, a payload no schema allows: the station can tell at once
    JSON = "json"  # not JSON at all: the station can only time out


class Faults(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Misbehaviour on purpose, for testing the stations' side.

    ``stall_at_s`` counts from the server's start: during
    ``[stall_at_s, stall_at_s + stall_for_s)`` the CSMS answers nothing, sends
    nothing and completes no handshake (what a CSMS in a long GC pause or
    behind a saturated proxy looks like).  ``drop_after_messages`` closes a
    connection, without a close frame, once it has received that many messages.
    ``malformed_every`` answers every Nth CALL of a connection with a malformed
    frame.  ``refuse_subprotocol`` accepts the upgrade without agreeing to
    ocpp1.6, which OCPP-J 1.6 §3.1.2 makes a failed connection.
    """

    stall_at_s: float | None = None
    stall_for_s: float = 0.0
    drop_after_messages: int | None = None
    malformed_every: int | None = None
    malformed_kind: MalformedKind = MalformedKind.PAYLOAD
    refuse_subprotocol: bool = False

    def __post_init__(self) -> None:
        if self.stall_for_s < 0 or (self.stall_at_s is not None and self.stall_at_s < 0):
            raise ValueError("stall times cannot be negative")
        if self.drop_after_messages is not None and self.drop_after_messages < 1:
            raise ValueError("drop_after_messages must be at least 1")
        if self.malformed_every is not None and self.malformed_every < 1:
            raise ValueError("malformed_every must be at least 1")


class BasicAuth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """HTTP Basic passwords (OCPP 1.6 security whitepaper §2.1, security profile
    1): the user name is the charge point id, the password its AuthorizationKey.
    A per-station password wins over the shared one; a station with neither is
    refused.  ``repr`` never shows a password."""

    shared_password: str | None = None
    passwords: dict[str, str] = {}

    def password_for(self, charge_point_id: str) -> bytes | None:
        password = self.passwords.get(charge_point_id, self.shared_password)
        return None if password is None else password.encode()

    def __repr__(self) -> str:
        count = len(self.passwords) + (self.shared_password is not None)
        return f"BasicAuth(<{count} password(s) redacted>)"


class TlsFiles(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """TLS of the CSMS (OCPP 1.6 security whitepaper §2, security profiles 2
    and 3): PEM file paths, read when the server starts.  ``cert_file`` holds
    the server certificate and its chain, ``key_file`` the private key (or
    None when it is in ``cert_file``).  With ``client_ca_file`` every station
    must show a certificate issued under it (profile 3); without, the CSMS
    asks for none (profile 2, stations prove themselves with Basic auth)."""

    cert_file: str
    key_file: str | None = None
    client_ca_file: str | None = None


_CSMS_INITIATED: Final = frozenset(
    action for action, spec in ACTIONS.items() if spec.initiator in (Initiator.CENTRAL_SYSTEM, Initiator.EITHER)
)


class TrafficRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One kind of CSMS-initiated CALL, sent to every booted station as a
    Poisson process of the given rate.  ``payload`` holds wire-named fields
    (``{"idTag": "ABC"}``) that replace those of the generated request."""

    action: Action
    per_station_per_hour: float = 0.0
    per_station_per_s: float = 0.0
    payload: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if self.action not in _CSMS_INITIATED:
            raise ValueError(f"{self.action} is not sent by a Central System")
        if (self.per_station_per_hour > 0) == (self.per_station_per_s > 0) or min(
            self.per_station_per_hour, self.per_station_per_s
        ) < 0:
            raise ValueError(
                f"{self.action}: give exactly one positive rate, per_station_per_hour or per_station_per_s"
            )

    @property
    def rate_per_s(self) -> float:
        return self.per_station_per_s or self.per_station_per_hour / 3600.0

    @classmethod
    def parse(cls, text: str) -> TrafficRule:
        """``RemoteStartTransaction=2/h`` or ``Heartbeat=0.5/s`` (a bare number is per hour)."""
        action, sep, rate = text.partition("=")
        if not sep:
            raise ValueError(f"bad call rate {text!r}: use ACTION=RATE/h or ACTION=RATE/s")
        number, _, unit = rate.strip().partition("/")
        try:
            value = float(number)
            action_value = Action(action.strip())
        except ValueError:
            raise ValueError(f"bad call rate {text!r}: unknown action or rate") from None
        if unit in ("", "h"):
            return cls(action_value, per_station_per_hour=value)
        if unit == "s":
            return cls(action_value, per_station_per_s=value)
        raise ValueError(f"bad call rate {text!r}: the unit is /h or /s")


class CsmsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the embedded CSMS does, in one value."""

    # BootNotification.conf (OCPP 1.6 §6.4): ``interval`` is the heartbeat
    # interval when Accepted, the wait before the next boot otherwise.
    heartbeat_interval_s: int = 300
    boot_status: RegistrationStatus = RegistrationStatus.ACCEPTED
    boot_retry_interval_s: int = 60
    # Answer a CALL of a station not (yet) Accepted with a SecurityError, as many
    # production CSMSs do (OCPP 1.6 §4.2.1 forbids the station to send it).
    require_boot: bool = False
    # IdTagInfo verdicts (OCPP 1.6 §7.2).  Tags compare case-insensitively
    # (IdToken is a CiString20, §7.28).
    id_tags: dict[str, AuthorizationStatus] = {}
    unknown_id_tag: AuthorizationStatus = AuthorizationStatus.ACCEPTED
    concurrent_tx: bool = False  # ConcurrentTx for a tag already in a transaction
    data_transfer_status: DataTransferStatus = DataTransferStatus.ACCEPTED
    first_transaction_id: int = 1
    # Several CSMS processes behind one listening socket (``fleetsim csms
    # serve --workers``) hand out disjoint transaction ids: the k-th of n
    # starts at first + k and steps by n.
    transaction_id_step: int = 1
    delay: ResponseDelay = ResponseDelay()
    # A CSMS of known capacity (fleetsim.csms.service): every CALL of every
    # station waits its turn at one server that takes exactly this long per
    # CALL, so one process answers at most 1 / service_time_s CALLs per second.
    # 0: off, every CALL answered at once.  ``delay`` composes with it: drawn
    # after the service, it adds latency and takes no capacity.
    service_time_s: float = 0.0
    seed: int = 0
    faults: Faults = Faults()
    basic_auth: BasicAuth | None = None
    tls: TlsFiles | None = None  # None: plain ws:// (security profile 1 at most)
    traffic: tuple[TrafficRule, ...] = ()
    csms_call_timeout_s: float = 30.0
    csms_call_queue: int = 8  # CSMS calls waiting behind the one in flight, per connection
    max_message_bytes: int = DEFAULT_MAX_FRAME_BYTES
    handshake_timeout_s: float = 10.0  # the opening handshake, TLS and HTTP upgrade together
    send_stall_s: float = 30.0  # a station that reads nothing for this long is cut (real seconds)
    max_partial_bytes: int = 256 * 1024 * 1024  # unfinished frames of all connections together; past it: 1008
    max_charge_points: int = 1_000_000  # charge point ids the CSMS keeps state for; later new ones get HTTP 503
    # The simulated clock's speed: the times the CSMS writes (currentTime,
    # reservation expiry, schedule starts) run this many times faster than
    # real time, like those of the stations of an accelerated run.
    speed: float = 1.0
    # Where that clock starts (a run's simulated start); None: the real time
    # at which the CSMS starts.
    clock_origin: datetime | None = None

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s < 0 or self.boot_retry_interval_s < 0:
            raise ValueError("intervals cannot be negative")
        if self.csms_call_timeout_s <= 0 or self.handshake_timeout_s <= 0 or not 0 < self.send_stall_s < 1e6:
            raise ValueError("timeouts must be positive")
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if not (math.isfinite(self.service_time_s) and 0 <= self.service_time_s <= MAX_SERVICE_TIME_S):
            raise ValueError(f"service_time_s must be from 0 (off) to {MAX_SERVICE_TIME_S:g} seconds, "
                             f"not {self.service_time_s!r}")
        if (self.csms_call_queue < 0 or self.max_message_bytes < 1 or self.max_charge_points < 1
                or self.max_partial_bytes < 0):
            raise ValueError("csms_call_queue and max_message_bytes out of range")
