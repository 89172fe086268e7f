"""``fleetsim csms``: run the embedded reference CSMS."""

from __future__ import annotations

import os
import signal
import ssl
import time
import tomllib
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as time_of_day
from functools import partial
from pathlib import Path

import click
import msgspec
import trio

from fleetsim.cli.options import Number
from fleetsim.csms.config import (
    MAX_SERVICE_TIME_S,
    BasicAuth,
    CsmsConfig,
    ResponseDelay,
    TlsFiles,
    TrafficRule,
    parse_duration_ms,
)
from fleetsim.csms.server import CsmsStats, RunningCsms, serve_csms
from fleetsim.csms.tls import server_context
from fleetsim.inputs import (
    MAX_DURATION_S,
    MAX_INTEGER,
    call_rate_problem,
    clip,
    delay_problem,
    nesting_problem,
    quote,
    read_input_file,
)
from fleetsim.ocpp.enums import AuthorizationStatus, RegistrationStatus


class _TrafficFile(msgspec.Struct, forbid_unknown_fields=True):
    call: list[TrafficRule] = []


def _read_toml(path: Path, kind: type, option: str) -> object:
    """The TOML file at ``path`` as ``kind``: bounded in size and nesting,
    finite numbers only (fleetsim.inputs, as a scenario file)."""
    try:
        raw = tomllib.loads(read_input_file(path).decode("utf-8"))
        if (problem := nesting_problem(raw)) is not None:
            raise ValueError(f"{problem[0]}: {problem[1]}")
        return msgspec.convert(raw, type=kind, builtin_types=(datetime, date, time_of_day), str_keys=True)
    except OSError as error:
        raise click.BadParameter(f"{quote(str(path))}: cannot read: {error.strerror or error}",
                                 param_hint=option) from None
    except RecursionError:
        raise click.BadParameter(f"{quote(str(path))}: nested deeper than Python parses", param_hint=option) from None
    except (ValueError, msgspec.ValidationError) as error:  # not UTF-8, not TOML, too big, not the type
        raise click.BadParameter(clip(f"{path}: {error}"), param_hint=option) from None


def build_config(
    config_file: Path | None,
    overrides: dict[str, object],
    calls: tuple[str, ...],
    traffic_file: Path | None,
    password_env: str | None,
) -> CsmsConfig:
    """The CsmsConfig the options describe: the file's, then each option over it."""
    config = _read_toml(config_file, CsmsConfig, "--config") if config_file else CsmsConfig()
    assert isinstance(config, CsmsConfig)
    changes = {name: value for name, value in overrides.items() if value is not None}
    traffic = list(config.traffic)
    if traffic_file is not None:
        traffic += _read_toml(traffic_file, _TrafficFile, "--traffic").call  # type: ignore[attr-defined]
    try:
        traffic += [TrafficRule.parse(text) for text in calls]
    except ValueError as error:
        raise click.BadParameter(clip(str(error)), param_hint="--call") from None
    for rule in traffic:
        if (problem := call_rate_problem(rule.per_station_per_hour, rule.per_station_per_s)) is not None:
            raise click.BadParameter(f"{rule.action}: {problem}", param_hint="--call/--traffic/--config")
    changes["traffic"] = tuple(traffic)
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            problem = f"environment variable {password_env} is not set"
            raise click.BadParameter(problem, param_hint="--password-env")
        passwords = config.basic_auth.passwords if config.basic_auth else {}
        changes["basic_auth"] = BasicAuth(shared_password=password, passwords=passwords)
    try:
        config = msgspec.structs.replace(config, **changes)
    except (ValueError, TypeError) as error:
        raise click.UsageError(clip(str(error))) from None
    delay = config.delay
    if (problem := delay_problem(delay.fixed_ms, delay.low_ms, delay.high_ms, delay.median_ms, delay.p99_ms)):
        raise click.BadParameter(problem, param_hint="--delay/--config")
    return config


def tls_files(cert: Path | None, key: Path | None, client_ca: Path | None) -> TlsFiles | None:
    """``--tls-cert``/``--tls-key``/``--tls-client-ca`` as a TlsFiles, None when
    no option is given."""
    if cert is None:
        if key is not None or client_ca is not None:
            raise click.UsageError("--tls-key and --tls-client-ca need --tls-cert")
        return None
    return TlsFiles(str(cert), str(key) if key else None, str(client_ca) if client_ca else None)


def check_tls(tls: TlsFiles) -> None:
    """Load the TLS files now: a wrong one is then a usage error, not a
    failure inside the running server (nor a passphrase prompt)."""
    try:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        probe.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except _EncryptedKey:
        raise click.BadParameter(f"{quote(tls.key_file or tls.cert_file)}: the private key is encrypted; give one "
                                 "that is not (nothing asks for a passphrase)", param_hint="--tls-key") from None
    except (ssl.SSLError, OSError):
        pass  # server_context says what is wrong, naming the file
    try:
        server_context(tls)
    except ValueError as error:
        raise click.BadParameter(clip(f"cannot use the TLS files: {error}"), param_hint="--tls-*") from None


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey  # OpenSSL would otherwise prompt on the terminal and wait


def check_writable(path: Path) -> None:
    """--stats-out is written when the server stops: one that cannot be is a
    usage error now, not a traceback after hours of serving."""
    try:
        with path.open("ab"):
            pass
    except OSError as error:
        raise click.BadParameter(f"cannot write {quote(str(path))}: {error.strerror or error}",
                                 param_hint="--stats-out") from None


def _parse_delay(ctx: click.Context, param: click.Parameter, value: str | None) -> ResponseDelay | None:
    if value is None:
        return None
    try:
        return ResponseDelay.parse(value)
    except ValueError as error:
        raise click.BadParameter(clip(str(error))) from None


def _parse_service_time(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``--service-time 2ms`` as seconds; ``0`` turns the server off."""
    if value is None:
        return None
    if value.strip().startswith("-"):
        raise click.BadParameter(f"{quote(value)}: a service time cannot be negative")
    try:
        service_time_ms = parse_duration_ms(value)
    except ValueError:
        raise click.BadParameter(f"{quote(value)} is not a duration: use e.g. 2ms, 500us or 0.01s "
                                 "(a bare number is milliseconds; 0: off)") from None
    if service_time_ms > MAX_SERVICE_TIME_S * 1000:
        raise click.BadParameter(f"{quote(value)}: a service time is at most {MAX_SERVICE_TIME_S:g}s")
    return service_time_ms / 1000.0


@click.group()
def csms() -> None:
    """The embedded reference CSMS: the default target of a load run."""


@csms.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file of CsmsConfig fields (id_tags, faults, traffic, ...); the options below override it.",
)
@click.option("--heartbeat-interval", type=click.IntRange(0, int(MAX_DURATION_S)),
              help="Seconds, sent in BootNotification.conf.")
@click.option(
    "--boot-status", type=click.Choice([s.value for s in RegistrationStatus]), help="BootNotification answer."
)
@click.option(
    "--unknown-id-tag", type=click.Choice([s.value for s in AuthorizationStatus]),
    help="Verdict for id tags not in the config's table (default Accepted).",
)
@click.option(
    "--delay", callback=_parse_delay, metavar="SPEC",
    help="Answer delay: none, fixed:5ms, uniform:1ms:20ms or lognormal:median=5ms,p99=50ms (units us, ms, s).",
)
@click.option(
    "--service-time", callback=_parse_service_time, metavar="DURATION",
    help="Serve every CALL through one FIFO server that takes exactly this long per CALL (e.g. 2ms; units us, ms, "
         "s; 0: off), so the CSMS answers at most 1/DURATION CALLs per second and, past that, latency grows. "
         "Each of --workers N processes has its own server: N/DURATION in all. --delay is added after the "
         "service and takes no capacity.",
)
@click.option(
    "--password-env", metavar="VAR",
    help="Require HTTP Basic auth (security profile 1) with the password in environment variable VAR.",
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve wss:// (security profile 2) with this PEM certificate chain (it may hold the key too).",
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert.",
)
@click.option(
    "--tls-client-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Require a client certificate issued under this PEM CA (security profile 3).",
)
@click.option(
    "--call", "calls", multiple=True, metavar="ACTION=RATE",
    help="CSMS-initiated calls per station, e.g. RemoteStartTransaction=2/h or TriggerMessage=0.1/s. Repeatable.",
)
@click.option(
    "--traffic", "traffic_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='TOML file of [[call]] tables: action, per_station_per_hour or per_station_per_s, payload = {...}.',
)
@click.option("--seed", type=click.IntRange(-MAX_INTEGER, MAX_INTEGER),
              help="Seed of the delay and traffic random streams.")
@click.option("--status-interval", type=Number(0, MAX_DURATION_S), default=5.0, show_default=True,
              help="Seconds between status lines; 0: none.")
@click.option(
    "--stats-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the final statistics here as JSON."
)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Serve in N processes sharing one listening socket (one core each; each process holds the "
                   "connections it accepted; transaction ids stay unique). Status lines and statistics add them up.")
def serve(
    host: str,
    port: int,
    config_file: Path | None,
    heartbeat_interval: int | None,
    boot_status: str | None,
    unknown_id_tag: str | None,
    delay: ResponseDelay | None,
    service_time: float | None,
    password_env: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    calls: tuple[str, ...],
    traffic_file: Path | None,
    seed: int | None,
    status_interval: float,
    stats_out: Path | None,
    workers: int,
) -> None:
    """Serve OCPP 1.6-J at ws://HOST:PORT/<chargePointId> (wss:// with
    --tls-cert) until Ctrl-C."""
    overrides: dict[str, object] = {
        "tls": tls_files(tls_cert, tls_key, tls_client_ca),
        "heartbeat_interval_s": heartbeat_interval,
        "boot_status": RegistrationStatus(boot_status) if boot_status else None,
        "unknown_id_tag": AuthorizationStatus(unknown_id_tag) if unknown_id_tag else None,
        "delay": delay,
        "service_time_s": service_time,
        "seed": seed,
    }
    config = build_config(config_file, overrides, calls, traffic_file, password_env)
    if config.tls is not None:
        check_tls(config.tls)
    if stats_out is not None:
        check_writable(stats_out)
    if workers > 1:
        stats = _serve_in_processes(config, host, port, status_interval, workers)
        if stats_out is not None:
            stats_out.write_bytes(msgspec.json.format(msgspec.json.encode(stats)) + b"\n")
        return
    try:
        stats = trio.run(run_until_interrupted, config, host, port, status_interval, click.echo)
    except* OSError as group:  # binding failed (trio's nurseries group what they raise)
        error = group.exceptions[0]
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise click.BadParameter(f"cannot listen on {host}:{port}: {reason}", param_hint="--host/--port") from None
    if stats_out is not None:
        stats_out.write_bytes(msgspec.json.format(msgspec.json.encode(stats)) + b"\n")


async def run_until_interrupted(
    config: CsmsConfig,
    host: str,
    port: int,
    status_interval_s: float,
    echo: Callable[[str], None],
    *,
    task_status: trio.TaskStatus[RunningCsms] = trio.TASK_STATUS_IGNORED,
) -> CsmsStats:
    """Serve until SIGINT or SIGTERM (or cancellation), printing status lines."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(partial(serve_csms, config, host, port, own_process=True))
            echo(f"fleetsim CSMS listening on {running.url} (stations connect to {running.url}/<chargePointId>)")
            if status_interval_s > 0:
                nursery.start_soon(_print_status, running.stats, status_interval_s, echo)
            task_status.started(running)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()
    stats = running.stats
    echo(
        f"stopped: {stats.connections_total:,} connections, {stats.messages_received:,} messages, "
        f"{stats.answers_sent:,} answers, {sum(stats.csms_calls_sent.values()):,} CSMS calls"
    )
    return stats


def _serve_in_processes(config: CsmsConfig, host: str, port: int, status_interval_s: float,
                        workers: int) -> CsmsStats:
    """``serve --workers``: the CSMS in ``workers`` processes until SIGINT or
    SIGTERM; the status lines and the statistics are theirs added."""
    from fleetsim.csms.processes import CsmsProcesses

    processes = CsmsProcesses(config, workers, host, port, every_s=status_interval_s or 1.0)
    try:
        url = processes.start()
    except OSError as error:
        raise click.BadParameter(f"cannot listen on {host}:{port}: {error.strerror or error}",
                                 param_hint="--host/--port") from None
    click.echo(f"fleetsim CSMS listening on {url} in {workers} processes (stations connect to "
               f"{url}/<chargePointId>)")

    async def until_interrupted() -> None:
        last = [trio.current_time(), 0, 0]

        def status(stats: CsmsStats) -> None:
            now_s = trio.current_time()
            calls = sum(stats.csms_calls_sent.values())
            elapsed_s = max(now_s - last[0], 1e-9)
            click.echo(status_line(stats, (stats.messages_received - last[1]) / elapsed_s,
                                   (calls - last[2]) / elapsed_s))
            last[:] = [now_s, stats.messages_received, calls]

        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(processes.watch, status if status_interval_s > 0 else None)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    try:
        trio.run(until_interrupted)
    finally:
        stats = processes.stop()
    click.echo(
        f"stopped: {stats.connections_total:,} connections, {stats.messages_received:,} messages, "
        f"{stats.answers_sent:,} answers, {sum(stats.csms_calls_sent.values()):,} CSMS calls"
    )
    return stats


async def _print_status(stats: CsmsStats, interval_s: float, echo: Callable[[str], None]) -> None:
    last_s, last_messages, last_calls = trio.current_time(), stats.messages_received, 0
    while True:
        await trio.sleep(interval_s)
        now_s = trio.current_time()
        calls = sum(stats.csms_calls_sent.values())
        elapsed_s = max(now_s - last_s, 1e-9)
        messages_per_s = (stats.messages_received - last_messages) / elapsed_s
        echo(status_line(stats, messages_per_s, (calls - last_calls) / elapsed_s))
        last_s, last_messages, last_calls = now_s, stats.messages_received, calls


def status_line(stats: CsmsStats, messages_per_s: float, csms_calls_per_s: float) -> str:
    errors = sum(stats.errors_sent.values())
    malformed = sum(stats.malformed_received.values())
    return (
        f"{time.strftime('%H:%M:%S')}  connections {stats.connections_open:,}  "
        f"messages {messages_per_s:,.0f}/s  CSMS calls {csms_calls_per_s:,.1f}/s  "
        f"CALLERRORs sent {errors:,}  malformed received {malformed:,}"
    )
