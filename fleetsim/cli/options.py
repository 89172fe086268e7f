"""What ``fleetsim run`` and its scenario side share: durations and rates as
the command line writes them, each checked against its bound
(fleetsim.inputs), the embedded CSMS's default traffic, the TLS context and
the Basic-auth password read from the environment."""

from __future__ import annotations

import os
import re
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import click

from fleetsim.csms.config import TrafficRule
from fleetsim.inputs import (
    MAX_RAMP_PER_S,
    MAX_SOURCE_ADDRESSES,
    MAX_STATIONS,
    address_range,
    call_rate_problem,
    clip,
    number_problem,
    quote,
    seconds_problem,
)
from fleetsim.metrics.results import results_file_in
from fleetsim.spec.stages import Stage, StageError, check_stages
from fleetsim.station.build import FleetIdError, check_fleet_ids, uses_prefix

USAGE_ERROR = 2  # click's own code for a usage error

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
        raise click.BadParameter(f"{quote(text)} is not a duration like 90s, 10m or 2h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


class Duration(click.ParamType):
    """A duration in seconds; every one the command line takes is a length of
    time something lasts or repeats, so 0 is refused, and none is longer than
    fleetsim.inputs.MAX_DURATION_S (nor shorter than ``minimum_s``)."""

    name = "duration"

    def __init__(self, minimum_s: float = 0.0) -> None:
        self.minimum_s = minimum_s

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        seconds = value if isinstance(value, float) else parse_duration_s(str(value))
        problem = seconds_problem(seconds, minimum_s=self.minimum_s)
        if problem is not None:
            self.fail(f"{quote(value)} {problem}", param, ctx)
        return seconds


class Number(click.ParamType):
    """A finite number in [low, high]: click's FloatRange lets nan and inf through."""

    name = "number"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{quote(value)} is not a number", param, ctx)
        problem = number_problem(number, self.low, self.high)
        if problem is not None:
            self.fail(f"{quote(value)}: {problem}", param, ctx)
        return number


class Stations(click.ParamType):
    """A fleet's size: 1 to MAX_STATIONS, said with why."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            count = value if isinstance(value, int) else int(str(value))
        except ValueError:
            self.fail(f"{quote(value)} is not a whole number of stations", param, ctx)
        if not 1 <= count <= MAX_STATIONS:
            self.fail(f"{clip(str(count), 30)} stations: a run has 1 to {MAX_STATIONS:,} (a bigger fleet is split over "
                      "processes or machines and their results merged with `fleetsim merge`)", param, ctx)
        return count


def parse_ramp_per_s(text: str) -> float:
    """``--ramp``: stations started per second (``200/s`` or ``200``); 0
    starts them all at once."""
    rate = _RATE.match(text)
    if rate is None:
        raise click.BadParameter(f"{quote(text)} is not a rate like 200/s", param_hint="--ramp")
    value = float(rate.group(1))
    problem = number_problem(value, 0, MAX_RAMP_PER_S)
    if problem is not None:
        raise click.BadParameter(f"{quote(text)}: stations a second {problem} (0: all at once)", param_hint="--ramp")
    return value


def csms_traffic(choices: tuple[str, ...]) -> tuple[TrafficRule, ...]:
    """``--csms-call ACTION=RATE`` (repeatable); none: DEFAULT_CSMS_CALLS."""
    rules = []
    for text in choices or DEFAULT_CSMS_CALLS:
        try:
            rules.append(TrafficRule.parse(text))
        except ValueError as error:
            raise click.BadParameter(clip(str(error)), param_hint="--csms-call") from error
        problem = traffic_problem(rules[-1])
        if problem is not None:
            raise click.BadParameter(f"{quote(text)}: {problem}", param_hint="--csms-call")
    return tuple(rules)


def traffic_problem(rule: TrafficRule) -> str | None:
    return call_rate_problem(rule.per_station_per_hour, rule.per_station_per_s)


def source_addresses(given: tuple[str, ...], hint: str = "--source-address") -> tuple[str, ...]:
    """Local addresses, each an IP address (or a range of them,
    ``127.0.0.2-127.0.0.9``) given once."""
    addresses: list[str] = []
    for text in given:
        try:
            addresses += address_range(text)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=hint) from None
        if len(addresses) > MAX_SOURCE_ADDRESSES:
            raise click.BadParameter(f"more than {MAX_SOURCE_ADDRESSES:,} addresses", param_hint=hint)
    if len(set(addresses)) != len(addresses):
        twice = next(a for i, a in enumerate(addresses) if a in addresses[:i])
        raise click.BadParameter(f"{quote(twice)} is given twice: each address has its own ports", param_hint=hint)
    return tuple(addresses)


class TlsFile(NamedTuple):
    path: Path
    source: str  # the option or scenario field that named it


def ssl_context(ca: TlsFile | None, cert: TlsFile | None, key: TlsFile | None, insecure: bool) -> ssl.SSLContext:
    """The client TLS context; a file that cannot be used is a usage error
    naming the option (or scenario field) and the file."""
    for given in (ca, cert, key):
        if given is not None and not given.path.is_file():
            raise click.BadParameter(f"{quote(str(given.path))} is not a file", param_hint=given.source)
    try:
        context = ssl.create_default_context(cafile=str(ca.path) if ca else None)
    except (ssl.SSLError, OSError, ValueError) as error:
        assert ca is not None
        raise _tls_error(ca, error, "a PEM file of CA certificates") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        # Security profile 3: the station proves itself with a client certificate.
        try:
            context.load_cert_chain(str(cert.path), str(key.path) if key else None, password=_no_passphrase)
        except _EncryptedKey:
            raise _tls_error(key or cert, None, "a private key that is not encrypted (nothing asks for a passphrase)") \
                from None
        except (ssl.SSLError, OSError, ValueError) as error:
            if key is None:
                raise _tls_error(cert, error, "PEM: the certificate, then its private key") from None
            raise _tls_error(TlsFile(cert.path, f"{cert.source}/{key.source}"), error,
                             f"PEM: a certificate, and in {quote(str(key.path))} its private key") from None
    return context


_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey  # OpenSSL would otherwise prompt on the terminal and wait


def _tls_error(given: TlsFile, error: BaseException | None, expected: str) -> click.BadParameter:
    reason = ""
    if isinstance(error, ssl.SSLError):  # OpenSSL's own words, less where in _ssl.c
        reason = f" ({error.reason or _SSL_SOURCE.sub('', str(error.args[-1]))})"
    elif isinstance(error, OSError):
        reason = f" ({error.strerror or error})"
    return click.BadParameter(f"cannot use {quote(str(given.path))}{reason}: expected {expected}",
                              param_hint=given.source)


def check_results_folder(out: Path | None, *, fresh: bool = False) -> None:
    """Make the results folder (without --out, results/, where the run's own
    folder goes) and write in it now: one that cannot be written is a usage
    error before the run, not a traceback after it.  ``fresh``: a --out that
    holds another run's results is one too, rather than written over (two
    StartTime headers in one latency.hlog, a summary.json of the wrong run).
    Called last, once everything else was checked, so a usage error leaves no
    folder behind."""
    folder = out if out is not None else Path("results")
    taken = results_file_in(out) if fresh and out is not None else None
    if taken is not None:
        raise click.BadParameter(f"{quote(str(out))} holds another run's results ({taken}): give a new folder, or no "
                                 "--out for a folder of its own under results/", param_hint="--out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise click.BadParameter(f"cannot write results in {quote(str(folder))}: {error.strerror or error}",
                                 param_hint="--out") from None


def fail(message: str) -> NoReturn:
    """A usage error or unreadable input: one line on stderr, exit 2."""
    click.echo(f"error: {clip(message)}", err=True)
    sys.exit(USAGE_ERROR)


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
    try:
        check_fleet_ids([(share.id_pattern, share.profile_id, share.stations) for share in fleet], id_prefix)
    except FleetIdError as error:
        pattern = fleet[error.share].id_pattern
        where = f"the ids of {quote(pattern)}: " if pattern and uses_prefix(pattern) else ""
        raise click.BadParameter(clip(where + str(error)), param_hint="--id-prefix") from None


class StageType(click.ParamType):
    """``DURATION:STATIONS`` (``2m:500``), k6's ``--stage``: move to that many
    stations at the ramp's rate, then hold until the stage's time is up."""

    name = "stage"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Stage:
        if isinstance(value, Stage):
            return value
        duration, colon, count = str(value).rpartition(":")
        count = count.strip()
        if colon and count.startswith("-") and count[1:].isdigit():
            self.fail(f"{quote(value)}: a stage's target is 0 stations or more", param, ctx)
        if not colon or not count.isdigit() or len(count) > 7:
            self.fail(f"{quote(value)} is not DURATION:STATIONS (e.g. 2m:500: move to 500 stations, then hold "
                      "until the stage's 2 minutes are up)", param, ctx)
        stations = int(count)
        if stations > MAX_STATIONS:
            self.fail(f"{quote(value)}: a run has at most {MAX_STATIONS:,} stations", param, ctx)
        return Stage(Duration().convert(duration.strip(), param, ctx), stations)


def check_run_stages(spec: Any, *, duration_given: bool) -> None:
    """A run's stages (``--stage`` or the scenario's): runnable and
    measurable, and no --duration beside them; a usage error otherwise."""
    if duration_given:
        raise click.UsageError("--duration cannot be given with stages: a run with stages lasts as long as its "
                               "stages together")
    try:
        check_stages(spec.stages, ramp_per_s=spec.ramp_per_s, interval_s=spec.interval_s,
                     fleet=spec.fleet_stations())
    except StageError as error:
        raise click.BadParameter(str(error), param_hint="--stage") from None
    largest = max(stage.stations for stage in spec.stages)
    if spec.fleet_stations() > largest:
        raise click.BadParameter(f"{spec.fleet_stations():,} stations, but the stages run at most {largest:,}: the "
                                 "others would never start (and the run could not drive its fleet); give "
                                 f"--stations {largest:,}, or leave it out", param_hint="--stations")
