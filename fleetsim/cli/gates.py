"""Thresholds on the command line (``fleetsim run --threshold`` and ``fleetsim
gate``): parsed as click parameters, so a bad expression is a usage error
(exit 2) before anything runs; judged against a summary document, printed,
written as JUnit XML for CI and stored in summary.json; those marked
``abort`` judged live at every interval of a run, the first failure stopping
it."""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import msgspec
import trio

from fleetsim.engine.run import RunSpec
from fleetsim.inputs import read_input_file
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES, checked_list, key_percentile, parse_list
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import SCENARIO_FILE, SUMMARY_FILE
from fleetsim.metrics.summary import live_summary
from fleetsim.report.compare import Comparison, RegressionLimit, compare, is_latency as is_compared_latency
from fleetsim.report.histograms import fill_percentiles
from fleetsim.report.junit import junit_xml
from fleetsim.report.noise import load_noise
from fleetsim.report.threshold_grammar import is_latency, is_setup_latency
from fleetsim.report.thresholds import (
    Threshold,
    ThresholdError,
    Verdict,
    evaluate,
    figure_steps,
    judge_live,
    parse_threshold,
    verdict_lines,
    verdict_records,
)


class ThresholdType(click.ParamType):
    name = "threshold"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, Threshold):
            return value
        try:
            return parse_threshold(str(value))
        except ThresholdError as error:
            self.fail(f"{value!r}: {error}", param, ctx)


class _ScenarioThresholds(msgspec.Struct):
    """All `fleetsim gate` reads of a run's scenario copy: the rest of the
    file is the run's business (its relative paths no longer resolve there)."""

    thresholds: tuple[str, ...] = ()


def scenario_thresholds(results_dir: Path) -> tuple[Threshold, ...]:
    """The thresholds of the scenario a run used, from the copy in its
    results folder (none when it has no copy: a run without a scenario file,
    or one killed before its end).  A copy that cannot be read or judged is
    a one-line :class:`click.UsageError` naming the file and the field."""
    folder = results_dir if results_dir.is_dir() else results_dir.parent
    path = folder / SCENARIO_FILE
    if not path.is_file():
        return ()
    try:
        raw = tomllib.loads(read_input_file(path).decode("utf-8"))
        listed = msgspec.convert(raw, _ScenarioThresholds).thresholds
    except (OSError, ValueError, RecursionError, msgspec.ValidationError) as error:  # ValueError: not UTF-8, not TOML
        raise click.UsageError(f"{path}: cannot read its thresholds: {str(error).splitlines()[0]}") from None
    parsed = []
    for index, text in enumerate(listed):
        try:
            parsed.append(parse_threshold(text))
        except ThresholdError as error:
            raise click.UsageError(f"{path}: thresholds[{index}]: {text!r}: {error.message} "
                                   f"(column {error.column + 1})") from None
    return tuple(parsed)


def junit_properties(document: Mapping[str, Any]) -> dict[str, str]:
    run = document.get("run") or {}
    fleet = run.get("fleet") or {}
    properties = {
        "run_id": str(run.get("id", "")),
        "csms": str(run.get("csms", "")),
        "fleet": ", ".join(f"{model_id}={n}" for model_id, n in sorted(fleet.items())),
        "duration_s": f"{run.get('duration_s', 0):g}",
        "completed": str(run.get("completed", "")).lower(),
        "fleetsim_version": str(run.get("fleetsim_version", "")),
        "host": str(run.get("host", "")),
    }
    if run.get("aborted_by"):
        properties["aborted_by"] = str(run["aborted_by"])
    return properties


def percentiles_named(thresholds: Sequence[Threshold]) -> set[float]:
    """The percentiles the thresholds judge (``p99.99`` → 99.99)."""
    named = set()
    for threshold in thresholds:
        key = threshold.metric.partition(".")[2] if is_setup_latency(threshold.metric) else threshold.metric
        if (is_latency(threshold.metric) or is_setup_latency(threshold.metric)) and key != "max":
            named.add(key_percentile(key))
    return named


def judge(thresholds: Sequence[Threshold], document: Mapping[str, Any], junit_file: Path | None, *,
          echo: bool = True) -> bool:
    """Print every verdict (unless not ``echo``); write the JUnit file if
    asked.  True if all pass."""
    return all(verdict.passed for verdict in print_verdicts(thresholds, document, junit_file, echo=echo))


def print_verdicts(thresholds: Sequence[Threshold], document: Mapping[str, Any], junit_file: Path | None,
                   *, aborted: Verdict | None = None, echo: bool = True) -> list[Verdict]:
    """Judge, print every verdict (unless not ``echo``) and write the JUnit
    file if asked.  The threshold that ``aborted`` the run keeps the verdict
    that stopped it."""
    verdicts = [aborted if aborted is not None and verdict.expression == aborted.expression else verdict
                for verdict in evaluate(thresholds, document)]
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
    return verdicts


def gate_folder(results_dir: Path, thresholds: Sequence[Threshold], document: dict[str, Any],
                junit_file: Path | None) -> bool:
    """``fleetsim gate``: judge a results folder (percentiles summary.json does
    not list read from its latency.hlog), store the verdicts in its
    summary.json.  True if every threshold passed."""
    folder = results_dir if results_dir.is_dir() else results_dir.parent
    problem = fill_percentiles(document, folder, percentiles_named(thresholds))
    if problem is not None:
        click.secho(f"note: {problem}", fg="yellow", err=True)
    verdicts = print_verdicts(thresholds, document, junit_file)
    store_verdicts(folder, verdicts)
    return all(verdict.passed for verdict in verdicts)


def judge_run(thresholds: Sequence[Threshold], document: dict[str, Any], junit_file: Path | None, out_dir: Path,
              aborted: Verdict | None, *, echo: bool = True) -> bool:
    """``fleetsim run``'s thresholds judged on its summary (the one that
    aborted the run, if one did, keeps the verdict that stopped it), stored in
    its summary.json.  True if every threshold passed."""
    if aborted is not None:
        document["run"]["aborted_by"] = aborted.expression
    verdicts = print_verdicts(thresholds, document, junit_file, aborted=aborted, echo=echo)
    store_verdicts(out_dir, verdicts, aborted_by=aborted.expression if aborted is not None else None)
    return all(verdict.passed for verdict in verdicts)


def store_verdicts(folder: Path, verdicts: Sequence[Verdict], *, aborted_by: str | None = None) -> None:
    """Write the verdicts into ``folder``'s summary.json (``thresholds``;
    ``run.aborted_by`` if given): those of the same expressions are replaced,
    except one that aborted the run (what stopped it stays on record), and
    new ones added.  Written whole to a new file, then renamed over the old,
    so the summary is never lost; a folder that cannot be written is said,
    not fatal (the verdict stands)."""
    path = folder / SUMMARY_FILE
    try:
        document = msgspec.json.decode(path.read_bytes())
        stored = [record for record in document.get("thresholds") or [] if isinstance(record, dict)]
        fresh = {record["expression"]: record for record in verdict_records(verdicts)}
        kept = [record if record.get("aborted_run") else fresh.pop(record.get("expression"), record)
                for record in stored]
        for record in kept:
            fresh.pop(record.get("expression"), None)
        document["thresholds"] = kept + list(fresh.values())
        if aborted_by is not None:
            document["run"]["aborted_by"] = aborted_by
        _replace(path, msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")
    except (OSError, msgspec.DecodeError, KeyError, TypeError, AttributeError) as error:
        click.secho(f"note: the verdicts could not be stored in {path}: {error}", fg="yellow", err=True)


def _replace(path: Path, content: bytes) -> None:
    """Write a new file whole, then rename it over ``path``: a full disk or a
    kill leaves the old file, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(content)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


class PercentilesType(click.ParamType):
    """``--percentiles 50,90,95,99,99.9``."""

    name = "percentiles"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, tuple):
            return value
        try:
            return parse_list(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def with_named_percentiles(spec: RunSpec, thresholds: Sequence[Threshold]) -> RunSpec:
    """The run's spec with the percentiles its thresholds judge added to
    summary.json's list, so a later `fleetsim gate` finds them there too."""
    named = percentiles_named(thresholds) - set(spec.percentiles)
    if not named:
        return spec
    return msgspec.structs.replace(spec, percentiles=checked_list({*spec.percentiles, *named}))


class AbortWatch:
    """The run's thresholds marked ``abort``, judged after every interval on
    the figures so far (what summary.json would say then); the first that
    fails stops the run (engine IntervalCallback).  Each figure is made when
    first read, a few at a time, the loop's other tasks running in between."""

    def __init__(self, thresholds: Sequence[Threshold], recorder: Recorder,
                 percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                 say: Callable[[str], None] | None = None) -> None:
        self.thresholds = [threshold for threshold in thresholds if threshold.abort]
        self.recorder = recorder
        self.percentiles = percentiles
        self.say = say
        self.aborted: Verdict | None = None

    def __bool__(self) -> bool:
        return bool(self.thresholds)

    async def __call__(self, elapsed_s: float) -> str | None:
        if self.aborted is not None:
            return None
        due = [threshold for threshold in self.thresholds if elapsed_s >= threshold.abort_after_s]
        if not due:
            return None
        summary = live_summary(self.recorder, self.percentiles)
        for threshold in due:
            for _ in figure_steps(threshold, summary):
                await trio.lowlevel.checkpoint()
            verdict = judge_live(threshold, summary)
            if verdict is not None:
                self.aborted = msgspec.structs.replace(
                    verdict, detail=f"aborted the run at {elapsed_s:.0f} s: {verdict.detail}")
                line = f"threshold failed, run aborted at {elapsed_s:.0f} s: {threshold.expression} ({verdict.detail})"
                if self.say is not None:
                    self.say(line)
                return line
            await trio.lowlevel.checkpoint()
        return None


def compare_folders(base_dir: Path, new_dir: Path, base: dict[str, Any], new: dict[str, Any],
                    limits: Sequence[RegressionLimit], *, min_count: int, confidence: float) -> Comparison:
    """``fleetsim compare``: percentiles summary.json does not list read from
    each folder's latency.hlog, and the noise of both runs from the same logs
    (``confidence`` 0: none, latencies judged on their figures alone)."""
    latency_limits = [limit for limit in limits if is_compared_latency(limit.metric)]
    keys = {limit.metric.removeprefix("service.") for limit in latency_limits}
    wanted = {key_percentile(key) for key in keys if key != "max"}
    for document, folder in ((base, base_dir), (new, new_dir)):
        problem = fill_percentiles(document, folder if folder.is_dir() else folder.parent, wanted)
        if problem is not None:
            click.secho(f"note: {problem}", fg="yellow", err=True)
    noise, unknown = None, ""
    if latency_limits and confidence <= 0:
        unknown = "--confidence 0"
    elif latency_limits:
        service = any(limit.metric.startswith("service.") for limit in latency_limits)
        loaded = load_noise(base_dir, new_dir, service=service, confidence=confidence)
        noise, unknown = (None, loaded) if isinstance(loaded, str) else (loaded, "")
    return compare(base, new, limits, min_count=min_count, noise=noise, noise_unknown=unknown)
