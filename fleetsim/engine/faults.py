"""The fault injector: applies a :class:`FaultSchedule` to a running fleet.

Station faults (connector faults, power loss, reboots) are steps of the pure
station (:mod:`fleetsim.station.faults`); what concerns connections is done
here, fleet-side, so it works against any CSMS: a drop or a storm cuts links
as a failing network does, and a CSMS outage cuts every link and fails every
connection attempt for its duration, then watches how long the fleet takes to
recover.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Final

import trio

from fleetsim.engine.fleet import Fleet
from fleetsim.metrics.intervals import RunEvent
from fleetsim.metrics.recorder import OutageRecovery, Recorder
from fleetsim.ocpp.enums import Reason
from fleetsim.sessions.faults import FaultKind, FaultSchedule, Outage, StationFault
from fleetsim.station import faults as station_faults
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

if TYPE_CHECKING:
    from fleetsim.engine.fleet import _Runner

# How often recovery after an outage is checked (real seconds): the
# resolution of the recovery times in summary.json.
RECOVERY_POLL_S: Final = 0.05


def apply_clock_skew(stations: Sequence[Station], schedule: FaultSchedule,
                     positions: Sequence[int] | None = None) -> None:
    """Give the stations the schedule picked their wrong clocks (before the
    run).  ``positions``: where each station stands in the whole fleet the
    schedule was drawn for, when ``stations`` are one shard's (else the same)."""
    for index, station in enumerate(stations):
        skew_s = schedule.skew_s(positions[index] if positions is not None else index)
        if skew_s:
            station_faults.skew_clock(station, skew_s)


async def inject_faults(fleet: Fleet, schedule: FaultSchedule, timebase: Timebase, recorder: Recorder,
                        note: Callable[[RunEvent], None] | None = None,
                        positions: Sequence[int] | None = None) -> None:
    """Apply every fault of ``schedule`` at its time, until cancelled (the
    run's end).  Outages run as child tasks: they last, and may overlap.
    ``note`` hears of each fault as it is injected (the results' events.csv),
    at the real time since the start of the run, so charts can mark it.
    ``positions``: where each of the fleet's runners stands in the whole fleet
    the schedule was drawn for, when the fleet is one shard (fleetsim.spec.shard):
    the other shards' station faults are theirs, an outage is everyone's."""
    note = note or (lambda _: None)
    runner_at = {position: index for index, position in enumerate(positions)} if positions is not None else None
    async with trio.open_nursery() as nursery:
        for event in schedule.events():
            await trio.sleep_until(timebase.origin_s + timebase.engine_seconds(event.at_s))
            elapsed_s = trio.current_time() - timebase.origin_s
            match event:
                case Outage():
                    # Every open connection is cut (in _outage, which starts next).
                    connected = sum(1 for runner in fleet.runners if runner.link is not None)
                    note(RunEvent(elapsed_s=elapsed_s, kind="outage", span_s=timebase.engine_seconds(event.for_s),
                                  stations=connected, at_s=event.at_s))
                    nursery.start_soon(_outage, fleet, event, timebase, recorder)
                case StationFault():
                    index = event.station if runner_at is None else runner_at.get(event.station)
                    if index is None:
                        continue  # another shard's station
                    hit = _apply(fleet, fleet.runners[index], event)
                    spans = event.kind in (FaultKind.POWER_LOSS, FaultKind.CONNECTOR)
                    note(RunEvent(elapsed_s=elapsed_s, kind=str(event.kind), stations=int(hit), at_s=event.at_s,
                                  span_s=timebase.engine_seconds(event.for_s) if spans else 0.0,
                                  label=str(event.error_code) if event.kind == FaultKind.CONNECTOR else ""))
        # A finite schedule: its outages and the recovery they watch finish on their own.


def _apply(fleet: Fleet, runner: _Runner, fault: StationFault) -> bool:
    """Inject one station's fault; False: it did not hit (a drop or storm
    finds the station not connected)."""
    station = runner.station
    now_s = trio.current_time()
    match fault.kind:
        case FaultKind.DROP | FaultKind.STORM:
            if fleet.cut(runner, str(fault.kind)):  # a station not connected then is not hit
                station.stats.count(f"fault.{fault.kind}")
                return True
            return False
        case FaultKind.REBOOT:
            station.stats.count("fault.reboot")
            # As after a hard Reset (OCPP 1.6 §5.14), which the station models.
            step: Callable[[float], None] = partial(station.reboot, Reason.HARD_RESET)
        case FaultKind.CONNECTOR:
            step = partial(station_faults.connector_fault, station, fault.connector_id, fault.error_code,
                           recover_after_s=fault.for_s)
        case FaultKind.POWER_LOSS:
            step = partial(station_faults.power_loss, station, for_s=fault.for_s)
    station_faults.inject(station, step, now_s)
    fleet.after(runner)  # sends what the fault made it send, closes its link if it went down
    return True


async def _outage(fleet: Fleet, outage: Outage, timebase: Timebase, recorder: Recorder) -> None:
    """The CSMS unreachable for ``for_s``: every link cut, every connection
    attempt failed (fleet-side, so against any CSMS).  The stations keep
    charging and keep their transaction messages queued (OCPP 1.6 §4.10)."""
    end_s = timebase.origin_s + timebase.engine_seconds(outage.at_s + outage.for_s)
    fleet.outage_until_s = max(fleet.outage_until_s, end_s)
    for runner in fleet.runners:
        runner.waits.watch(end_s)  # the back-off waits after the end: fleetsim's part of the recovery
        if fleet.cut(runner, "outage"):
            runner.station.stats.count("fault.outage")
    # Recorded from its start: a run that ends within it still reports it,
    # with every station not yet back.
    recovery = OutageRecovery(at_s=outage.at_s, for_s=outage.for_s, stations=len(fleet.runners),
                              not_booted=len(fleet.runners))
    recorder.outages.append(recovery)
    await trio.sleep_until(end_s)
    await watch_recovery(fleet.runners, recovery, end_s)


async def watch_recovery(runners: Sequence[_Runner], recovery: OutageRecovery, end_s: float) -> None:
    """Fill in ``recovery`` as the fleet comes back: when every station is
    connected and booted again, the same net of each station's own back-off
    waits after ``end_s`` (the slowest station decides), and when every
    transaction message queued at ``end_s`` has been delivered.  Transaction
    messages leave a station in order, so it has delivered those once the
    last of them has left (those queued after the outage do not count)."""
    recovery.queued_transaction_messages = sum(r.station.queue.pending_transaction_messages() for r in runners)
    not_booted = list(runners)
    undelivered = [(r, last) for r in runners if (last := r.station.queue.last_transaction_message()) is not None]
    slowest_net_s = 0.0
    while True:
        now_s = trio.current_time()
        back = [r for r in not_booted if r.booted]
        for runner in back:  # the CSMS's part: its time back, less the time it chose to wait
            slowest_net_s = max(slowest_net_s, now_s - end_s - runner.waits.waited_after(end_s))
        if back:
            not_booted = [r for r in not_booted if not r.booted]
        undelivered = [(r, last) for r, last in undelivered if r.station.queue.holds(last)]
        recovery.not_booted, recovery.undelivered = len(not_booted), len(undelivered)
        if not not_booted and recovery.booted_after_s is None:
            recovery.booted_after_s = now_s - end_s
            recovery.booted_after_net_s = slowest_net_s
        if not undelivered and recovery.delivered_after_s is None:
            recovery.delivered_after_s = now_s - end_s
        if not not_booted and not undelivered:
            return
        await trio.sleep(RECOVERY_POLL_S)
