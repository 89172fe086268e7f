"""What ``fleetsim run`` and its scenario side share: durations and rates as
the command line writes them, the embedded CSMS's default traffic, the TLS
context and the Basic-auth password read from the environment."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fleetsim.csms.config import TrafficRule
from fleetsim.station.build import group_ids

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/s)?\s*$")

# The embedded CSMS's default CSMS-initiated traffic: every action, so a first
# run shows how each model answers each call (per station per hour).
DEFAULT_CSMS_CALLS = (
    "RemoteStartTransaction=6/h", "RemoteStopTransaction=4/h", "GetConfiguration=4/h", "ChangeConfiguration=4/h",
    "TriggerMessage=4/h", "ChangeAvailability=2/h", "ClearCache=2/h", "DataTransfer=2/h", "UnlockConnector=2/h",
    "SetChargingProfile=4/h", "GetCompositeSchedule=2/h", "ClearChargingProfile=2/h", "ReserveNow=2/h",
    "CancelReservation=2/h", "SendLocalList=2/h", "GetLocalListVersion=2/h", "GetDiagnostics=1/h",
    "UpdateFirmware=1/h", "Reset=1/h", "ExtendedTriggerMessage=1/h", "GetInstalledCertificateIds=1/h",
    "GetLog=1/h", "CertificateSigned=1/h", "InstallCertificate=1/h", "DeleteCertificate=1/h",
    "SignedUpdateFirmware=1/h",
)


def parse_duration_s(text: str) -> float:
    """``90s``, ``10m``, ``2h``, ``500ms`` or plain seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 10m or 2h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


class Duration(click.ParamType):
    """A duration in seconds; every one the command line takes is a length of
    time something lasts or repeats, so 0 is refused."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        seconds = value if isinstance(value, float) else parse_duration_s(str(value))
        if seconds <= 0:
            self.fail(f"{value!r} must be longer than 0", param, ctx)
        return seconds


def parse_ramp_per_s(text: str) -> float:
    """``--ramp``: stations started per second (``200/s`` or ``200``); 0
    starts them all at once."""
    rate = _RATE.match(text)
    if rate is None:
        raise click.BadParameter(f"{text!r} is not a rate like 200/s", param_hint="--ramp")
    return float(rate.group(1))


def csms_traffic(choices: tuple[str, ...]) -> tuple[TrafficRule, ...]:
    """``--csms-call ACTION=RATE`` (repeatable); none: DEFAULT_CSMS_CALLS."""
    try:
        return tuple(TrafficRule.parse(text) for text in (choices or DEFAULT_CSMS_CALLS))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--csms-call") from error


def ssl_context(ca_file: Path | None, cert: Path | None, key: Path | None, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        # Security profile 3: the station proves itself with a client certificate.
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def password_from_env(variable: str) -> bytes:
    """The Basic-auth password (AuthorizationKey) held by ``variable``; raises
    ValueError naming the variable (never the value) when it is empty or unset."""
    secret = os.environ.get(variable)
    if not secret:
        raise ValueError(f"environment variable {variable} is empty or unset")
    return secret.encode()


def one_password(password: bytes) -> Callable[[str], bytes | None]:
    """Every station authenticates with the same password (security profiles
    1-2: the user-id is its charge point id)."""
    return lambda _charge_point_id: password


def check_charge_point_ids(fleet: Any, id_prefix: str) -> None:
    """The fleet's charge point ids (``fleet``: RunSpec.fleet) go in URLs and
    Basic auth and name one station each: a bad or clashing one is a usage
    error of --id-prefix here rather than a failed run."""
    seen: set[str] = set()
    for share in fleet:
        try:
            ids = group_ids(share.id_pattern, id_prefix, share.profile_id, share.stations)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--id-prefix") from error
        clash = next((cp_id for cp_id in ids if cp_id in seen), None)
        if clash is not None:
            raise click.BadParameter(f"charge point id {clash!r} would name two stations", param_hint="--id-prefix")
        seen.update(ids)
