"""A third-party CSMS to run fleetsim against on loopback.

What it is: the central system of the `ocpp` package (PyPI ``ocpp``, The Mobility
House, MIT licence), in the shape its documentation's example gives (a
``ocpp.v16.ChargePoint`` subclass with one ``@on(Action...)`` handler per action,
served by the ``websockets`` library with the ``ocpp1.6`` subprotocol), extended
here to answer every action an OCPP 1.6 station sends, the security extension's
included. The code is written for fleetsim (Apache-2.0); only its shape follows
the package's example. Everything that matters for a measurement is the
package's own: parsing, JSON-schema validation of every request and response,
the camelCase/snake_case translation, the routing.

What it answers:
  BootNotification       Accepted, interval = --heartbeat-interval
  Heartbeat              the current time
  Authorize              Accepted
  StartTransaction       Accepted, transaction ids 1, 2, 3, ... across all stations
  StopTransaction        Accepted
  MeterValues, StatusNotification, DiagnosticsStatusNotification,
  FirmwareStatusNotification, SecurityEventNotification,
  SignedFirmwareStatusNotification, LogStatusNotification
                         the empty confirmation
  DataTransfer           UnknownVendorId (OCPP 1.6 §4.3: no vendor extension here)
  SignCertificate        Accepted (no certificate is signed afterwards)
It sends no call of its own.

Its capacity: one process, one asyncio event loop. The package validates every
payload in the loop's default thread pool (``ocpp.messages.ASYNC_VALIDATION``),
but those threads share the GIL, so what it serves on a machine is what one
core serves. Measure fleetsim against it with that in mind (benchmarks/README.md).

    python benchmarks/third_party_csms.py --port 9400 --heartbeat-interval 10

prints ``listening on ws://127.0.0.1:9400/`` and serves until Ctrl-C (or
SIGTERM). Stations connect to ``ws://127.0.0.1:9400/<chargePointId>``: the
charge point id is the last segment of the path (OCPP-J 1.6 §3.1.1).
``--port 0`` takes any free port, and the line printed names it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

try:
    import websockets
except ModuleNotFoundError:
    sys.exit("third_party_csms.py needs the websockets package: pip install websockets (or .[bench])")

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result, datatypes
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    DataTransferStatus,
    GenericStatus,
    RegistrationStatus,
)

LOGGER = logging.getLogger("third_party_csms")
ACCEPTED = datatypes.IdTagInfo(status=AuthorizationStatus.accepted)


def now_iso() -> str:
    # OCPP 1.6 recommends UTC for every time value (its section on time zones):
    # ISO 8601 with the "Z" suffix, as the schemas' date-time format reads it.
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CentralSystemSide(ChargePoint):
    """One connected station, as the central system sees it."""

    def __init__(self, charge_point_id: str, connection, heartbeat_interval_s: int,
                 transaction_ids: itertools.count) -> None:
        super().__init__(charge_point_id, connection)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.transaction_ids = transaction_ids

    # Core profile.
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **_):
        return call_result.BootNotification(current_time=now_iso(), interval=self.heartbeat_interval_s,
                                            status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_):
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_):
        return call_result.Authorize(id_tag_info=ACCEPTED)

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_):
        # One counter for the whole central system: a transaction id names a
        # transaction, not a station's n-th one.
        return call_result.StartTransaction(transaction_id=next(self.transaction_ids), id_tag_info=ACCEPTED)

    @on(Action.stop_transaction)
    def on_stop_transaction(self, transaction_id: int, meter_stop: int, timestamp: str, **_):
        return call_result.StopTransaction(id_tag_info=ACCEPTED)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **_):
        return call_result.MeterValues()

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **_):
        return call_result.StatusNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_):
        # OCPP 1.6 §4.3: a recipient with no implementation for the vendorId
        # answers UnknownVendorId.
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    # Firmware Management profile.
    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str, **_):
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **_):
        return call_result.FirmwareStatusNotification()

    # The OCPP 1.6 security extension (station-sent messages).
    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, **_):  # `type`: the spec's name, passed as is
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, status: str, **_):
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **_):
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, **_):
        return call_result.SignCertificate(status=GenericStatus.accepted)


def charge_point_id_of(path: str) -> str:
    # OCPP-J 1.6 §3.1.1: the connection URL ends with the charge point identity.
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def connection_handler(heartbeat_interval_s: int):
    transaction_ids = itertools.count(1)

    async def serve_station(connection) -> None:
        station = CentralSystemSide(charge_point_id_of(connection.request.path), connection,
                                    heartbeat_interval_s, transaction_ids)
        try:
            await station.start()
        except websockets.ConnectionClosed:
            LOGGER.debug("%s disconnected", station.id)

    return serve_station


async def serve(host: str, port: int, heartbeat_interval_s: int) -> None:
    async with websockets.serve(connection_handler(heartbeat_interval_s), host, port,
                                subprotocols=["ocpp1.6"]) as server:
        bound_port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://{host}:{bound_port}/", flush=True)
        # Ctrl-C or SIGTERM: close the listening socket and every connection
        # (RFC 6455 §7.1.2, close code 1001 going away), then exit 0.
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9400, help="port (0: any free port; default: 9400)")
    parser.add_argument("--heartbeat-interval", type=int, default=10, metavar="SECONDS",
                        help="heartbeat interval given in BootNotification.conf (default: 10)")
    parser.add_argument("--verbose", action="store_true",
                        help="log every message (the ocpp package's INFO log; slows it down)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: not a port (0 to 65535)")
    if args.heartbeat_interval < 1:
        parser.error(f"--heartbeat-interval {args.heartbeat_interval}: at least 1 second")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, args.heartbeat_interval))


if __name__ == "__main__":
    main()
