"""Cost of parsing WebSocket frames (fleetsim.engine.framing.FrameParser).

    python benchmarks/framing.py [--repeat 15] [--number 20000] [--baseline OLD_FRAMING_PY]

Prints, median of ``--repeat`` runs, in CPU time of this process (the
machines are shared: wall time would count the neighbours' work too):

- ns per message to ``feed`` one complete frame holding a typical OCPP-J
  message, as a station reads it (server frames, unmasked) and as the
  embedded CSMS reads it (client frames, masked), and of that the RFC 6455
  §8.1 UTF-8 check alone (``isascii``, then a ``decode`` only when not ASCII);
- what hostile inputs cost: a 1 MiB frame arriving in 64-byte reads (the work
  per read must not grow with what is already buffered) and 40,000 empty
  continuation frames (until the parser answers, or has read them all).

``--baseline`` loads another version of ``framing.py`` (e.g. from
``git show main:fleetsim/engine/framing.py > /tmp/old.py``) and runs it
interleaved with the current one, run for run, so that both see the same
machine: compare those columns, not figures from different days.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from types import ModuleType

from fleetsim.engine import framing
from fleetsim.ocpp.frames import encode_call
from fleetsim.ocpp.payloads.core import BootNotificationReq, HeartbeatReq

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the fleet's and the CSMS's default
UID = "4b0f1c2e-6a7d-4e8f-9a0b-1c2d3e4f5a6b"

MESSAGES = {
    "Heartbeat": encode_call(UID, HeartbeatReq()),
    "BootNotification": encode_call(
        UID,
        BootNotificationReq(
            charge_point_vendor="BESCORE NEW ENERGY",
            charge_point_model="BSC-S12BCC",
            charge_point_serial_number="FS-000001",
            firmware_version="V1.0.6",
        ),
    ),
    "non-ASCII text": ('[2,"1","DataTransfer",{"vendorId":"Grüne Säule","data":"' + "ä" * 70 + '"}]').encode(),
}


def ns_per_message(module: ModuleType, frame: bytes, masked: bool, number: int) -> float:
    feed = module.FrameParser(expect_masked=masked, max_message_bytes=MAX_MESSAGE_BYTES).feed
    start = time.process_time_ns()
    for _ in range(number):
        feed(frame)
    return (time.process_time_ns() - start) / number


def ns_utf8_check(data: bytes, number: int) -> float:
    start = time.process_time_ns()
    for _ in range(number):
        data.isascii() or data.decode()
    return (time.process_time_ns() - start) / number


def ms_trickle(module: ModuleType, size: int = 1 << 20, piece: int = 64) -> float:
    frame = module.encode_frame(module.OP_TEXT, b"Z" * size, masked=False)
    pieces = [frame[i : i + piece] for i in range(0, len(frame), piece)]
    feed = module.FrameParser(expect_masked=False, max_message_bytes=MAX_MESSAGE_BYTES).feed
    start = time.process_time_ns()
    events = [event for data in pieces for event in feed(data)]
    elapsed = (time.process_time_ns() - start) / 1e6
    assert len(events) == 1 and len(events[0].data) == size, events
    return elapsed


def ms_empty_fragments(module: ModuleType, count: int = 40_000) -> float:
    stream = bytes([0x01, 0x00]) + bytes([0x00, 0x00]) * count  # a text start, then empty continuations
    reads = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    feed = module.FrameParser(expect_masked=False, max_message_bytes=MAX_MESSAGE_BYTES).feed
    start = time.process_time_ns()
    for data in reads:
        if feed(data):
            break  # the parser answered (a Violation): the connection is over
    return (time.process_time_ns() - start) / 1e6


def interleaved(modules: list[ModuleType], repeat: int, run: Callable[[ModuleType], float]) -> list[float]:
    """Median per module of ``repeat`` runs, the modules taking turns."""
    runs: list[list[float]] = [[] for _ in modules]
    for _ in range(repeat):
        for index, module in enumerate(modules):
            runs[index].append(run(module))
    return [statistics.median(r) for r in runs]


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("framing_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--baseline", help="another framing.py to run side by side with the current one")
    args = parser.parse_args()
    modules = [load(args.baseline), framing] if args.baseline else [framing]
    names = ["baseline", "current"] if args.baseline else ["current"]

    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"median of {args.repeat} runs x {args.number} frames, CPU ns per message (one complete frame per feed)\n")
    columns = "".join(f"{f'{side} {name}':>26}" for side in ("station reads", "CSMS reads") for name in names)
    print(f"{'message':<18}{'bytes':>6}{columns}{'UTF-8 check':>13}")
    for label, data in MESSAGES.items():
        cells = []
        for masked in (False, True):
            frame = framing.encode_frame(framing.OP_TEXT, data, masked=masked)
            cells += interleaved(modules, args.repeat, partial(ns_per_message, frame=frame, masked=masked,
                                                               number=args.number))
        check = statistics.median(ns_utf8_check(data, args.number) for _ in range(args.repeat))
        print(f"{label:<18}{len(data):>6}{''.join(f'{c:>26.0f}' for c in cells)}{check:>13.0f}")
    print("\nhostile input, CPU ms, median of 3" + (f" ({' / '.join(names)})" if args.baseline else ""))
    trickle = interleaved(modules, 3, ms_trickle)
    empty = interleaved(modules, 3, ms_empty_fragments)
    print(f"  1 MiB frame in 64-byte reads: {' / '.join(f'{t:.1f}' for t in trickle)}")
    print(f"  40,000 empty continuations:   {' / '.join(f'{t:.1f}' for t in empty)}")


if __name__ == "__main__":
    main()
