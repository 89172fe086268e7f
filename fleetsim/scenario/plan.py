"""What a run will do, worked out before it starts (pure): stations per model
and group, sessions per hour, the messages per second each kind of traffic
brings at the run's speed, the faults and when they strike, and whether one
process can keep up.

Rates are expectations (Poisson arrivals, Little's law for the transactions in
progress), not promises: they tell whether a scenario asks for 50 or 50,000
calls a second, and which traffic dominates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import msgspec

from fleetsim.profiles.profile import StationProfile
from fleetsim.sessions.config import ReplaySessions, SegmentSessions
from fleetsim.sessions.models import SEGMENTS, cdf, mean
from fleetsim.sessions.replay import ConnectorSlot, check_replay
from fleetsim.station.build import build_model, group_ids
from fleetsim.station.config import Configuration

if TYPE_CHECKING:
    from fleetsim.sessions.simple import SimpleSessions

# Calls a second one fleetsim process sustains on the reference machine (2
# cores, simulator and embedded CSMS a core each): benchmarks/README.md,
# "Throughput", measured saturation about 19,500 calls/s per core, falling past
# it; 15,000 keeps the event loop's lag (and so the latency figures) honest.
PROCESS_CALLS_PER_S: Final = 15_000

# Per session: Authorize, StartTransaction, StopTransaction (OCPP 1.6 §4.2,
# §4.8, §4.10), and StatusNotifications Preparing, Charging, Finishing,
# Available (§4.9; SuspendedEV adds one when the EV is full before it leaves).
CALLS_PER_SESSION: Final = 3
STATUS_PER_SESSION: Final = 4
# The interval a CSMS under test gives in BootNotification.conf is not known
# in advance: planned with the embedded CSMS's default.
ASSUMED_HEARTBEAT_INTERVAL_S: Final = 300


class GroupPlan(msgspec.Struct, frozen=True):
    label: str
    model: str
    stations: int
    connectors: tuple[int, ...]  # connector ids drivers use
    sessions: str  # the session model, in words
    peak_hour: int | None  # simulated local hour with the most arrivals (None: flat)
    sessions_peak_per_h: float  # the whole group, in that hour
    sessions_per_day: float  # the whole group, over the run's first simulated day
    sessions_in_run: float  # expected in the run's simulated span
    mean_connected_s: float  # simulated
    in_progress_peak: float  # transactions at once, at the busiest hour


class Rates(msgspec.Struct, frozen=True):
    """Calls per second of real time at the run's speed."""

    boot_storm: float  # during the ramp: BootNotification and the StatusNotifications after it
    heartbeats: float  # at most: any other message restarts the interval (§4.6)
    transactions: float  # Authorize, StartTransaction, StopTransaction, at the peak hour
    status_notifications: float  # of sessions, at the peak hour
    meter_values: float  # sampled during transactions and clock-aligned, at the peak hour
    csms_calls: float  # CSMS-initiated calls the stations answer

    @property
    def steady(self) -> float:
        return self.heartbeats + self.transactions + self.status_notifications + self.meter_values + self.csms_calls

    @property
    def peak(self) -> float:
        return max(self.steady, self.boot_storm + self.heartbeats + self.csms_calls)


class Plan(msgspec.Struct, frozen=True):
    stations: int
    models: dict[str, int]  # stations per model
    groups: tuple[GroupPlan, ...]
    speed: float
    duration_s: float  # real
    ramp_s: float  # real time until every station has started (0: all at once)
    sim_start: datetime | None  # the run's simulated start, or the one assumed (None: unknown)
    start_assumed: bool  # no [run] start: sim_start is when the caller expects the run to start
    rates: Rates
    faults: tuple[str, ...]  # what is scheduled, in words
    warnings: tuple[str, ...]


class GroupInput(msgspec.Struct, frozen=True):
    """A fleet share of the run spec with what only the scenario knows."""

    label: str
    connectors: tuple[int, ...] | None = None  # None: all of the model's


def plan_run(spec: Any, profiles: dict[str, StationProfile], inputs: Sequence[GroupInput] | None = None, *,
             assumed_start: datetime | None = None) -> Plan:
    """The plan of ``spec`` (a fleetsim.engine.run.RunSpec, read only).
    Without ``spec.sim_start`` the engine's simulated time starts at the real
    start of the run: ``assumed_start`` is the caller's guess of it, so that
    arrivals and replayed sessions fall on the hours the run will see."""
    inputs = inputs or [GroupInput(share.profile_id) for share in spec.fleet]
    start = spec.sim_start if spec.sim_start is not None else assumed_start
    heartbeat_s = _heartbeat_interval_s(spec)
    groups, rates = [], []
    for share, given in zip(spec.fleet, inputs, strict=True):
        profile = profiles[share.profile_id]
        connectors = given.connectors or tuple(range(1, profile.connector_count + 1))
        group = _group_plan(spec, start, share, given.label, profile, connectors)
        groups.append(group)
        rates.append(_group_rates(spec, share, profile, group, heartbeat_s))
    stations = sum(share.stations for share in spec.fleet)
    total = Rates(*(sum(getattr(r, f) for r in rates) for f in Rates.__struct_fields__))
    warnings = speed_warnings(total, spec.speed)
    ramp_s = stations / spec.ramp_per_s if spec.ramp_per_s > 0 else 0.0  # ramp 0: all at once (Fleet.run)
    return Plan(stations, spec.stations_per_model(), tuple(groups), spec.speed, spec.duration_s, ramp_s, start,
                spec.sim_start is None and start is not None, total, fault_lines(spec.faults, stations, spec),
                warnings)


def speed_warnings(rates: Rates, speed: float) -> tuple[str, ...]:
    if rates.peak <= PROCESS_CALLS_PER_S:
        return ()
    return (f"expected peak of {rates.peak:,.0f} calls/s at speed {speed:g} is past the {PROCESS_CALLS_PER_S:,} "
            "calls/s one fleetsim process sustains (benchmarks/README.md): the simulator's own lag would show up as "
            "CSMS latency; lower the speed or split the fleet over processes (fleetsim merge)",)


def _heartbeat_interval_s(spec: Any) -> int:
    if spec.csms_url is None and spec.embedded_csms is not None:
        return int(spec.embedded_csms.heartbeat_interval_s)
    return ASSUMED_HEARTBEAT_INTERVAL_S


def _group_plan(spec: Any, start: datetime | None, share: Any, label: str, profile: StationProfile,
                connectors: tuple[int, ...]) -> GroupPlan:
    sessions = share.sessions if share.sessions is not None else spec.sessions
    bays = share.stations * len(connectors)
    span_h = spec.duration_s * spec.speed / 3600
    match sessions:
        case SegmentSessions(segment=segment, sessions_per_connector_per_day=per_day):
            model = SEGMENTS[segment]
            hourly = _segment_hours(model, per_day)
            weekend = start is not None and start.weekday() >= 5
            peak_hour = max(range(24), key=lambda h: hourly[(h, weekend)])
            day = [hourly[(h, weekend)] * bays for h in range(24)]
            in_run = _segment_in_run(hourly, start, span_h) * bays
            in_progress = max(_in_progress(model, [hourly[(h, weekend)] for h in range(24)], h) for h in range(24))
            return GroupPlan(label, profile.id, share.stations, connectors, f"segment {segment}", peak_hour,
                             max(day), sum(day), in_run, mean(model.connection_h) * 3600, in_progress * bays)
        case ReplaySessions():
            return _replay_plan(spec, start, share, label, profile, connectors, sessions)
        case None:
            return GroupPlan(label, profile.id, share.stations, connectors, "none", None, 0.0, 0.0, 0.0, 0.0, 0.0)
    return _simple_plan(sessions, label, profile, share.stations, connectors, span_h)


def _replay_plan(spec: Any, start: datetime | None, share: Any, label: str, profile: StationProfile,
                 connectors: tuple[int, ...], sessions: ReplaySessions) -> GroupPlan:
    """The file's sessions that fit the group's connectors (check_replay says
    why the others do not, from the same simulated start as the engine),
    counted by hour of the simulated clock."""
    ratings = build_model(profile).ratings
    slots = [ConnectorSlot(cp_id, c, ratings[c - 1].max_power_kw)
             for cp_id in group_ids(share.id_pattern, spec.id_prefix, profile.id, share.stations) for c in connectors]
    report = check_replay(sessions, slots, start)
    span_s = spec.duration_s * spec.speed
    # Hours of the clock: the start's own hour is hour 0, counted from its top.
    into_hour_s = 0.0 if start is None else start.minute * 60 + start.second + start.microsecond / 1e6
    hours: dict[int, int] = {}
    busy_s: dict[int, float] = {}
    for session in report.fit:
        hour = int((into_hour_s + session.start_s) // 3600)
        hours[hour] = hours.get(hour, 0) + 1
        at, end = into_hour_s + session.start_s, into_hour_s + session.start_s + session.connected_s
        while at < end:  # connector-seconds in each hour: transactions in progress
            hour_end = (int(at // 3600) + 1) * 3600
            busy_s[int(at // 3600)] = busy_s.get(int(at // 3600), 0.0) + min(end, hour_end) - at
            at = hour_end
    peak = max(hours, key=hours.__getitem__) if hours else None
    peak_hour = None if peak is None or start is None else (start + timedelta(seconds=peak * 3600 - into_hour_s)).hour
    days: dict[int, int] = {}
    for hour, count in hours.items():
        days[hour // 24] = days.get(hour // 24, 0) + count
    unfit = ", ".join(f"{count} {reason}" for reason, count in report.unfit_by_reason().items())
    text = (f"replay of {sessions.file} ({sessions.shift}): {report.sessions} sessions in the file, "
            f"{len(report.fit)} fit" + (f"; not fitting: {unfit}" if unfit else ""))
    connected = [s.connected_s for s in report.fit]
    return GroupPlan(label, profile.id, share.stations, connectors, text, peak_hour,
                     float(max(hours.values(), default=0)),
                     float(max(days.values(), default=0)), float(sum(1 for s in report.fit if s.start_s < span_s)),
                     sum(connected) / len(connected) if connected else 0.0, max(busy_s.values(), default=0.0) / 3600)


def _simple_plan(sessions: SimpleSessions, label: str, profile: StationProfile, stations: int,
                 connectors: tuple[int, ...], span_h: float) -> GroupPlan:
    """Each connector alternates idle and plugged-in periods: one session a cycle."""
    cycle_s = sessions.mean_idle_s + sessions.badge_delay_s + sessions.mean_connected_s
    per_h = stations * len(connectors) * 3600 / cycle_s
    return GroupPlan(label, profile.id, stations, connectors,
                     f"simple: idle {sessions.mean_idle_s:g}s, plugged in {sessions.mean_connected_s:g}s on average",
                     None, per_h, per_h * 24, per_h * span_h, sessions.mean_connected_s,
                     per_h * sessions.mean_connected_s / 3600)  # Little's law


def _segment_hours(model: Any, per_day: float | None) -> dict[tuple[int, bool], float]:
    return {(h, w): model.hourly_rate_per_connector(h, w, per_day) for h in range(24) for w in (False, True)}


def _in_progress(model: Any, day: list[float], hour: int) -> float:
    """Sessions still plugged in at the middle of ``hour`` (per connector): the
    arrivals of the hours before, each weighted by the chance it is still there
    (the same day repeating)."""
    return sum(day[(hour - back) % 24] * (1 - cdf(model.connection_h, back + 0.5)) for back in range(72))


def _segment_in_run(hourly: dict[tuple[int, bool], float], start: datetime | None, span_h: float) -> float:
    """Expected arrivals per connector over the run's simulated span, hour by hour."""
    if start is None:  # no simulated start given: the day's average rate
        return sum(hourly[(h, False)] for h in range(24)) / 24 * span_h
    total, at, left_h = 0.0, start, span_h
    while left_h > 1e-9:
        step_h = min(left_h, 1 - (at.minute * 60 + at.second) / 3600)
        total += hourly[(at.hour, at.weekday() >= 5)] * step_h
        at += timedelta(hours=step_h)
        left_h -= step_h
    return total


def _group_rates(spec: Any, share: Any, profile: StationProfile, group: GroupPlan, heartbeat_s: int) -> Rates:
    configuration = Configuration(build_model(profile).configuration)
    for key, value in share.configuration:
        configuration.change(key, value)
    sample_s = configuration.get_int("MeterValueSampleInterval", 0)
    aligned_s = configuration.get_int("ClockAlignedDataInterval", 0)
    speed, stations = spec.speed, share.stations
    # The ramp starts the models interleaved: this group's share of it.  A
    # ramp of 0 starts the whole fleet at once (Fleet.run): all its boots
    # counted in the first second is a fair estimate of that burst, as is a
    # ramp faster than the fleet.
    fleet_stations = sum(s.stations for s in spec.fleet)
    started_per_s = min(spec.ramp_per_s, fleet_stations) if spec.ramp_per_s > 0 else fleet_stations
    boot = started_per_s * stations / fleet_stations * (2 + profile.connector_count)
    heartbeats = stations * speed / heartbeat_s if heartbeat_s > 0 else 0.0
    arrivals_per_s = group.sessions_peak_per_h * speed / 3600
    meter = group.in_progress_peak * speed / sample_s if sample_s > 0 else 0.0
    if aligned_s > 0:
        meter += stations * profile.connector_count * speed / aligned_s
    csms = 0.0
    if spec.csms_url is None:
        csms = sum(rule.rate_per_s for rule in spec.embedded_traffic) * stations * speed
    return Rates(boot, heartbeats, arrivals_per_s * CALLS_PER_SESSION, arrivals_per_s * STATUS_PER_SESSION, meter,
                 csms)


def fault_lines(faults: Any, stations: int, spec: Any) -> tuple[str, ...]:
    """The fault plan in words, with simulated and real times."""
    span_s = spec.duration_s * spec.speed
    lines = []

    def when(at_s: float) -> str:
        real = f"{at_s / spec.speed:g}s into the run (simulated {timedelta(seconds=round(at_s))})"
        return real + ("; after the run's end: never happens" if at_s >= span_s else "")

    if faults.drops is not None:
        lines.append(f"drops: each station {faults.drops.per_station_per_hour:g}/h, about "
                     f"{stations * faults.drops.per_station_per_hour * spec.speed / 3600:.2f} a second")
    for storm in faults.storms:
        lines.append(f"reconnect storm: {storm.share:.0%} of the fleet ({round(stations * storm.share)} stations) "
                     f"drops at once {when(storm.at_s)}")
    for outage in faults.outages:
        lines.append(f"CSMS outage of {outage.for_s:g}s simulated {when(outage.at_s)}")
    for reboot in faults.reboots:
        if reboot.at_s is not None:
            lines.append(f"reboot of {reboot.share:.0%} of the fleet {when(reboot.at_s)}")
        if reboot.per_station_per_hour > 0:
            lines.append(f"random reboots: each station {reboot.per_station_per_hour:g}/h")
    if faults.connector_faults is not None:
        cf = faults.connector_faults
        lines.append(f"connector faults: {cf.error_code} at {cf.per_connector_per_hour:g}/h per connector, "
                     f"recovering after {cf.recover_after_s:g}s simulated")
    for loss in faults.power_loss:
        lines.append(f"power loss of {loss.share:.0%} of the fleet for {loss.for_s:g}s simulated {when(loss.at_s)}")
    if faults.clock_skew is not None:
        lines.append(f"clock skew: {faults.clock_skew.share:.0%} of the stations off by up to "
                     f"±{faults.clock_skew.max_skew_s:g}s")
    return tuple(lines)
