"""``fleetsim csms serve``: options into a CsmsConfig, and a server that starts,
reports and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path

import click
import pytest
import trio
import trio.testing
from click.testing import CliRunner
from csms_helpers import Station

from fleetsim.cli import main
from fleetsim.cli.csms import build_config, csms, run_until_interrupted
from fleetsim.csms.config import DelayKind, ResponseDelay
from fleetsim.ocpp.actions import Action
from fleetsim.ocpp.enums import RegistrationStatus

NO_OVERRIDES: dict[str, object] = {}


def test_serve_help_documents_the_delay_formats() -> None:
    result = CliRunner().invoke(main, ["csms", "serve", "--help"])
    assert result.exit_code == 0
    assert "lognormal:median=5ms,p99=50ms" in result.output and "--password-env" in result.output


def test_options_override_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "csms.toml"
    config_file.write_text('heartbeat_interval_s = 60\nboot_status = "Pending"\n')
    traffic_file = tmp_path / "traffic.toml"
    traffic_file.write_text('[[call]]\naction = "Reset"\nper_station_per_hour = 1\npayload = { type = "Hard" }\n')
    overrides = {"heartbeat_interval_s": 30, "delay": ResponseDelay(DelayKind.FIXED, fixed_ms=3), "seed": None}
    config = build_config(config_file, overrides, ("TriggerMessage=0.5/s",), traffic_file, None)
    assert (config.heartbeat_interval_s, config.boot_status) == (30, RegistrationStatus.PENDING)
    assert config.delay.fixed_ms == 3
    assert [rule.action for rule in config.traffic] == [Action.RESET, Action.TRIGGER_MESSAGE]
    assert config.traffic[0].payload == {"type": "Hard"}


def test_bad_inputs_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("heartbeat = 3\n")
    with pytest.raises(click.BadParameter, match="bad.toml"):
        build_config(bad, NO_OVERRIDES, (), None, None)
    with pytest.raises(click.BadParameter, match="bad call rate"):
        build_config(None, NO_OVERRIDES, ("Reset=often",), None, None)
    monkeypatch.delenv("FLEETSIM_TEST_PASSWORD", raising=False)
    with pytest.raises(click.BadParameter, match="FLEETSIM_TEST_PASSWORD is not set"):
        build_config(None, NO_OVERRIDES, (), None, "FLEETSIM_TEST_PASSWORD")
    result = CliRunner().invoke(csms, ["serve", "--delay", "sometimes"])
    assert result.exit_code == 2 and "bad delay" in result.output


def test_the_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETSIM_TEST_PASSWORD", "hunter2-SECRET")
    config = build_config(None, NO_OVERRIDES, (), None, "FLEETSIM_TEST_PASSWORD")
    assert config.basic_auth is not None and config.basic_auth.password_for("CP1") == b"hunter2-SECRET"


async def test_the_server_prints_where_it_listens_reports_and_stops_on_sigint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lines: list[str] = []
    config = build_config(None, NO_OVERRIDES, (), None, None)
    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:
            running = await nursery.start(run_until_interrupted, config, "127.0.0.1", 0, 5.0, lines.append)
            station = await Station.open(running)
            await station.call_boot()
            await trio.sleep(11)
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C sends
    assert lines[0] == f"fleetsim CSMS listening on {running.url} (stations connect to {running.url}/<chargePointId>)"
    status = [line for line in lines if "messages" in line and "/s" in line]
    assert len(status) == 2 and "connections 1" in status[0]
    assert lines[-1].startswith("stopped: 1 connections, 1 messages, 1 answers")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def interrupt_when_listening(port: int) -> None:
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            threading.Event().wait(0.01)
    os.kill(os.getpid(), signal.SIGINT)


def test_the_command_runs_until_ctrl_c_and_never_prints_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("FLEETSIM_TEST_PASSWORD", "hunter2-SECRET")
    stats_file = tmp_path / "stats.json"
    interrupter = threading.Thread(target=interrupt_when_listening, args=(port,))
    interrupter.start()
    arguments = ["serve", "--port", str(port), "--password-env", "FLEETSIM_TEST_PASSWORD"]
    arguments += ["--stats-out", str(stats_file)]
    result = CliRunner().invoke(csms, arguments)
    interrupter.join()
    assert result.exit_code == 0, result.output
    assert f"listening on ws://127.0.0.1:{port}" in result.output and "stopped:" in result.output
    assert "hunter2" not in result.output
    assert json.loads(stats_file.read_text())["connections_total"] == 0


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(csms, ["serve", "--port", str(taken.getsockname()[1])])
    assert result.exit_code == 2  # a usage error: choose another address
    assert "cannot listen on 127.0.0.1:" in result.output
