"""Thresholds on the command line (``fleetsim run --threshold`` and ``fleetsim
gate``): parsed as click parameters, so a bad expression is a usage error
(exit 2) before anything runs; judged against a summary document, printed,
and written as JUnit XML for CI."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from fleetsim.report.junit import junit_xml
from fleetsim.report.thresholds import Threshold, ThresholdError, evaluate, parse_threshold, verdict_lines


class ThresholdType(click.ParamType):
    name = "threshold"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, Threshold):
            return value
        try:
            return parse_threshold(str(value))
        except ThresholdError as error:
            self.fail(f"{value!r}: {error}", param, ctx)


def junit_properties(document: Mapping[str, Any]) -> dict[str, str]:
    run = document.get("run") or {}
    fleet = run.get("fleet") or {}
    return {
        "run_id": str(run.get("id", "")),
        "csms": str(run.get("csms", "")),
        "fleet": ", ".join(f"{model_id}={n}" for model_id, n in sorted(fleet.items())),
        "duration_s": f"{run.get('duration_s', 0):g}",
        "completed": str(run.get("completed", "")).lower(),
        "fleetsim_version": str(run.get("fleetsim_version", "")),
        "host": str(run.get("host", "")),
    }


def judge(thresholds: Sequence[Threshold], document: Mapping[str, Any], junit_file: Path | None, *,
          echo: bool = True) -> bool:
    """Print every verdict (unless not ``echo``); write the JUnit file if
    asked.  True if all pass."""
    verdicts = evaluate(thresholds, document)
    lines = verdict_lines(verdicts)
    if echo:
        click.echo("")
        for verdict, line in zip(verdicts, lines, strict=False):
            click.secho(line, fg="green" if verdict.passed else "red")
        click.secho(lines[-1], bold=True, fg="green" if all(v.passed for v in verdicts) else "red")
    if junit_file is not None:
        text = junit_xml(verdicts, properties=junit_properties(document),
                         timestamp=(document.get("run") or {}).get("started_at"))
        try:
            junit_file.parent.mkdir(parents=True, exist_ok=True)
            junit_file.write_text(text, encoding="utf-8")
        except OSError as error:
            click.echo(f"error: cannot write the JUnit file: {error}", err=True)
            sys.exit(2)
        if echo:
            click.echo(f"JUnit: {junit_file}")
    return all(verdict.passed for verdict in verdicts)
