"""``service_time_s``: the embedded CSMS as a test double of known capacity.
Every CALL of every station waits its turn at one FIFO server that takes
exactly the service time, so the CSMS answers at most 1/service time CALLs per
second.  The clock is virtual (``autojump_clock``); real sockets on 127.0.0.1
deliver at once, so the clock never jumps over real IO and the times the
stations see are the times the CSMS sent."""

from __future__ import annotations

import importlib
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing
from click.testing import CliRunner
from csms_helpers import Station, running_csms

from fleetsim.cli import main
from fleetsim.csms.config import CsmsConfig, DelayKind, ResponseDelay
from fleetsim.csms.server import CsmsStats
from fleetsim.csms.service import MAX_QUEUED_BYTES, MAX_QUEUED_CALLS, SingleServer
from fleetsim.ocpp.frames import CallResult, encode_call
from fleetsim.ocpp.payloads import core

VIRTUAL_DEADLINE_S = 100_000  # virtual seconds: only a hang reaches it
SERVICE_S = 0.002


def heartbeat(unique_id: str) -> bytes:
    return encode_call(unique_id, core.HeartbeatReq())


async def collect_answers(station: Station, count: int, into: list[tuple[float, str]]) -> None:
    """Read ``count`` answers, each with the (virtual) time it came."""
    for _ in range(count):
        frame = await station.next_frame()
        assert isinstance(frame, CallResult)
        into.append((trio.current_time(), frame.unique_id))


async def test_a_burst_is_answered_one_service_time_apart_in_arrival_order_across_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 12 CALLs from 4 connections, in an order that is neither per connection
    # nor round robin: FIFO over the whole CSMS is the only order that fits.
    order = ["CP2", "CP2", "CP0", "CP3", "CP1", "CP1", "CP0", "CP3", "CP3", "CP2", "CP0", "CP1"]
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(service_time_s=SERVICE_S)) as csms:
            stations = {name: await Station.open(csms, name) for name in sorted(set(order))}
            answers: list[tuple[float, str]] = []
            async with trio.open_nursery() as nursery:
                for name, station in stations.items():
                    nursery.start_soon(collect_answers, station, order.count(name), answers)
                sent: list[str] = []
                first_s = trio.current_time()
                for index, name in enumerate(order):
                    sent.append(f"{name}-{index}")
                    stations[name].send(heartbeat(sent[-1]))
                    await trio.sleep(1e-6)  # arrivals 1 µs apart: their order is the one sent
    times = [time_s for time_s, _ in answers]
    assert [unique_id for _, unique_id in answers] == sent
    # Each answer leaves one service after the one before: the first one
    # service after its arrival, the last K services after the first arrival.
    assert times == pytest.approx([first_s + (k + 1) * SERVICE_S for k in range(len(order))], abs=1e-9)
    assert csms.service is not None and csms.service.served == len(order) and csms.service.max_length == len(order)


async def heartbeats_at(station: Station, start_s: float, period_s: float, count: int) -> list[float]:
    """Latencies of ``count`` Heartbeats, one every ``period_s`` (one CALL in
    flight at a time, OCPP-J 1.6 §4.1.1)."""
    latencies = []
    for n in range(count):
        await trio.sleep_until(start_s + n * period_s)
        sent_s = trio.current_time()
        assert isinstance(await station.call(core.HeartbeatReq()), CallResult)
        latencies.append(trio.current_time() - sent_s)
    return latencies


async def fleet_latencies(service_s: float, stations: int, period_s: float, count: int) -> list[list[float]]:
    """Each station sends a Heartbeat every ``period_s``, staggered evenly."""
    results: list[list[float]] = [[] for _ in range(stations)]
    async with running_csms(CsmsConfig(service_time_s=service_s)) as csms:
        fleet = [await Station.open(csms, f"CP{n}") for n in range(stations)]
        start_s = trio.current_time() + 1

        async def one(n: int) -> None:
            results[n] = await heartbeats_at(fleet[n], start_s + n * period_s / stations, period_s, count)

        async with trio.open_nursery() as nursery:
            for n in range(stations):
                nursery.start_soon(one, n)
    return results


async def test_below_capacity_latency_is_one_service_time_and_above_it_grows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    service_s = 0.010  # capacity: 100 CALLs/s
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        # 5 stations, one Heartbeat each every 100 ms: 50 CALLs/s, half the capacity.
        below = [latency for station in await fleet_latencies(service_s, 5, 0.1, 20) for latency in station]
        # 5 stations sending as fast as their answers come: the server never idles.
        above = await fleet_latencies(service_s, 5, 0.0, 40)
    assert below == pytest.approx([service_s] * len(below), abs=1e-9)
    # At saturation each station waits for the other four: five services a CALL.
    assert [station[-1] for station in above] == pytest.approx([5 * service_s] * 5, abs=1e-9)


async def test_a_delay_is_added_after_the_service(autojump_clock: trio.testing.MockClock) -> None:
    config = CsmsConfig(service_time_s=SERVICE_S, delay=ResponseDelay(DelayKind.FIXED, fixed_ms=50))
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(config) as csms:
            stations = [await Station.open(csms, f"CP{n}") for n in range(3)]
            answers: list[tuple[float, str]] = []
            async with trio.open_nursery() as nursery:
                for station in stations:
                    nursery.start_soon(collect_answers, station, 1, answers)
                first_s = trio.current_time()
                for n, station in enumerate(stations):
                    station.send(heartbeat(f"h{n}"))
    # The delay takes no capacity: the three still leave one service apart.
    expected = [first_s + (k + 1) * SERVICE_S + 0.05 for k in range(3)]
    assert [time_s for time_s, _ in answers] == pytest.approx(expected, abs=1e-5)


async def test_a_flood_fills_the_queue_to_its_cap_and_no_further_and_the_csms_still_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connections, per_connection = 24, 100  # 2,400 CALLs: more than twice the cap
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with running_csms(CsmsConfig(service_time_s=0.001)) as csms:
            flooders = [await Station.open(csms, f"CP{n}") for n in range(connections)]
            for n, station in enumerate(flooders):
                # Pipelined against OCPP-J 1.6 §4.1.1, as a broken station would.
                for k in range(per_connection):
                    station.send(heartbeat(f"{n}-{k}"))
            await trio.sleep(0.2)  # 200 services: the queue is still full
            service = csms.service
            assert service is not None
            assert len(service) == MAX_QUEUED_CALLS and service.max_length == MAX_QUEUED_CALLS
            assert service.waiting > 0  # connections held back, reading nothing
            assert 195 <= service.served <= 201
            stopped_at_s = trio.current_time()
        # Leaving the block cancels the CSMS with the queue full and connections waiting.
        assert trio.current_time() == stopped_at_s  # it stopped at once, not after draining
    assert csms.stats.internal_errors == 0


async def test_the_queue_is_capped_in_bytes_too(autojump_clock: trio.testing.MockClock) -> None:
    class Connection:
        closed = False

    served: list[object] = []
    server = SingleServer(1.0, lambda connection, call, now_s: served.append(call))
    big = MAX_QUEUED_BYTES // 3
    with trio.fail_after(VIRTUAL_DEADLINE_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run)
            for n in range(5):
                nursery.start_soon(server.put, Connection(), n, big, trio.current_time())
                await trio.sleep(0.01)  # one after the other
            await trio.sleep(0.5)
            assert len(server) == 3 and server.waiting == 2  # a fourth would pass MAX_QUEUED_BYTES
            await trio.sleep(5)
            assert served == [0, 1, 2, 3, 4] and server.max_length == 3
            nursery.cancel_scope.cancel()


def test_the_cli_option_and_the_config_file_set_the_service_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[CsmsConfig] = []

    async def fake_serve(config: CsmsConfig, *args: object) -> CsmsStats:
        seen.append(config)
        return CsmsStats()

    # fleetsim.cli.csms is also the name of the click group: the module itself, then.
    monkeypatch.setattr(importlib.import_module("fleetsim.cli.csms"), "run_until_interrupted", fake_serve)
    for option, seconds in (("2ms", 0.002), ("250us", 0.00025), ("0.5s", 0.5), ("3", 0.003), ("0", 0.0)):
        result = CliRunner().invoke(main, ["csms", "serve", "--service-time", option])
        assert result.exit_code == 0, result.output
        assert seen[-1].service_time_s == pytest.approx(seconds)
    config_file = tmp_path / "csms.toml"
    config_file.write_text("service_time_s = 0.004\n")
    assert CliRunner().invoke(main, ["csms", "serve", "--config", str(config_file)]).exit_code == 0
    assert seen[-1].service_time_s == 0.004
    help_text = " ".join(CliRunner().invoke(main, ["csms", "serve", "--help"]).output.split())
    assert "--service-time" in help_text and "N/DURATION" in help_text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-2ms", "'-2ms': a service time cannot be negative"),
        ("fast", "'fast' is not a duration"),
        ("2 minutes", "'2 minutes' is not a duration"),
        ("nan", "'nan' is not a duration"),
        ("90s", "'90s': a service time is at most 60s"),
    ],
)
def test_a_bad_service_time_is_a_one_line_usage_error(value: str, message: str) -> None:
    result = CliRunner().invoke(main, ["csms", "serve", "--service-time", value])
    assert result.exit_code == 2
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and message in error_lines[0] and "--service-time" in error_lines[0]
    assert "Traceback" not in result.output


def test_a_bad_service_time_in_a_config_is_refused() -> None:
    assert msgspec.convert({"service_time_s": 0.002}, CsmsConfig).service_time_s == 0.002
    for bad in (-0.001, float("inf"), 61.0):
        with pytest.raises(msgspec.ValidationError, match="service_time_s"):
            msgspec.convert({"service_time_s": bad}, CsmsConfig)
