"""fleetsim against a CSMS it did not write: benchmarks/third_party_csms.py, the
`ocpp` package's central system served by websockets, started as a process on a
free loopback port. A short ``fleetsim run`` against it passes with every call
answered; and each action an OCPP 1.6 station sends gets a CALLRESULT the
package's own response schema accepts."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest
import trio
import trio_websocket
from under_test import UNDER_TEST

pytest.importorskip("websockets", reason="benchmarks/third_party_csms.py is served by websockets (the bench extra)")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "third_party_csms.py"
SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
HEARTBEAT_INTERVAL_S = 7
CSMS_ERROR = "Error while handling request"  # what the ocpp package logs when a handler fails


class ThirdPartyCsms:
    def __init__(self, log: Path) -> None:
        # Its log goes to a file, not a pipe: the ocpp package logs a traceback
        # per CallError it answers, and a pipe nobody reads would fill and stall it.
        self.log = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--port", "0", "--heartbeat-interval", str(HEARTBEAT_INTERVAL_S)],
                stdout=subprocess.PIPE, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.url = self._wait_for_listening(timeout_s=20)

    def _wait_for_listening(self, timeout_s: float) -> str:
        assert self.process.stdout is not None
        seen, deadline = b"", time.monotonic() + timeout_s
        while time.monotonic() < deadline and b"\n" not in seen:
            if select.select([self.process.stdout], [], [], 0.5)[0]:
                data = os.read(self.process.stdout.fileno(), 4096)
                assert data, f"the CSMS ended: {self.stop()!r}"
                seen += data
        line = seen.decode().splitlines()[0] if b"\n" in seen else ""
        assert line.startswith("listening on ws://127.0.0.1:") and line.endswith("/"), seen
        return line.removeprefix("listening on ")

    def stop(self) -> str:
        """SIGTERM, as Ctrl-C would: it exits 0. Its log (stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=20)
        log = self.log.read_text()
        assert self.process.returncode == 0, log
        return log


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[ThirdPartyCsms]:
    server = ThirdPartyCsms(tmp_path / "csms.log")
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)


def test_a_short_run_against_it_passes_with_every_call_answered(csms: ThirdPartyCsms, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "fleetsim", "run", "--csms", csms.url, "--stations", "20", "--duration", "10s",
               "--speed", "60", "--ramp", "0/s", "--mean-idle", "1m", "--out", str(out), "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(UNDER_TEST)}, cwd=tmp_path)
    log = csms.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASSED: 20 of 20 stations booted"), done.stdout
    exchanges = json.loads((out / "summary.json").read_text())["fleet"]["exchanges"]
    assert exchanges["BootNotification"]["answered"] == 20
    for action in ("Heartbeat", "StatusNotification"):
        assert exchanges[action]["answered"] > 0, action
    for action, figures in exchanges.items():
        assert (figures["answered"], figures["errors"], figures["timeouts"]) == (figures["count"], {}, 0), action
    assert CSMS_ERROR not in log, log


# One schema-valid request of every action an OCPP 1.6 station sends (Core,
# Firmware Management, and the security extension's station-sent four).
NOW = "2026-01-01T00:00:00Z"
STATION_CALLS: dict[str, dict[str, Any]] = {
    "BootNotification": {"chargePointVendor": "fleetsim", "chargePointModel": "test"},
    "Heartbeat": {},
    "Authorize": {"idTag": "TAG1"},
    "StartTransaction": {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": NOW},
    "MeterValues": {"connectorId": 1, "transactionId": 1,
                    "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "120", "unit": "Wh"}]}]},
    "StopTransaction": {"transactionId": 1, "meterStop": 120, "timestamp": NOW, "reason": "Local"},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "DataTransfer": {"vendorId": "fleetsim", "messageId": "ping", "data": "{}"},
    "DiagnosticsStatusNotification": {"status": "Uploaded"},
    "FirmwareStatusNotification": {"status": "Installed"},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": NOW},
    "SignedFirmwareStatusNotification": {"status": "SignatureVerified", "requestId": 1},
    "LogStatusNotification": {"status": "Uploaded", "requestId": 1},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"},
}


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)(schema)


async def call(websocket: trio_websocket.WebSocketConnection, unique_id: str, action: str,
               payload: dict[str, Any]) -> Any:
    # OCPP-J 1.6 §4.2.1: [2, uniqueId, action, payload]; the answer echoes uniqueId.
    await websocket.send_message(json.dumps([2, unique_id, action, payload]))
    answer = json.loads(await websocket.get_message())
    assert answer[:2] == [3, unique_id], (action, answer)
    return answer[2]


@pytest.mark.parametrize("action", sorted(STATION_CALLS))
def test_the_request_of_the_table_is_schema_valid(action: str) -> None:
    validator(action).validate(STATION_CALLS[action])


async def test_every_action_a_station_sends_gets_a_schema_valid_callresult(csms: ThirdPartyCsms) -> None:
    answers = {}
    with trio.fail_after(20):
        async with trio_websocket.open_websocket_url(csms.url + "CP-1", subprotocols=["ocpp1.6"]) as websocket:
            assert websocket.subprotocol == "ocpp1.6"
            for n, (action, payload) in enumerate(STATION_CALLS.items()):
                answers[action] = await call(websocket, f"u{n}", action, payload)
    log = csms.stop()
    for action, answer in answers.items():
        validator(f"{action}Response").validate(answer)
    assert answers["BootNotification"]["status"] == "Accepted"
    assert answers["BootNotification"]["interval"] == HEARTBEAT_INTERVAL_S
    assert answers["Authorize"]["idTagInfo"]["status"] == "Accepted"
    assert answers["StartTransaction"]["idTagInfo"]["status"] == "Accepted"
    assert answers["SignCertificate"]["status"] == "Accepted"
    assert CSMS_ERROR not in log, log


async def test_transaction_ids_increase_across_stations(csms: ThirdPartyCsms) -> None:
    ids = []
    with trio.fail_after(20):
        for n, station in enumerate(("CP-1", "CP-2", "CP-1")):
            async with trio_websocket.open_websocket_url(csms.url + station, subprotocols=["ocpp1.6"]) as websocket:
                answer = await call(websocket, f"s{n}", "StartTransaction", STATION_CALLS["StartTransaction"])
                ids.append(answer["transactionId"])
    csms.stop()
    assert ids == sorted(set(ids)), ids
