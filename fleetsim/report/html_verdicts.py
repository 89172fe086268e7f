"""What the HTML report says first: whether the run drove its whole fleet,
and the verdict of each threshold.  A run in which stations never connected
must not read as a clean one because nothing failed that never ran.

Pure: dicts of ``summary.json`` (results/README.md) in, HTML text out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from fleetsim.report.html_parts import bad, e, model_cell, note, number, section, table

# What a failed connection attempt's reason means (summary.json: connection.failures).
_CAUSES: Final = {
    "refused": "connection refused: nothing listens at that address and port",
    "timeout": "no connection within the connect timeout",
    "tls": "the TLS handshake failed",
    "unauthorized": "HTTP 401 to the WebSocket upgrade: a wrong or missing password",
    "rejected": "the WebSocket upgrade was refused",
    "handshake": "the WebSocket handshake failed",
    "resolve": "the host name did not resolve",
    "reset": "connection reset",
    "closed": "closed during the handshake",
    "outage": "refused during an injected CSMS outage",
}


class Shortfall(NamedTuple):
    """Stations of a fleet (or of a model) that never connected / never
    booted; None where the summary does not tell."""

    stations: int
    never_connected: int | None
    never_booted: int | None

    @property
    def any(self) -> bool:
        return bool(self.never_connected) or bool(self.never_booted)


def shortfall(stations: int, section_: Mapping[str, Any]) -> Shortfall:
    """From a ``fleet`` or ``models.<id>`` section: ``stations_connected`` and
    ``stations_booted``; a summary written before them still tells a fleet
    that never connected (no connection) or never booted (no Accepted)."""
    connection = section_.get("connection") or {}
    connected = connection.get("stations_connected")
    if connected is None and connection.get("connects") == 0:
        connected = 0
    booted = connection.get("stations_booted")
    if booted is None and not ((section_.get("boot") or {}).get("answers") or {}).get("Accepted"):
        booted = 0
    return Shortfall(stations, None if connected is None else max(0, stations - connected),
                     None if booted is None else max(0, stations - booted))


def fleet_shortfall(summary: Mapping[str, Any]) -> Shortfall:
    stations = sum(((summary.get("run") or {}).get("fleet") or {}).values())
    return shortfall(stations, summary.get("fleet") or {})


def _failures(connection: Mapping[str, Any]) -> str:
    by_reason = sorted((connection.get("failures") or {}).items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{e(reason)} {number(n)}" for reason, n in by_reason)


def _answers(section_: Mapping[str, Any]) -> str:
    answers = (section_.get("boot") or {}).get("answers") or {}
    return ", ".join(f"{e(status)} {number(n)}" for status, n in sorted(answers.items())) or "none"


def fleet_verdict(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    """A red verdict when stations never connected or never booted: how many,
    and why (failed attempts by cause, BootNotification answers), per model
    when the fleet has several.  Empty when every station booted."""
    lack = fleet_shortfall(summary)
    if not lack.any:
        return ""
    run = summary.get("run") or {}
    fleet = summary.get("fleet") or {}
    connection = fleet.get("connection") or {}
    counts = []
    if lack.never_connected:
        counts.append(f"<b>{number(lack.never_connected)} of {number(lack.stations)} stations never connected</b>")
    if lack.never_booted:
        counts.append(f"<b>{number(lack.never_booted)} never booted</b> (no BootNotification Accepted)")
    text = [f"The run could not drive its fleet: {' and '.join(counts)}, against {e(run.get('csms') or 'the CSMS')}."]
    failures = connection.get("failures") or {}
    if failures:
        causes = sorted(failures.items(), key=lambda item: (-item[1], item[0]))
        text.append("Failed connection attempts: " + "; ".join(
            f"<b>{e(reason)} {number(n)}</b>" + (f" ({e(_CAUSES[reason])})" if reason in _CAUSES else "")
            for reason, n in causes) + ".")
    elif lack.never_connected:
        text.append("No connection attempt of theirs failed: the run may have ended before the ramp started them.")
    if lack.never_booted and (lack.never_connected or 0) < lack.never_booted:
        text.append(f"BootNotification answers: {_answers(fleet)}.")
    return note(" ".join(text), "verdict bad") + _per_model(summary, colors)


def _per_model(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    models = summary.get("models") or {}
    fleet = (summary.get("run") or {}).get("fleet") or {}
    if len(fleet) < 2:
        return ""
    rows = []
    for model_id, stations in sorted(fleet.items()):
        model = models.get(model_id) or {}
        lack = shortfall(stations, model)
        first = model_cell(model_id, colors)
        rows.append([bad(first) if lack.any else first, _failures(model.get("connection") or {}) or "–",
                     _answers(model), number(stations), number(lack.never_connected), number(lack.never_booted)])
    return table(["model", "failed attempts", "BootNotification answers", "stations", "never connected",
                  "never booted"], rows, cls="compact", numeric_from=3)


# ---------------------------------------------------------------- thresholds


def thresholds_section(summary: Mapping[str, Any]) -> str:
    """The thresholds' verdicts (summary.json ``thresholds``), failed first;
    empty when the run had none."""
    verdicts = [v for v in summary.get("thresholds") or [] if isinstance(v, Mapping)]
    if not verdicts:
        return ""
    failed = [v for v in verdicts if not v.get("passed")]
    rows = []
    for verdict in failed + [v for v in verdicts if v.get("passed")]:
        passed = bool(verdict.get("passed"))
        flags = []
        if verdict.get("aborted_run"):
            flags.append("<b>aborted the run</b>")
        elif verdict.get("abort"):
            flags.append("aborts the run when it fails")
        badge = "<span class='badge pass'>pass</span>" if passed else bad("<span class='badge fail'>FAIL</span>")
        rows.append([badge, f"<code>{e(verdict.get('expression', '?'))}</code>", e(verdict.get("observed") or "–"),
                     e(verdict.get("detail") or ""), "; ".join(flags)])
    if failed:
        head = note(f"<b>{len(failed)} of {len(verdicts)} thresholds failed</b>"
                    + "".join(f"{', ' if i else ': '}<code>{e(v.get('expression', '?'))}</code>"
                              for i, v in enumerate(failed[:3]))
                    + (f" and {len(failed) - 3} more" if len(failed) > 3 else "") + ".", "verdict bad")
    else:
        head = note(f"All {len(verdicts)} thresholds passed.", "verdict good")
    aborted = [v for v in verdicts if v.get("aborted_run")]
    if aborted:
        head += note(f"The run was stopped early: <code>{e(aborted[0].get('expression', '?'))}</code> failed and "
                     "aborts the run. The figures below are those measured until then.", "warning")
    body = head + table(["verdict", "threshold", "observed", "detail", ""], rows, cls="thresholds", numeric_from=9)
    return section("thresholds", "Thresholds", "", body)
