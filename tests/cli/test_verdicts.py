"""A run's verdict cannot mislead: a fleet that could not connect or boot says
so, with the cause and the counts, and exits with 4 (README: exit codes)
unless a ``stations.booted`` threshold says how much of the fleet is enough."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from fleetsim.cli import main
from fleetsim.cli.run import EXIT_FLEET_SHORT, EXIT_THRESHOLD_FAILED
from fleetsim.engine.fleet import _reason
from fleetsim.report.terminal import fleet_shortfall, shortfall_in_brief

if TYPE_CHECKING:
    from conftest import Pki  # the ``pki`` fixture's type

FLEETSIM = [sys.executable, "-m", "fleetsim"]
MODEL = "bionever-bss011k-v1000"


def fleetsim_run(*args: str) -> Result:
    return CliRunner().invoke(main, ["run", *args], prog_name="fleetsim")


def said(stdout: str) -> str:
    """What was printed, its lines (wrapped at 80 columns) joined again."""
    return " ".join(line.strip() for line in stdout.splitlines())


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing listens on: bound, never listening, so a connection to
    it is refused (RST) for as long as the test holds it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_a_fleet_that_cannot_connect_exits_4_and_says_why(tmp_path: Path, closed_port: int) -> None:
    url = f"ws://127.0.0.1:{closed_port}/ocpp"
    result = fleetsim_run("--csms", url, "--stations", "3", "--profile", MODEL, "--duration", "1s",
                          "--out", str(tmp_path / "out"))
    assert result.exit_code == EXIT_FLEET_SHORT == 4, result.output
    lines = result.stdout.splitlines()
    verdict = next(line for line in lines if line.startswith("FAILED"))
    assert verdict == "FAILED: could not drive its fleet: 0 of 3 stations booted (exit 4)"
    failures = json.loads((tmp_path / "out" / "summary.json").read_text())["fleet"]["connection"]["failures"]
    assert set(failures) == {"refused"} and failures["refused"] >= 3
    assert f"3 never connected to {url}: {failures['refused']} connection attempts failed: refused " \
           f"{failures['refused']}" in said(result.stdout)
    assert "hint: nothing accepted the TCP connection" in said(result.stdout)


def test_quiet_prints_the_verdict_line_only_with_its_cause(tmp_path: Path, closed_port: int) -> None:
    result = fleetsim_run("--csms", f"ws://127.0.0.1:{closed_port}/ocpp", "--stations", "2", "--profile", MODEL,
                          "--duration", "1s", "-q", "--out", str(tmp_path / "out"))
    assert result.exit_code == 4
    assert re.fullmatch(r"FAILED: could not drive its fleet: 0 of 2 stations booted "
                        r"\(2 never connected: refused \d+\) \(exit 4\)\n", result.stdout), result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(("threshold", "code"), [("stations.booted.rate >= 0%", 0),
                                                 ("stations.booted.rate > 95%", EXIT_THRESHOLD_FAILED)])
def test_a_threshold_on_stations_booted_judges_instead(tmp_path: Path, closed_port: int, threshold: str,
                                                       code: int) -> None:
    result = fleetsim_run("--csms", f"ws://127.0.0.1:{closed_port}/ocpp", "--stations", "2", "--profile", MODEL,
                          "--duration", "1s", "--threshold", threshold, "--out", str(tmp_path / "out"))
    assert result.exit_code == code, result.output
    assert "0 of 2 stations booted" in said(result.stdout)
    assert "2 never connected" in said(result.stdout)  # said, even when allowed


def test_stations_the_ramp_never_reached_are_a_fleet_not_driven(tmp_path: Path) -> None:
    result = fleetsim_run("--stations", "30", "--profile", MODEL, "--ramp", "10/s", "--duration", "1s",
                          "--speed", "20", "--out", str(tmp_path / "out"))
    assert result.exit_code == 4, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    started = summary["run"]["stations_started"]
    assert 5 <= started < 30
    assert f"{30 - started} never started: the run ended before the ramp reached them" in said(result.stdout)


@pytest.mark.parametrize("case", ["tls", "unauthorized", "Rejected"])
def test_tls_401_and_rejected_boots_are_named(pki: Pki, tmp_path: Path, case: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FLEETSIM_TEST_PASSWORD": "right-password"}
    serve = [*FLEETSIM, "csms", "serve", "--port", "0", "--status-interval", "0"]
    run = [*FLEETSIM, "run", "--stations", "2", "--profile", MODEL, "--duration", "2s", "--out",
           str(tmp_path / "out")]
    if case == "tls":  # the CSMS's certificate is not issued under the CA the stations trust
        serve += ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
        run += ["--ca-file", str(pki.stranger_ca_file)]
    elif case == "unauthorized":  # the CSMS wants a password the stations do not send
        serve += ["--password-env", "FLEETSIM_TEST_PASSWORD"]
    else:
        serve += ["--boot-status", "Rejected"]
    csms = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        assert csms.stdout is not None
        listening = re.search(rb"listening on (wss?://127\.0\.0\.1:\d+)", csms.stdout.readline())
        assert listening, "the CSMS did not start"
        result = subprocess.run([*run, "--csms", listening[1].decode() + "/ocpp"], capture_output=True, text=True,
                                env=env, timeout=60)
    finally:
        csms.send_signal(signal.SIGINT)
        csms.communicate(timeout=30)
    assert result.returncode == 4, result.stdout + result.stderr
    text = said(result.stdout)
    assert "could not drive its fleet: 0 of 2 stations booted" in text
    if case == "Rejected":
        assert "2 connected but were never Accepted: BootNotification answers Rejected" in text
    else:
        assert re.search(rf"2 never connected to wss?://127\.0\.0\.1:\d+/ocpp: \d+ connection attempts failed: "
                         rf"{case} \d+", text), text
        hint = {"tls": "the TLS handshake failed", "unauthorized": "the CSMS answered HTTP 401"}[case]
        assert f"hint: {hint}" in text


def test_a_host_name_that_does_not_resolve_is_counted_as_resolve() -> None:
    assert _reason(socket.gaierror(socket.EAI_NONAME, "Name or service not known")) == "resolve"


def test_the_shortfall_names_each_cause_and_the_models_that_fared_worse() -> None:
    summary = {
        "run": {"fleet": {"a": 10, "b": 10}, "stations_started": 18, "csms": "ws://csms/ocpp"},
        "fleet": {
            "connection": {"stations_connected": 15, "stations_booted": 12, "failures": {"timeout": 7, "refused": 2}},
            "boot": {"answers": {"Accepted": 12, "Pending": 9}},
            "exchanges": {"BootNotification": {"timeouts": 1, "errors": {}}},
        },
        "models": {"a": {"connection": {"stations_booted": 10}}, "b": {"connection": {"stations_booted": 2}}},
    }
    assert fleet_shortfall(summary) == [
        "2 never started: the run ended before the ramp reached them (a longer --duration or a faster --ramp "
        "starts them)",
        "3 never connected to ws://csms/ocpp: 9 connection attempts failed: timeout 7, refused 2",
        "hint: no connection within the connect timeout: a firewall, a wrong address or a CSMS too busy to accept",
        "3 connected but were never Accepted: BootNotification answers Pending 9; 1 timed out",
        "  a: 10 of 10 booted",
        "  b: 2 of 10 booted",
    ]
    brief = "2 never started; 3 never connected: timeout 7, refused 2; 3 never Accepted"
    assert shortfall_in_brief(summary) == brief
    summary["fleet"]["connection"]["stations_booted"] = 20
    assert fleet_shortfall(summary) == []


@pytest.mark.patches_hot_path
def test_a_station_error_fails_the_run_with_3_and_keeps_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bug of fleetsim's, found by what the CSMS sent, disconnects that one
    # station and the run goes on; its figures are not to be trusted, so the
    # run fails (README: exit 3), its results written all the same.
    from fleetsim.station.station import Station

    real_on_message = Station.on_message
    raised: list[str] = []

    def on_message(self: Station, data: bytes, now_s: float, received_s: float | None = None) -> None:
        if not raised:
            raised.append(self.charge_point_id)
            raise RuntimeError("a bug of ours")
        real_on_message(self, data, now_s, received_s)

    monkeypatch.setattr(Station, "on_message", on_message)
    result = fleetsim_run("--stations", "5", "--profile", MODEL, "--duration", "3s", "--out", str(tmp_path / "r"))
    assert result.exit_code == 3, result.output
    assert "fleetsim itself failed: 1 station errors" in said(result.output)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["simulator"]["station_errors"] == 1
    assert summary["fleet"]["connection"]["stations_booted"] == 5  # the unlucky one came back
