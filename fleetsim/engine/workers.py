"""One run over several processes of this machine: worker processes, each a
trio engine running one shard of the fleet (fleetsim.spec.shard) into a
results folder of its own, and, without a CSMS to test, the embedded CSMS in
processes of its own sharing one listening socket.

The coordinator (this module, in the process the user started) forks them
before it starts its own event loop, then only listens: each worker sends,
once a second, its live snapshot and the lines its latency.hlog got for the
last closed interval; the coordinator adds those histograms over workers for
the live view (exact percentiles, never averaged).  The results are merged
from the workers' folders when they are done (fleetsim.metrics.merge).

Workers run in process groups of their own: a Ctrl-C on the terminal reaches
the coordinator alone, which passes it on to each worker once (a second
Ctrl-C, a second time: close at once), so the workers stop as one process
would.  The CSMS processes ignore it: they serve until every worker has
delivered its last StopTransaction, then the coordinator stops them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import multiprocessing
import os
import signal
import socket
import ssl
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.context import ForkProcess
from pathlib import Path
from typing import Final

import msgspec
import trio

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.processes import CsmsProcesses, ProcessUsage
from fleetsim.engine import limits
from fleetsim.engine.fleet import Progress
from fleetsim.engine.mailbox import Mailbox
from fleetsim.engine.run import IntervalCallback, RunOutcome, run
from fleetsim.engine.steering import ClosedInterval, Finish, Order, SplitSteering, Steer, WorkerInterval, follow
from fleetsim.metrics.live import LastInterval, LiveSnapshot, combine_snapshots, merged_interval, take_snapshot
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.metrics.tally import LiveMerge, Tally
from fleetsim.profiles.profile import StationProfile
from fleetsim.spec.run import RunSpec
from fleetsim.spec.shard import Shard

# Stations one worker is given at most when the count is ``auto``, below the
# process's own limits: past about this many, one core is busy.
AUTO_STATIONS_PER_WORKER: Final = 10_000
# Time the workers get to build their stations before the common start.
BUILD_LEAD_S: Final = 1.0
BUILD_S_PER_STATION: Final = 60e-6
SHARDS_FOLDER: Final = "shards"
# Intervals some worker has closed and another not yet: the live view waits
# for the slowest worker this many intervals at most.
MAX_OPEN_INTERVALS: Final = 8


class WorkerUpdate(msgspec.Struct, tag=True):
    """A worker's once-a-second news: its stations now, and the interval it
    closed since its last news, if any (its end, seconds since the start: 0
    for none; and its latency.hlog lines)."""

    snapshot: LiveSnapshot | None  # None: an interval's news alone
    interval_end_s: float = 0.0
    interval_length_s: float = 0.0
    lines: tuple[str, ...] = ()
    tally: Tally | None = None  # its counts so far, with each interval (for thresholds judged live)
    messages: tuple[int, int] = (0, 0)  # its messages out and in so far, at the interval's close


class WorkerDone(msgspec.Struct, tag=True):
    """A worker's last word: how its run ended (its folder holds the rest)."""

    started_at: datetime | None = None
    ended_at: datetime | None = None
    interrupted: bool = False
    progress: Progress = msgspec.field(default_factory=Progress)
    broke: str | None = None  # the run itself failed: why
    usage: ProcessUsage = ProcessUsage()


_Message = WorkerUpdate | WorkerDone
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Message)


def auto_workers(stations: int, source_addresses: int) -> int:
    """``--workers auto``: as many as the fleet needs (each process's open
    files and ports) and the cores allow (one per core, for fleets that keep
    one core busy), never more than the fleet has stations."""
    needed = math.ceil(stations / limits.stations_per_process(source_addresses))
    useful = min(cores(), math.ceil(stations / AUTO_STATIONS_PER_WORKER))
    return max(1, min(stations, max(needed, useful)))


def csms_processes(stations: int) -> int:
    """Embedded CSMS processes for a fleet: each holds one socket a station."""
    return max(1, math.ceil(stations / limits.stations_per_process(source_addresses=0, ports=False)))


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class WorkerExit(msgspec.Struct, frozen=True):
    """How a worker ended, as the coordinator saw it."""

    index: int
    count: int  # of workers
    pid: int
    folder: Path
    done: WorkerDone | None  # None: it died before saying how its run ended
    exitcode: int | None

    def death(self) -> str | None:
        """Why it died, or None when it ended its run (broken or not)."""
        if self.done is not None:
            return None
        code = self.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit status {code}" if code is not None else "lost")
        return f"worker {self.index} (shard {self.index}/{self.count}, pid {self.pid}) died: {how}"


class Workers:
    """The processes of one run; :meth:`start`, then :meth:`watch` (trio),
    then :meth:`finish`."""

    def __init__(self, spec: RunSpec, profiles: dict[str, StationProfile], count: int, out_dir: Path, *,
                 run_id: str, ssl_context: ssl.SSLContext | None = None,
                 passwords: Callable[[str], bytes | None] | None = None, scenario_text: str | None = None,
                 csms_config: CsmsConfig | None = None, live: LiveMerge | None = None, steered: bool = False) -> None:
        self.spec = spec
        self.profiles = profiles
        self.count = count
        self.out_dir = out_dir
        self.run_id = run_id
        self.ssl_context = ssl_context
        self.passwords = passwords
        self.scenario_text = scenario_text
        self.csms_config = csms_config  # None: spec.csms_url is the target
        self.csms_url: str | None = spec.csms_url
        self._context = multiprocessing.get_context("fork")
        self._workers: list[tuple[ForkProcess, Connection, Path]] = []
        self.csms: CsmsProcesses | None = None
        self.exits: list[WorkerExit] = []
        self.live = live  # with thresholds judged live: the whole fleet's figures so far
        self.aborted: str | None = None  # why a threshold stopped the run
        self.interrupted = False  # Ctrl-C or SIGTERM reached the coordinator
        # A driver steers the load from here (watch's steer): each worker
        # takes its orders from a pipe of its own.
        self.steered = steered
        self._orders: list[Connection] = []
        self.start_at: datetime | None = None

    def start(self) -> None:
        """Fork the CSMS processes (without a target), then the workers.
        Called before any event loop or thread of this process runs."""
        if self.csms_config is not None:
            self.csms = CsmsProcesses(self.csms_config, csms_processes(self.spec.fleet_stations()))
            self.csms_url = self.csms.start()
        per_worker = msgspec.structs.replace(self.spec, shard=Shard(0, self.count)).stations()  # shard 0 is the largest
        start_at = self.spec.start_at or (
            datetime.now(UTC) + timedelta(seconds=BUILD_LEAD_S + per_worker * BUILD_S_PER_STATION))
        self.start_at = start_at
        for index, folder in enumerate(shard_folders(self.out_dir, self.count)):
            folder.mkdir(parents=True, exist_ok=True)
            spec = msgspec.structs.replace(self.spec, shard=Shard(index, self.count), csms_url=self.csms_url,
                                           start_at=start_at)
            receiver, sender = self._context.Pipe(duplex=False)
            orders_in, orders_out = self._context.Pipe(duplex=False) if self.steered else (None, None)
            process = self._context.Process(target=_work, name=f"fleetsim worker {index}", args=(
                spec, self.profiles, folder, f"{self.run_id}-shard{index}", self.ssl_context, self.passwords,
                self.scenario_text, sender, self.csms_config is not None, orders_in))
            process.start()
            sender.close()
            if orders_in is not None and orders_out is not None:
                orders_in.close()
                self._orders.append(orders_out)
            self._workers.append((process, receiver, folder))

    async def watch(self, show: Callable[[LiveSnapshot], None], *, every_s: float = 1.0,
                    on_interval: IntervalCallback | None = None, steer: Steer | None = None) -> None:
        """Until every worker has ended: their news merged and shown once
        ``every_s``; SIGINT and SIGTERM passed on to the workers.  With
        ``on_interval``: it is awaited after each interval every worker has
        closed (``self.live`` then holds every worker's histograms and counts
        so far); a reason stops every worker cleanly, as reaching the
        duration does (``self.aborted``).  With ``steer`` (and ``steered``):
        it drives the whole fleet's load through the workers, fed every
        interval all of them closed, and the run ends when it returns."""
        live = self.live
        judged = trio.Event()  # set when an interval closed on every worker awaits judging
        closed_s = 0.0
        latest: dict[int, LiveSnapshot] = {}
        intervals: dict[int, dict[int, WorkerInterval]] = {}
        steering = SplitSteering(self.order, lambda: self.start_at) if steer is not None else None
        done: dict[int, WorkerDone] = {}
        ended: set[int] = set()
        shown = LastInterval()
        interval_s = self.spec.interval_s

        def receive(index: int, message: _Message) -> None:
            nonlocal shown, closed_s
            match message:
                case WorkerUpdate():
                    if message.snapshot is not None:
                        latest[index] = message.snapshot
                    if live is not None and message.interval_end_s:
                        live.add_lines(message.lines)
                        if message.tally is not None:
                            live.set_tally(index, message.tally)
                    if message.interval_end_s:  # it closed an interval since its last news
                        key = round(message.interval_end_s / interval_s)
                        intervals.setdefault(key, {})[index] = (message.interval_end_s, message.interval_length_s,
                                                                message.lines, message.tally, message.messages)
                        running = {i for i in range(self.count) if i not in done and i not in ended}
                        complete = sorted(k for k in intervals if running <= intervals[k].keys())
                        if complete:
                            if steering is not None:  # every interval, in order, for the driver of the load
                                for k in complete:
                                    steering.closed_by_all(intervals[k].values())
                            # The newest interval every running worker closed; older ones are no longer shown.
                            parts = intervals[max(complete)]
                            for k in [k for k in intervals if k <= max(complete)]:
                                del intervals[k]
                            end_s = max(end for end, *_ in parts.values())
                            length_s = max(length for _, length, *_ in parts.values())
                            shown = merged_interval(end_s, length_s,
                                                    (line for _, _, lines, *_ in parts.values() for line in lines))
                            closed_s = end_s
                            judged.set()
                        while len(intervals) > MAX_OPEN_INTERVALS:  # a worker that stopped closing intervals
                            del intervals[min(intervals)]
                case WorkerDone():
                    done[index] = message

        async def listen(index: int, connection: Connection) -> None:
            try:
                while True:
                    await trio.lowlevel.wait_readable(connection.fileno())
                    while connection.poll():
                        receive(index, _decoder.decode(connection.recv_bytes()))
            except (EOFError, OSError, msgspec.DecodeError):
                pass  # it ended (or died): the others' intervals no longer wait for it
            ended.add(index)
            if index not in done:
                latest.pop(index, None)  # died: what it last said of its stations is no longer true

        async def forward_signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    self.interrupted = True
                    stop_workers()

        async def judge() -> None:
            nonlocal judged
            assert on_interval is not None
            while self.aborted is None:
                await judged.wait()
                judged = trio.Event()
                reason = await on_interval(closed_s)
                if reason is not None:
                    self.aborted = reason
                    stop_workers()

        def stop_workers() -> None:
            for process, _, _ in self._workers:
                if process.is_alive() and process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGINT)

        async def publish() -> None:
            previous: LiveSnapshot | None = None
            started_s = trio.current_time()
            fleet = self.spec.fleet_stations()
            while True:
                await trio.sleep(every_s)
                previous = combine_snapshots(latest.values(), elapsed_s=trio.current_time() - started_s,
                                             duration_s=self.spec.duration_s, fleet=fleet, last_interval=shown,
                                             previous=previous)
                show(previous)

        async def drive() -> None:
            assert steer is not None and steering is not None
            try:
                await steer(steering)
            finally:
                self.order(Finish())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(forward_signals)
            nursery.start_soon(publish)
            if on_interval is not None:
                nursery.start_soon(judge)
            if steer is not None:
                nursery.start_soon(drive)
            if self.csms is not None:
                nursery.start_soon(self.csms.watch)
            async with trio.open_nursery() as listeners:
                for index, (_, connection, _) in enumerate(self._workers):
                    listeners.start_soon(listen, index, connection)
            nursery.cancel_scope.cancel()
        for index, (process, connection, folder) in enumerate(self._workers):
            await trio.to_thread.run_sync(process.join)
            connection.close()
            self.exits.append(WorkerExit(index, self.count, process.pid or 0, folder, done.get(index),
                                         process.exitcode))

    def order(self, order: Order) -> None:
        """Send every worker still listening an order (a worker that ended is skipped)."""
        data = _encoder.encode(order)
        for connection in self._orders:
            with contextlib.suppress(OSError):
                connection.send_bytes(data)

    def finish(self) -> None:
        """Stop the CSMS processes (every worker has ended); their usage stays readable."""
        if self.csms is not None:
            self.csms.stop()

    def kill(self) -> None:
        """Every process of the run, at once (the coordinator itself failed)."""
        for process, *_ in self._workers:
            if process.is_alive():
                process.kill()
        for process, *_ in self._workers:
            process.join()
        if self.csms is not None:
            self.csms.kill()

    def usage(self) -> dict[str, object]:
        """What each process of the run used (summary.json's ``run.processes``):
        CPU seconds and peak memory, of the coordinator, every worker and every
        CSMS process."""
        figures: dict[str, object] = {"coordinator": msgspec.to_builtins(ProcessUsage.now())}
        figures["workers"] = [msgspec.to_builtins(w.done.usage) if w.done is not None else None for w in self.exits]
        if self.csms is not None:
            figures["csms"] = [msgspec.to_builtins(usage) for usage in self.csms.usage()]
        return figures

    def outcome(self) -> RunOutcome | None:
        """The run's outcome over its workers (None: none ended its run)."""
        ended = [w.done for w in self.exits if w.done is not None and w.done.started_at is not None]
        if not ended:
            return None
        total = Progress()
        for done in ended:
            for field in ("started", "connected", "booted", "charging", "messages_out", "messages_in",
                          "connect_failures", "disconnects"):
                setattr(total, field, getattr(total, field) + getattr(done.progress, field))
        started_at = min(d.started_at for d in ended if d.started_at is not None)
        ended_at = max(d.ended_at for d in ended if d.ended_at is not None)
        # The workers stopped by a threshold were told as by a Ctrl-C: the run was aborted, not interrupted.
        interrupted = any(d.interrupted for d in ended) and (self.aborted is None or self.interrupted)
        return RunOutcome(started_at, ended_at, self.csms_url or "", self.csms_config is not None,
                          self.spec.fleet_stations(), total, interrupted, self.aborted)


class _News:
    """A worker's side of the pipe: its run's progress callback.  Posted, not
    sent: a coordinator that reads slowly never stalls the stations."""

    def __init__(self, connection: Connection, duration_s: float, fleet: int, *, steered: bool = False) -> None:
        self.mailbox = Mailbox(connection, "worker news")
        self.duration_s = duration_s
        self.fleet = fleet
        self.previous: LiveSnapshot | None = None
        self.sent_end_s = 0.0  # the end of the last interval sent
        # Steered, every interval is sent as it closes (:meth:`interval`): the
        # coordinator's driver judges the whole fleet on all of them.
        self.steered = steered

    def __call__(self, progress: Progress, recorder: Recorder, elapsed_s: float) -> None:
        snapshot = self.previous = take_snapshot(progress, recorder, elapsed_s, duration_s=self.duration_s,
                                                 fleet=self.fleet, previous=self.previous, detailed=True)
        interval = progress.last_interval
        if interval.end_s > self.sent_end_s and not self.steered:
            self.sent_end_s = interval.end_s
            update = WorkerUpdate(snapshot, interval.end_s, interval.length_s, progress.interval_lines,
                                  Tally.of(recorder), progress.interval_messages)
        else:
            update = WorkerUpdate(snapshot)
        self.mailbox.post(_encoder.encode(update))

    def interval(self, closed: ClosedInterval) -> None:
        """An interval the worker closed, with its lines and counts."""
        length_s, self.sent_end_s = closed.end_s - self.sent_end_s, closed.end_s
        self.mailbox.post(_encoder.encode(WorkerUpdate(None, closed.end_s, length_s, closed.lines, closed.tally,
                                                       (closed.messages_out, closed.messages_in))))

    def close(self, done: WorkerDone) -> None:
        self.mailbox.close(_encoder.encode(done))


def _work(spec: RunSpec, profiles: dict[str, StationProfile], folder: Path, run_id: str,
          ssl_context: ssl.SSLContext | None, passwords: Callable[[str], bytes | None] | None,
          scenario_text: str | None, connection: Connection, embedded: bool,
          orders: Connection | None = None) -> None:
    """A worker process: its shard's run, its results folder, its news;
    with ``orders``, its load steered by the coordinator's (:func:`follow`)."""
    os.setpgid(0, 0)  # Ctrl-C reaches the coordinator, which passes it on once
    signal.signal(signal.SIGINT, signal.default_int_handler)
    recorder = Recorder()
    news = _News(connection, spec.duration_s, spec.stations(), steered=orders is not None)
    outcome: RunOutcome | None = None
    broke: str | None = None
    try:
        steer = functools.partial(follow, orders, news.interval) if orders is not None else None
        outcome = trio.run(lambda: run(spec, profiles, recorder, ssl_context=ssl_context, passwords=passwords,
                                       on_progress=news, handle_signals=True, results_dir=folder, steer=steer))
    except Exception as error:  # the run broke: what it measured is still written
        broke = f"{error!r}"
        traceback.print_exc()
    try:
        document = summary_document(recorder, spec, outcome, run_id=run_id, host=socket.gethostname())
        if embedded and outcome is not None:
            document["run"]["csms"] = "embedded"
        write_results(folder, document, spec, profiles, scenario_text=scenario_text)
    except OSError as error:
        broke = broke or f"cannot write {folder}: {error.strerror or error}"
    if outcome is None:
        news.close(WorkerDone(broke=broke or "the run failed", usage=ProcessUsage.now()))
    else:
        progress = msgspec.structs.replace(outcome.progress, last_interval=LastInterval(), interval_lines=())
        news.close(WorkerDone(outcome.started_at, outcome.ended_at, outcome.interrupted, progress, broke,
                              ProcessUsage.now()))


def shard_folders(out_dir: Path, count: int) -> list[Path]:
    """Where the workers' own results go, beside the merged ones."""
    return [out_dir / SHARDS_FOLDER / str(index) for index in range(count)]


def describe(workers: int, csms: int, stations: int) -> str:
    """The plan's line: how the run is split."""
    per = math.ceil(stations / workers)
    csms_part = f", the embedded CSMS in {csms} process{'es' if csms > 1 else ''}" if csms else ""
    return f"{workers} worker process{'es' if workers > 1 else ''} (up to {per:,} stations each){csms_part}"

