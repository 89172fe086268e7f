"""A fleet against a CSMS that sends every hostile class at once.

    python benchmarks/hostile.py --stations 1000 --duration 45

The driver builds pools of hostile messages with hypothesis over the fuzz
suite's grammars (``tests/fuzz``), starts the hostile CSMS (``hostile.py
serve``) in a process of its own, runs ``fleetsim run --csms
ws://127.0.0.1:PORT/ocpp`` in another, kills the hostile CSMS with SIGKILL at
``--kill-at`` seconds and starts it again on the same port.

The hostile CSMS gives each station a mix: a handshake abuse or a
BootNotification abuse on some connections, then an episode of one hostile
class every 0.3–2.5 s (bad OCPP of every kind, nested JSON, frame-grammar
cases, binary, fragmented, endless fragments, byte-at-a-time, ping floods
while not reading, oversized and unfinished 4 MiB frames, invalid close
codes, invalid UTF-8, reserved bits and opcodes, TriggerMessage floods,
abrupt resets).  For the last ``--final`` seconds it turns well-behaved and
sends every station a GetConfiguration; a station that does not answer is
closed with 1012 (it reconnects and boots) and asked again.

Printed: frames and bytes sent per class, how the stations closed, the run's
exit code, the largest loop lag and timer lag from summary.json's simulator
section, the simulator's peak RSS, and how many stations answered at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fuzz")]

import trio  # noqa: E402

# The fuzz suite's hostile peer: code of this repository (tests/fuzz), loaded
# from there; what it needs beyond fleetsim is in the `bench` extra.
hostile_frames = importlib.import_module("hostile_frames")
hostile_ocpp = importlib.import_module("hostile_ocpp")
hostile_peer = importlib.import_module("hostile_peer")
RawFrame, PeerViolation = hostile_frames.RawFrame, hostile_frames.PeerViolation
OP_BINARY, OP_CLOSE, OP_CONTINUATION = hostile_frames.OP_BINARY, hostile_frames.OP_CLOSE, hostile_frames.OP_CONTINUATION
OP_PING, OP_TEXT, close_payload = hostile_frames.OP_PING, hostile_frames.OP_TEXT, hostile_frames.close_payload
dumps = hostile_ocpp.dumps
Wire, accept_upgrade = hostile_peer.Wire, hostile_peer.accept_upgrade
switching_protocols = hostile_peer.switching_protocols

# ---------------------------------------------------------------- pools (driver)


def station_call(uid: str, filler: str = "") -> bytes:
    """A CALL every station answers with a CALLRESULT (OCPP 1.6 §5.8)."""
    return dumps([2, uid, "GetConfiguration", {"key": [filler or "HeartbeatInterval"]}])


def build_pools(path: Path) -> dict[str, int]:
    """OCPP messages by class and frame sequences, drawn by hypothesis."""
    from hypothesis import HealthCheck, Phase, given, settings

    from fleetsim.ocpp.actions import Initiator

    ocpp: list[tuple[str, bytes]] = []
    frames: list[tuple[bytes, int]] = []
    quiet = settings(max_examples=600, database=None, derandomize=True, phases=[Phase.generate],
                     suppress_health_check=list(HealthCheck), deadline=None)

    @quiet
    @given(hostile_ocpp.ocpp_cases(to=Initiator.CHARGE_POINT, index=0))
    def ocpp_pool(case):  # type: ignore[no-untyped-def]
        ocpp.append((ocpp_class(case.kind), case.data))

    @quiet
    @given(hostile_frames.frame_cases(masked=False, max_message_bytes=4 << 20, call=station_call))
    def frame_pool(case):  # type: ignore[no-untyped-def]
        frames.append((b"".join(hostile_frames.wire_bytes(case)), len(case.frames)))

    ocpp_pool()
    frame_pool()
    path.write_bytes(pickle.dumps({"ocpp": ocpp, "frames": frames}))
    return {"ocpp": len(ocpp), "frames": len(frames)}


def ocpp_class(kind: str) -> str:
    for needle, name in (("nested", "nested JSON"), ("stray", "stray CALLRESULT/CALLERROR"),
                         ("unique id", "bad unique ids"), ("message type", "wrong message type ids"),
                         ("unknown action", "unknown actions"), ("other side", "unknown actions"),
                         ("valid", "valid CALLs"), ("not JSON", "not JSON"), ("no payload", "bad envelopes"),
                         ("extra element", "bad envelopes"), ("action", "bad envelopes")):
        if needle in kind:
            return name
    return "bad payloads"  # missing or extra fields, wrong types, bad enums, too long, bad date-times


# ---------------------------------------------------------------- the hostile CSMS (serve)

HANDSHAKE_SHARE = 0.08  # of connections in the hostile phase
BOOT_SHARE = 0.08
BIG_FRAMES_AT_ONCE = 20  # unfinished 4 MiB frames held at a time (kernel buffers)


class Connection:
    def __init__(self, wire: Any, charge_point_id: str) -> None:
        self.wire = wire
        self.charge_point_id = charge_point_id
        self.boot_reply: tuple[str, int] = ("Accepted", 60)
        self.silent = False  # the station's CALLs go unanswered
        self.reading = trio.Event()  # cleared: a peer that stopped reading
        self.reading.set()
        self.gone = trio.Event()
        self.final_answer = trio.Event()
        self.aborted = False  # we reset it (an abrupt kill, an unfinished frame given up)


class Mix:
    def __init__(self, pools: dict[str, Any], report: Path, hostile_until: float, seed: int) -> None:
        self.ocpp: list[tuple[str, bytes]] = pools["ocpp"]
        self.frames_pool: list[tuple[bytes, int]] = pools["frames"]
        self.report = report
        self.hostile_until = hostile_until
        self.rng = random.Random(seed ^ os.getpid())
        self.big_now = 0
        self.stats: dict[str, Any] = {"frames": Counter(), "bytes": Counter(), "episodes": Counter(),
                                      "closes": Counter(), "answers": 0, "violations": Counter(), "starts": 0}
        self.answering: set[str] = set()
        if report.exists():  # started again after a kill: go on counting
            before = json.loads(report.read_text())
            for key in ("frames", "bytes", "episodes", "closes", "violations"):
                self.stats[key].update(before[key])
            self.stats["answers"] = before["answers"]
            self.stats["starts"] = before["starts"]
            self.answering.update(before["answering"])
        self.stats["starts"] += 1

    def hostile(self) -> bool:
        return time.time() < self.hostile_until

    def write(self) -> None:
        document = {**{k: dict(v) if isinstance(v, Counter) else v for k, v in self.stats.items()},
                    "answering": sorted(self.answering)}
        temporary = self.report.with_suffix(".tmp")
        temporary.write_text(json.dumps(document))
        temporary.replace(self.report)

    async def send(self, connection: Connection, kind: str, data: bytes, frames: int = 1) -> None:
        self.stats["frames"][kind] += frames
        self.stats["bytes"][kind] += len(data)
        await connection.wire.send(data, frames)

    # ------------------------------------------------------------ a connection

    async def handle(self, stream: trio.SocketStream, request: Any) -> None:
        try:
            await self._handle(stream, request)
        except Exception:  # a bug of this benchmark's: counted and shown once, the others go on
            if not self.stats["violations"]["hostile side's own errors"]:
                traceback.print_exc()
            self.stats["violations"]["hostile side's own errors"] += 1

    async def _handle(self, stream: trio.SocketStream, request: Any) -> None:
        if self.hostile() and self.rng.random() < HANDSHAKE_SHARE:
            await self.handshake_abuse(stream, request)
            return
        connection = Connection(await accept_upgrade(stream, request), request.charge_point_id)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.read, connection, name="hostile:read")
            if self.hostile():
                if self.rng.random() < BOOT_SHARE:
                    await self.boot_abuse(connection)
                else:
                    await self.episodes(connection)
            if not connection.gone.is_set():
                await self.final(connection)
            nursery.cancel_scope.cancel()

    async def read(self, connection: Connection) -> None:
        wire = connection.wire
        try:
            while True:
                await connection.reading.wait()
                message = await wire.next_message()
                if message is None:
                    break
                if message[0] == 2:
                    if message[2] == "BootNotification":
                        status, interval = connection.boot_reply
                        reply = {"status": status, "currentTime": "2026-01-01T00:00:00Z", "interval": interval}
                        await wire.answer_call(message, reply)
                    elif not connection.silent:
                        await wire.answer_call(message)
                elif str(message[1]).startswith("final"):
                    self.answering.add(connection.charge_point_id)
                    connection.final_answer.set()
                else:
                    self.stats["answers"] += 1
        except (PeerViolation, ValueError) as error:  # the station broke RFC 6455 or sent no JSON: a finding
            self.stats["violations"][type(error).__name__] += 1
        ended = wire.closed
        cause = "reset by us" if connection.aborted else "no close frame" if ended is None or ended.code is None \
            else str(ended.code)
        self.stats["closes"][cause] += 1
        connection.gone.set()

    async def handshake_abuse(self, stream: trio.SocketStream, request: Any) -> None:
        kind = self.rng.choice(("401", "wrong subprotocol", "no subprotocol", "garbage", "header of 1 MiB",
                                "wrong accept", "silence"))
        responses = {
            "401": b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="ocpp"\r\nContent-Length: 0\r\n\r\n',
            "wrong subprotocol": switching_protocols(request, subprotocol="ocpp2.0.1"),
            "no subprotocol": switching_protocols(request, subprotocol=None),
            "garbage": bytes(range(256)) + b"\r\n\r\n",
            "header of 1 MiB": b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * (1 << 20),
            "wrong accept": switching_protocols(request, accept=b"dGhlIHNhbXBsZSBub25jZQ=="),
        }
        self.stats["episodes"][f"handshake: {kind}"] += 1
        if kind == "silence":
            await trio.sleep(3)
        else:
            wire = Wire(stream, client=False)
            self.stats["bytes"]["handshake abuses"] += len(responses[kind])
            await wire.send(responses[kind], frames=0)

    async def boot_abuse(self, connection: Connection) -> None:
        connection.boot_reply = (self.rng.choice(("Rejected", "Pending")), self.rng.choice((0, -5, 1, 2**31 - 1)))
        self.stats["episodes"][f"boot: {connection.boot_reply[0]} interval {connection.boot_reply[1]}"] += 1
        with trio.move_on_after(3):
            await connection.gone.wait()
        connection.boot_reply = ("Accepted", 60)
        # OCPP 1.6 §4.2.1 makes a Rejected station wait `interval`: a restart
        # of ours (1012) brings it back to boot now.
        await self.send(connection, "close 1012", RawFrame(OP_CLOSE, close_payload(1012)).encode())

    async def episodes(self, connection: Connection) -> None:
        kinds = list(EPISODES)
        weights = [weight for weight, _ in EPISODES.values()]
        while self.hostile() and not connection.gone.is_set():
            with trio.move_on_after(self.rng.uniform(0.3, 2.5)):
                await connection.gone.wait()
            if connection.gone.is_set() or not self.hostile():
                return
            kind = self.rng.choices(kinds, weights)[0]
            self.stats["episodes"][kind] += 1
            await EPISODES[kind][1](self, connection)

    async def final(self, connection: Connection) -> None:
        """Well-behaved from now on: ask, and restart a station that does not answer."""
        connection.silent = False
        connection.reading.set()
        connection.boot_reply = ("Accepted", 60)
        while self.hostile() and not connection.gone.is_set():
            await trio.sleep(0.5)
        for attempt in range(3):
            if connection.gone.is_set():
                return
            await connection.wire.send_text(station_call(f"final-{attempt}"))
            with trio.move_on_after(3):
                await connection.final_answer.wait()
            if connection.final_answer.is_set() or connection.gone.is_set():
                break
        else:
            await self.send(connection, "close 1012", RawFrame(OP_CLOSE, close_payload(1012)).encode())
        await connection.gone.wait()

    # ------------------------------------------------------------ the classes

    async def _bad_ocpp(self, connection: Connection) -> None:
        for _ in range(self.rng.randint(1, 8)):
            kind, data = self.rng.choice(self.ocpp)
            await self.send(connection, kind, RawFrame(OP_TEXT, data).encode())

    async def _frame_grammar(self, connection: Connection) -> None:
        data, frames = self.rng.choice(self.frames_pool)
        await self.send(connection, "frame grammar", data, frames)

    async def _binary(self, connection: Connection) -> None:
        await self.send(connection, "binary", RawFrame(OP_BINARY, station_call("bin")).encode())

    async def _fragmented(self, connection: Connection) -> None:
        data = station_call("frag")
        frames = [RawFrame(OP_TEXT, data[:1], fin=False)]
        for at in range(1, len(data)):
            frames.append(RawFrame(OP_CONTINUATION, data[at : at + 1], fin=False))
            if at % 7 == 0:
                frames += [RawFrame(OP_CONTINUATION, b"", fin=False), RawFrame(OP_PING, b"between")]
        frames.append(RawFrame(OP_CONTINUATION, b""))
        await self.send(connection, "fragmented", b"".join(f.encode() for f in frames), len(frames))

    async def _endless_fragments(self, connection: Connection) -> None:
        empty = RawFrame(OP_CONTINUATION, b"", fin=False).encode()
        await self.send(connection, "endless fragments", RawFrame(OP_TEXT, b"[", fin=False).encode() + empty * 20_000,
                        20_001)

    async def _byte_at_a_time(self, connection: Connection) -> None:
        data = RawFrame(OP_TEXT, station_call("slow")).encode()
        for at in range(len(data)):
            await self.send(connection, "byte at a time", data[at : at + 1], 0 if at else 1)
            await trio.sleep(0.002)

    async def _ping_flood_not_reading(self, connection: Connection) -> None:
        connection.reading = trio.Event()  # the reader parks at its next message
        ping = RawFrame(OP_PING, b"p" * 125).encode()
        with trio.move_on_after(10):
            await self.send(connection, "ping flood, not reading", ping * 40_000, 40_000)
        with trio.move_on_after(2):
            await connection.gone.wait()
        connection.reading.set()

    async def _oversized_frame(self, connection: Connection) -> None:
        await self.send(connection, "oversized frame", RawFrame(OP_BINARY, declared_length=(5 << 20)).encode())

    async def _unfinished_frame(self, connection: Connection) -> None:
        if self.big_now >= BIG_FRAMES_AT_ONCE:
            return
        self.big_now += 1
        try:
            with trio.move_on_after(5):
                header = RawFrame(OP_BINARY, declared_length=4 << 20).encode()
                await self.send(connection, "unfinished 4 MiB frame", header)
                await self.send(connection, "unfinished 4 MiB frame", BIG, 0)
            with trio.move_on_after(2):
                await connection.gone.wait()
        finally:
            self.big_now -= 1
        connection.aborted = True
        connection.wire.abort()  # it can never be finished now

    async def _invalid_close_code(self, connection: Connection) -> None:
        code = self.rng.choice(hostile_frames.INVALID_CLOSE_CODES)
        await self.send(connection, "invalid close codes", RawFrame(OP_CLOSE, close_payload(code, b"x")).encode())

    async def _invalid_utf8(self, connection: Connection) -> None:
        data = station_call("utf8").replace(b"HeartbeatInterval", self.rng.choice(hostile_frames.INVALID_UTF8))
        await self.send(connection, "invalid UTF-8", RawFrame(OP_TEXT, data).encode())

    async def _reserved_bits_and_opcodes(self, connection: Connection) -> None:
        frame = (RawFrame(OP_TEXT, station_call("rsv"), rsv=self.rng.randint(1, 7)) if self.rng.random() < 0.5
                 else RawFrame(self.rng.choice(hostile_frames.RESERVED_OPCODES), b"x"))
        await self.send(connection, "reserved bits and opcodes", frame.encode())

    async def _trigger_flood(self, connection: Connection) -> None:
        connection.silent = True  # its triggered messages pile up unanswered
        trigger = {"requestedMessage": "StatusNotification", "connectorId": 1}
        for batch in range(40):
            data = b"".join(RawFrame(OP_TEXT, dumps([2, f"t{batch}-{n}", "TriggerMessage", trigger])).encode()
                            for n in range(50))
            await self.send(connection, "TriggerMessage flood", data, 50)
            await trio.sleep(0.01)
        connection.silent = False

    async def _abrupt_kill(self, connection: Connection) -> None:
        connection.aborted = True
        connection.wire.abort()


BIG = b"\x00" * ((4 << 20) - 1)
EPISODES = {  # class -> (weight, what the hostile CSMS does)
    "bad OCPP": (8, Mix._bad_ocpp),
    "frame grammar": (4, Mix._frame_grammar),
    "binary": (1, Mix._binary),
    "fragmented": (2, Mix._fragmented),
    "endless fragments": (1, Mix._endless_fragments),
    "byte at a time": (1, Mix._byte_at_a_time),
    "ping flood, not reading": (0.3, Mix._ping_flood_not_reading),
    "oversized frame": (1, Mix._oversized_frame),
    "unfinished 4 MiB frame": (0.3, Mix._unfinished_frame),
    "invalid close code": (1, Mix._invalid_close_code),
    "invalid UTF-8": (1, Mix._invalid_utf8),
    "reserved bits and opcodes": (1, Mix._reserved_bits_and_opcodes),
    "TriggerMessage flood": (0.5, Mix._trigger_flood),
    "abrupt kill": (0.5, Mix._abrupt_kill),
}


async def serve(args: argparse.Namespace) -> None:
    mix = Mix(pickle.loads(Path(args.pools).read_bytes()), Path(args.report), args.hostile_until, args.seed)

    async def keep_writing() -> None:
        while True:
            mix.write()
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        await nursery.start(hostile_peer.serve_hostile_csms, mix.handle, 16384, args.port)
        nursery.start_soon(keep_writing)
        print("ready", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                mix.write()
                nursery.cancel_scope.cancel()


# ---------------------------------------------------------------- the driver


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(args: argparse.Namespace, port: int, pools: Path, report: Path,
                 hostile_until: float) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "serve", "--port", str(port), "--pools", str(pools), "--report", str(report),
               "--hostile-until", str(hostile_until), "--seed", str(args.seed)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment())
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def drive(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="fleetsim-hostile-"))
    pools, report, results = work / "pools.pickle", work / "hostile.json", work / "results"
    print(f"pools: {build_pools(pools)}  (in {work})", flush=True)
    port = free_port()
    start = time.time()
    hostile_until = start + args.duration - args.final
    server = start_server(args, port, pools, report, hostile_until)
    fleet = subprocess.Popen(
        [sys.executable, "-m", "fleetsim", "run", "--csms", f"ws://127.0.0.1:{port}/ocpp", "-n", str(args.stations),
         "-d", f"{args.duration}s", "--ramp", f"{args.ramp}/s", "--out", str(results), "-q", "--seed", str(args.seed),
         # Waits of at most 10 s: a station that met a few handshake abuses and the
         # outage in a row is back within the run (the default cap is 60 s).
         "--reconnect-backoff", "1", "10", "full"],
        env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_rss, killed = 0.0, False
    while fleet.poll() is None:
        peak_rss = max(peak_rss, rss_mb(fleet.pid))
        if not killed and time.time() - start >= args.kill_at:
            server.send_signal(signal.SIGKILL)  # mid-run, as a crashed CSMS: no close frame, no goodbye
            server.wait()
            server = start_server(args, port, pools, report, hostile_until)
            killed = True
        time.sleep(0.25)
    output = fleet.stdout.read() if fleet.stdout else ""
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    hostile = json.loads(report.read_text())
    figures(args, fleet.returncode, output, peak_rss, hostile, results / "summary.json")
    return 0 if fleet.returncode == 0 and len(hostile["answering"]) == args.stations else 1


def figures(args: argparse.Namespace, exit_code: int, output: str, peak_rss: float, hostile: dict[str, Any],
            summary_path: Path) -> None:
    print("\nframes sent by class (bytes):")
    for kind, frames in sorted(hostile["frames"].items(), key=lambda item: -item[1]):
        print(f"  {kind:34} {frames:>10,}  ({hostile['bytes'].get(kind, 0) / 1e6:,.1f} MB)")
    print(f"  {'total':34} {sum(hostile['frames'].values()):>10,}  ({sum(hostile['bytes'].values()) / 1e6:,.1f} MB)")
    print("episodes:", ", ".join(f"{k} {v:,}" for k, v in sorted(hostile["episodes"].items(), key=lambda i: -i[1])))
    print("connections ended (the station's close code, or how):",
          ", ".join(f"{k}: {v:,}" for k, v in sorted(hostile["closes"].items(), key=lambda i: -i[1])))
    print(f"answers to hostile CALLs: {hostile['answers']:,}; RFC 6455 or JSON breaches by the stations: "
          f"{dict(hostile['violations']) or 'none'}; hostile CSMS started {hostile['starts']} times (one kill -9)")
    print(f"\nfleetsim run exit code: {exit_code}")
    if exit_code != 0:
        print(output[-3000:])
    if summary_path.exists():
        simulator = json.loads(summary_path.read_text())["simulator"]
        for name in ("loop_lag_ms", "timer_lag_ms", "gc_pause_ms"):
            section = simulator.get(name) or {}
            print(f"simulator {name}: p99 {section.get('p99')}, max {section.get('max')}")
    else:
        print("no summary.json")
    print(f"simulator peak RSS (sampled every 0.25 s): {peak_rss:.0f} MB")
    print(f"stations answering a well-formed CALL at the end: {len(hostile['answering']):,} of {args.stations:,}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["serve"], help=argparse.SUPPRESS)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=45, help="seconds of the fleetsim run")
    parser.add_argument("--final", type=int, default=15, help="last seconds, well-behaved, for the final probe")
    parser.add_argument("--kill-at", type=float, default=12.0, help="kill -9 the hostile CSMS at this second")
    parser.add_argument("--ramp", type=int, default=250, help="stations started per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pools", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--hostile-until", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "serve":
        trio.run(serve, args)
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
