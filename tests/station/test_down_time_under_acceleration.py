"""How long a station is down (a Reset, a firmware update's reboot, a power
loss) is simulated time: under time acceleration it shrinks on the engine's
clock like every other duration, down to the few engine milliseconds the
engine needs to close the link before it connects again."""

from __future__ import annotations

import random
from datetime import timedelta
from functools import partial

import msgspec
import pytest
from core_steps import AC_1PHASE, AC_3PHASE, AC_EV, calls, csms_call, model, start_charging
from harness import Bench

from fleetsim.ocpp.payloads.core import ResetReq
from fleetsim.ocpp.payloads.firmware import UpdateFirmwareReq
from fleetsim.station.faults import inject, power_loss
from fleetsim.station.features.firmware import DOWNLOAD_S, INSTALL_S
from fleetsim.station.lifecycle import MIN_DOWN_S, REBOOT_S, RESET_SHUTDOWN_S
from fleetsim.station.station import Station
from fleetsim.station.timebase import fixed_timebase


def accelerated(model_id: str, speed: float) -> Bench:
    """A booted bench whose station runs ``speed`` simulated seconds per engine second."""
    bench = Bench(model(model_id))
    bench.timebase = timebase = msgspec.structs.replace(fixed_timebase(), speed=speed)
    station = bench.station
    bench.station = Station(station.charge_point_id, station.model, station.stats, random.Random(1), timebase,
                            reaction_delays=False)
    bench.connect()
    bench.run_for(max(30 / speed, 0.05))  # and at least a few CSMS round trips
    assert bench.station.registration == "Accepted"
    return bench


def wait_down(bench: Bench, *, within_s: float) -> float:
    """Run event by event until the station wants to go down, then disconnect
    as the engine does.  The engine time it went down."""
    end_s = bench.now_s + within_s
    while not bench.station.want_disconnect:
        next_delivery_s = bench._deliveries[0][0] if bench._deliveries else float("inf")
        next_s = min(bench.station.wake_at_s, next_delivery_s)
        assert next_s <= end_s, "the station never went down"
        bench.run_until(next_s)
    bench.disconnect()
    return bench.now_s


def simulated_s(bench: Bench, start_s: float, end_s: float) -> float:
    timebase = bench.timebase
    return (timebase.simulated(end_s) - timebase.simulated(start_s)) / timedelta(seconds=1)


def back_online(bench: Bench) -> float:
    """Connect at the moment the station is up again, as the engine does; let it boot."""
    bench.run_until(bench.station.offline_until_s)
    back_at = bench.now_s
    bench.connect()
    bench.run_for(max(5 / bench.timebase.speed, 0.05))
    return back_at


@pytest.mark.parametrize("speed", [1.0, 60.0])
def test_a_reset_keeps_the_station_down_for_the_simulated_reboot_time(speed: float) -> None:
    bench = accelerated(AC_3PHASE, speed)
    start_charging(bench, 1)
    bench.send_call(ResetReq(type="Hard"))
    down_at = wait_down(bench, within_s=5)

    assert simulated_s(bench, down_at, bench.station.offline_until_s) == pytest.approx(REBOOT_S)
    # Down for all of it: a driver plugging in halfway is refused.
    bench.run_for(bench.station.sim_s(REBOOT_S) / 2)
    bench.station.plug_in(2, AC_EV, bench.now_s)
    assert bench.station.stats.counters["session.plug_in_refused"] == 1

    back_at = back_online(bench)
    assert simulated_s(bench, down_at, back_at) == pytest.approx(REBOOT_S)
    assert bench.sent_actions(back_at)[0] == "BootNotification"
    assert bench.station.registration == "Accepted"
    assert bench.station.stats.counters["reboot"] == 1


def test_at_60x_a_reset_takes_a_sixtieth_of_the_engine_time_it_takes_at_1x() -> None:
    downs = []
    for speed in (1.0, 60.0):
        bench = accelerated(AC_3PHASE, speed)
        bench.send_call(ResetReq(type="Soft"))
        down_at = wait_down(bench, within_s=5)
        downs.append(bench.station.offline_until_s - down_at)
    assert downs == pytest.approx([REBOOT_S, REBOOT_S / 60])


def test_under_extreme_acceleration_the_station_is_down_for_the_engine_floor() -> None:
    speed = 10_000.0  # the reboot would last 1 ms of engine time
    bench = accelerated(AC_3PHASE, speed)
    bench.send_call(ResetReq(type="Hard"))
    down_at = wait_down(bench, within_s=5)
    assert bench.station.sim_s(REBOOT_S) < MIN_DOWN_S
    assert bench.station.offline_until_s - down_at == pytest.approx(MIN_DOWN_S)
    back_online(bench)
    assert bench.station.registration == "Accepted"


@pytest.mark.parametrize("speed", [1.0, 60.0])
def test_a_firmware_update_downloads_installs_and_reboots_in_simulated_time(speed: float) -> None:
    bench = accelerated(AC_1PHASE, speed)
    asked_at = bench.now_s
    request = UpdateFirmwareReq(location="ftp://firmware.example/cp-2.0.bin",
                                retrieve_date=bench.timebase.wall(asked_at))
    csms_call(bench, request, wait_s=0.001)
    down_at = wait_down(bench, within_s=200 / speed)
    statuses = {str(p.status): at for at, p in calls(bench, "FirmwareStatusNotification")}
    download_s = simulated_s(bench, statuses["Downloading"], statuses["Downloaded"])
    # Installed, the station reboots as after a Reset: down RESET_SHUTDOWN_S of
    # engine time later (the reset's messages go out at network speed).
    install_s = simulated_s(bench, statuses["Installing"], down_at - RESET_SHUTDOWN_S)
    slack_s = speed * 0.01  # a notification waits for the one before it to be answered
    assert DOWNLOAD_S[0] - slack_s <= download_s <= DOWNLOAD_S[1] + slack_s
    assert INSTALL_S[0] - slack_s <= install_s <= INSTALL_S[1] + slack_s

    back_at = back_online(bench)
    assert simulated_s(bench, down_at, back_at) == pytest.approx(REBOOT_S)
    assert [str(p.status) for _, p in calls(bench, "FirmwareStatusNotification", back_at)] == ["Installed"]


@pytest.mark.parametrize("speed", [1.0, 60.0])
def test_a_power_loss_keeps_the_station_down_for_its_simulated_duration(speed: float) -> None:
    bench = accelerated(AC_3PHASE, speed)
    lost_at = bench.now_s
    station = bench.station
    bench.act(lambda now: inject(station, partial(power_loss, station, for_s=120.0), now))
    down_at = wait_down(bench, within_s=5)
    assert down_at == lost_at  # AQ-7.2 (the built-in models): down at once
    back_at = back_online(bench)
    assert simulated_s(bench, lost_at, back_at) == pytest.approx(120.0)
    assert bench.sent_actions(back_at)[0] == "BootNotification"
