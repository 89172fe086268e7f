"""The terminal's view of a run: a live progress line and the end summary."""

from __future__ import annotations

from typing import Protocol

from fleetsim.metrics.recorder import ExchangeStats, Recorder
from fleetsim.metrics.summary import lag_warning
from fleetsim.report.thresholds import FLEET


class ProgressLike(Protocol):
    started: int
    connected: int
    booted: int
    charging: int
    messages_out: int
    messages_in: int
    connect_failures: int


def progress_line(progress: ProgressLike, recorder: Recorder, elapsed_s: float) -> str:
    # Straight from the models' figures: merging histograms every second would
    # cost the event loop milliseconds (and the worst of the maxima is the max).
    exchanges = [stats for model in recorder.models.values() for stats in model.exchanges.values()]
    errors = sum(sum(s.errors.values()) + s.timeouts for s in exchanges)
    worst_ms = max((s.corrected.get_max_value() / 1000 for s in exchanges if s.corrected.total_count), default=0.0)
    rate = progress.messages_out / elapsed_s if elapsed_s > 0 else 0.0
    return (f"{elapsed_s:6.0f}s  stations {progress.started}  connected {progress.connected}  booted {progress.booted}  "
            f"charging {progress.charging}  "
            f"sent {progress.messages_out} ({rate:,.0f}/s)  errors {errors}  "
            f"connect failures {progress.connect_failures}  worst {worst_ms:,.1f} ms")


def _row(label: str, action: str, stats: ExchangeStats) -> str:
    corrected = stats.summary()["corrected_ms"]
    errors = sum(stats.errors.values())
    declared_ms = stats.declared_timeout_us / 1000
    if corrected is None:
        figures = f"{'-':>9} {'-':>9} {'-':>9}"
        breached = ""
    else:
        figures = f"{corrected['p50']:9.2f} {corrected['p99']:9.2f} {corrected['max']:9.2f}"
        breached = "  ✗ late" if stats.late or stats.timeouts else ""
    return (f"{label:<32} {action:<33} {stats.answered + stats.timeouts:>8} {errors:>6} {stats.timeouts:>8} "
            f"{figures} {declared_ms / 1000:>8.0f}s{breached}")


def summary_table(recorder: Recorder) -> str:
    """Per model and action: count, errors, timeouts, latency (corrected for
    coordinated omission) against the model's declared response timeout."""
    header = (f"{'model':<32} {'action':<33} {'count':>8} {'errors':>6} {'timeouts':>8} "
              f"{'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'declared':>9}")
    lines = [header, "-" * len(header)]
    for model_id, model in sorted(recorder.models.items()):
        for action, stats in sorted(model.exchanges.items()):
            lines.append(_row(model_id[:32], action, stats))
    fleet = recorder.fleet_exchanges()
    if fleet:
        lines.append("-" * len(header))
        for action, stats in sorted(fleet.items()):
            lines.append(_row(FLEET, action, stats))
    if len(lines) == 2:
        lines.append("(no exchanges recorded)")
    return "\n".join(lines)


def csms_calls_table(recorder: Recorder) -> str:
    """How each model answered the CSMS's calls: action → answer → count."""
    rows: dict[str, dict[str, dict[str, int]]] = {}
    for model_id, model in recorder.models.items():
        for name, count in model.counters.items():
            if name.startswith("csms_call."):
                _, action, answer = name.split(".", 2)
                rows.setdefault(action, {}).setdefault(model_id, {})[answer] = count
    if not rows:
        return ""
    lines = [f"{'CSMS call':<30} {'model':<32} answers", "-" * 100]
    for action in sorted(rows):
        for model_id in sorted(rows[action]):
            answers = ", ".join(f"{answer} {count}" for answer, count in sorted(rows[action][model_id].items()))
            lines.append(f"{action:<30} {model_id[:32]:<32} {answers}")
    return "\n".join(lines)


def simulator_lines(recorder: Recorder) -> tuple[str, str | None]:
    """The simulator's own lag in one line, and the loud warning (or None) when
    that lag could distort the figures (fleetsim.metrics.summary.lag_warning).
    Reads the cumulative histograms: fold the recorder first."""
    parts = []
    for name, label in (("loop_lag", "event-loop lag"), ("timer_lag", "timer lag")):
        histogram = recorder.simulator[name]
        if histogram.total_count:
            parts.append(f"{label} p50 {histogram.get_value_at_percentile(50.0) / 1000:.1f} ms, "
                         f"p99 {histogram.get_value_at_percentile(99.0) / 1000:.1f} ms, "
                         f"max {histogram.get_max_value() / 1000:.1f} ms")
    pauses = recorder.simulator["gc_pause"]
    if pauses.total_count:
        parts.append(f"{pauses.total_count} GC pauses, max {pauses.get_max_value() / 1000:.1f} ms")
    line = "simulator: " + ("; ".join(parts) if parts else "not measured")
    warning = lag_warning(recorder)
    return line, None if warning is None else f"WARNING: {warning}"
