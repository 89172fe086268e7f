"""Cost of encoding and decoding OCPP-J frames, in ns per frame.

    python benchmarks/codec.py [--repeat 7] [--number 100000]

Prints the median of ``--repeat`` runs of ``--number`` operations each, for
Heartbeat, BootNotification and a six-value MeterValues: typed encode, typed
decode (envelope plus payload into Structs), and for reference orjson decoding
the same bytes into plain dicts and lists (untyped, unvalidated).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from fleetsim.ocpp.datatypes import MeterValue, SampledValue
from fleetsim.ocpp.enums import Measurand, ReadingContext, UnitOfMeasure
from fleetsim.ocpp.frames import Call, decode_frame, encode_call
from fleetsim.ocpp.payloads.core import BootNotificationReq, HeartbeatReq, MeterValuesReq


def six_value_meter_values() -> MeterValuesReq:
    readings = [
        ("12345.6", Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, UnitOfMeasure.WH),
        ("11000", Measurand.POWER_ACTIVE_IMPORT, UnitOfMeasure.W),
        ("16.0", Measurand.CURRENT_IMPORT, UnitOfMeasure.A),
        ("230.1", Measurand.VOLTAGE, UnitOfMeasure.V),
        ("54", Measurand.SOC, UnitOfMeasure.PERCENT),
        ("11040", Measurand.POWER_OFFERED, UnitOfMeasure.W),
    ]
    samples = [
        SampledValue(value=value, context=ReadingContext.SAMPLE_PERIODIC, measurand=measurand, unit=unit)
        for value, measurand, unit in readings
    ]
    stamp = datetime(2026, 11, 23, 18, 0, 0, tzinfo=UTC)
    return MeterValuesReq(
        connector_id=1, transaction_id=4711, meter_value=[MeterValue(timestamp=stamp, sampled_value=samples)]
    )


FRAMES = {
    "Heartbeat": HeartbeatReq(),
    "BootNotification": BootNotificationReq(
        charge_point_vendor="BESCORE NEW ENERGY",
        charge_point_model="BSC-S12BCC",
        charge_point_serial_number="FS-000001",
        firmware_version="V1.0.6",
    ),
    "MeterValues (6 values)": six_value_meter_values(),
}


def ns_per_op(fn: Callable[[], object], number: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter_ns() - start) / number)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=100_000)
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu ?'}")
    print(f"median of {args.repeat} runs x {args.number} ops, ns per frame\n")
    print(f"{'frame':<24}{'bytes':>7}{'encode':>10}{'decode':>10}{'orjson→dict':>13}")
    for name, payload in FRAMES.items():
        data = encode_call("4b0f1c2e-6a7d-4e8f-9a0b-1c2d3e4f5a6b", payload)
        decoded = decode_frame(data)
        assert isinstance(decoded, Call) and decoded.payload == payload, decoded
        encode = ns_per_op(lambda p=payload: encode_call("4b0f1c2e-6a7d-4e8f-9a0b-1c2d3e4f5a6b", p), args.number, args.repeat)
        decode = ns_per_op(lambda d=data: decode_frame(d), args.number, args.repeat)
        untyped = ns_per_op(lambda d=data: orjson.loads(d), args.number, args.repeat)
        print(f"{name:<24}{len(data):>7}{encode:>10.0f}{decode:>10.0f}{untyped:>13.0f}")


if __name__ == "__main__":
    main()
