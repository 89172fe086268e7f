"""The command line of a run split over processes or machines: ``--shard``,
``--start-at`` and ``--workers``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import click

from fleetsim.spec.shard import Shard

# A common start further ahead than this is a typo, not a plan.
MAX_START_AHEAD: Final = timedelta(days=1)
MAX_WORKERS: Final = 64


class ShardType(click.ParamType):
    """``I/N``: shard I (from 0) of N."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


class StartAtType(click.ParamType):
    """A wall-clock time with its offset (ISO 8601: 2026-12-06T12:00:00Z),
    at most a day ahead."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is no time: give ISO 8601 with its offset, e.g. 2026-12-06T12:00:00Z", param, ctx)
        if when.tzinfo is None:
            self.fail(f"{value!r} has no offset: shards on several machines need one time, e.g. "
                      f"{value}Z (UTC) or {value}+01:00", param, ctx)
        if when - datetime.now(UTC) > MAX_START_AHEAD:
            self.fail(f"{value} is more than a day ahead", param, ctx)
        return when.astimezone(UTC)


class WorkersType(click.ParamType):
    """A number of worker processes, or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if value == "auto" or isinstance(value, int):
            return value
        try:
            workers = int(value)
        except ValueError:
            self.fail(f"{value!r}: give a number of worker processes (1 to {MAX_WORKERS}) or auto", param, ctx)
        if not 1 <= workers <= MAX_WORKERS:
            self.fail(f"{workers} workers: give 1 to {MAX_WORKERS} (or auto)", param, ctx)
        return workers


def check_split(shard: Shard | None, workers: int | str | None, thresholds: tuple[Any, ...],
                junit_file: Any) -> None:
    """The options of a split run that cannot go together, refused before anything runs."""
    if shard is not None and workers is not None:
        raise click.UsageError("--shard and --workers: give one (a shard runs in one process; --workers splits "
                               "the fleet over this machine's processes)")
    if shard is not None and (thresholds or junit_file):
        raise click.UsageError("--threshold and --junit judge a whole run: with --shard, merge the shards "
                               "(fleetsim merge) and judge the merged run (fleetsim gate)")


def shard_thresholds(spec: Any, thresholds: tuple[Any, ...], quiet: bool) -> tuple[Any, ...]:
    """The thresholds a run judges: none for a shard (a scenario's are judged
    on the merged run), said once."""
    if spec.shard.whole or not thresholds:
        return thresholds
    if not quiet:
        click.echo(f"shard {spec.shard}: the scenario's {len(thresholds)} threshold(s) are judged on the merged run "
                   "(fleetsim merge, then fleetsim gate), not here", err=True)
    return ()


def resolve_workers(spec: Any, workers: int | str | None) -> int:
    """The number of worker processes (1: the run stays in this process)."""
    from fleetsim.engine.workers import auto_workers

    stations = spec.fleet_stations()
    if workers is None:
        return 1
    if workers == "auto":
        return auto_workers(stations, len(spec.source_addresses))
    return max(1, min(int(workers), stations))


def process_limits(stations: int, source_addresses: tuple[str, ...], embedded_csms: bool, shard: Shard | None,
                   workers: int | str | None) -> list[Any]:
    """What would stop the fleet in the processes it runs in (fleetsim.engine.limits):
    one process, one shard, or each of ``workers`` (the embedded CSMS then
    runs in processes of its own); and the ports of the machine, which its
    processes share."""
    from fleetsim.engine import limits
    from fleetsim.engine.workers import auto_workers

    if shard is None and workers is None:
        return limits.check(stations, len(source_addresses), embedded_csms=embedded_csms)
    if shard is not None:
        part = Shard(0, shard.count).size(stations)
        return limits.check(part, len(shard.source_addresses(source_addresses)), embedded_csms=embedded_csms)
    count = auto_workers(stations, len(source_addresses)) if workers == "auto" else min(int(workers), stations)
    part = Shard(0, count).size(stations)
    problems = limits.check(part, len(Shard(0, count).source_addresses(source_addresses)), embedded_csms=False)
    ports = limits.ephemeral_ports() * max(1, len(source_addresses))
    if stations > ports and not problems:
        problems.append(limits.LimitProblem(
            f"{stations} connections to one CSMS address need more than the {ports} ephemeral ports this "
            "machine's processes share", "add source addresses (--source-address 127.0.0.2 --source-address "
            "127.0.0.3 ... on loopback), one or more per worker"))
    return problems


def fit_processes(stations: int, source_addresses: tuple[str, ...], embedded_csms: bool, shard: Shard | None,
                  workers: int | str | None, *, quiet: bool = False) -> tuple[int | str | None, list[Any]]:
    """The workers the fleet runs in, and what would still stop it: a fleet
    one process cannot hold (its open files, its ports) is split over
    workers by itself (``auto``), said once, when that makes it fit."""
    problems = process_limits(stations, source_addresses, embedded_csms, shard, workers)
    if problems and workers is None and shard is None and \
            not process_limits(stations, source_addresses, embedded_csms, None, "auto"):
        if not quiet:
            click.echo(f"{stations:,} stations are more than one process holds ({problems[0].what}): "
                       "running them in worker processes (--workers auto)", err=True)
        return "auto", []
    return workers, problems
