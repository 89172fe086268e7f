"""The results folder of a run: ``summary.json`` (versioned; layout in
results/README.md), the scenario and the profiles used, so a run can be judged
later and repeated.  The interval logs are written as the run goes
(fleetsim.metrics.intervals)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Final

import msgspec

from fleetsim import __version__, build
from fleetsim.metrics.intervals import HLOG_FILE
from fleetsim.metrics.percentiles import reported
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.summary import recorder_summary
from fleetsim.profiles.builtin import encode_profile
from fleetsim.profiles.profile import StationProfile

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"
SCENARIO_FILE = "scenario.toml"  # the scenario as the run read it: `fleetsim gate` judges its thresholds
# Files that make a folder a run's results: another run must not write over them.
RESULT_FILES: Final = (SUMMARY_FILE, HLOG_FILE)
# Runs started in the same second under one results/: the 2nd is <stamp>-2, ...
MAX_SAME_SECOND_RUNS: Final = 1000


def new_run_folder(parent: Path, stamp: str) -> Path:
    """A folder of its own for a run under ``parent``: ``<stamp>``, or
    ``<stamp>-2``, ``<stamp>-3``, ... when another run took it.  Each is made
    with an atomic mkdir, so two runs started at the same instant never share
    one; the run's id is the folder's name.  Raises OSError (FileExistsError
    when all MAX_SAME_SECOND_RUNS names are taken)."""
    parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, MAX_SAME_SECOND_RUNS + 1):
        folder = parent / (stamp if number == 1 else f"{stamp}-{number}")
        try:
            folder.mkdir()  # exist_ok=False: whoever makes it first owns it
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(errno.EEXIST, f"{MAX_SAME_SECOND_RUNS} runs started in the second {stamp} already",
                          str(parent / stamp))


def results_file_in(folder: Path) -> str | None:
    """The first of RESULT_FILES ``folder`` holds: it holds a run's results."""
    return next((name for name in RESULT_FILES if (folder / name).exists()), None)


def summary_document(recorder: Recorder, spec: Any, outcome: Any | None, *, run_id: str, host: str) -> dict[str, Any]:
    """The whole of ``summary.json``.  Folds the recorder first: whatever an
    interval writer has not folded yet (or everything, in a run without one)
    belongs in the totals too."""
    recorder.fold()
    percentiles = reported(spec.percentiles)
    run: dict[str, Any] = {
        "id": run_id,
        "fleetsim_version": __version__,
        "build": build.kind(),  # plain Python or compiled (fleetsim.build): the same behaviour, not the same speed
        "host": host,
        "scenario": spec.scenario,
        "seed": spec.seed,
        "fleet": spec.stations_per_model(),
        "duration_s": spec.duration_s,
        "speed": spec.speed,
        "simulated_start": spec.sim_start.isoformat() if spec.sim_start is not None else None,
        "interval_s": spec.interval_s,
        "percentiles": list(percentiles),
        "completed": outcome is not None,
    }
    shard = getattr(spec, "shard", None)
    if shard is not None and not shard.whole:
        run["shard"] = str(shard)  # I/N: this folder holds one shard's part (fleetsim merge adds them)
    if outcome is not None:
        run.update(
            started_at=outcome.started_at.isoformat(),
            ended_at=outcome.ended_at.isoformat(),
            csms=outcome.csms_url if not outcome.embedded_csms else "embedded",
            interrupted=outcome.interrupted,
            messages_sent=outcome.progress.messages_out,
            messages_received=outcome.progress.messages_in,
            connect_failures=outcome.progress.connect_failures,
            stations_started=outcome.progress.started,
        )
    document = {"schema_version": SCHEMA_VERSION, "run": run, **recorder_summary(recorder, percentiles)}
    if getattr(spec, "stages", ()):
        run["stages"] = [{"duration_s": stage.duration_s, "stations": stage.stations} for stage in spec.stages]
        run["ramp_per_s"] = spec.ramp_per_s
        document["stages"] = (outcome.stages if outcome is not None else None) or []
    return document


def write_summary(out_dir: Path, document: dict[str, Any]) -> None:
    (out_dir / SUMMARY_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")


def write_results(out_dir: Path, document: dict[str, Any], spec: Any, profiles: dict[str, StationProfile], *,
                  scenario_text: str | None = None) -> None:
    """``document`` (summary_document's) first: what the run measured matters
    most; then the settings: run.json, the scenario as it was read when the
    run started (run.json holds what the command line changed), the profiles.
    An OSError (a full disk, a folder that cannot be written) is the caller's
    to report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_summary(out_dir, document)
    if scenario_text is not None:
        (out_dir / SCENARIO_FILE).write_bytes(scenario_text.encode("utf-8"))
    (out_dir / "run.json").write_bytes(msgspec.json.format(msgspec.json.encode(spec), indent=2) + b"\n")
    profile_dir = out_dir / "profiles"
    profile_dir.mkdir(exist_ok=True)
    for profile_id in sorted({share.profile_id for share in spec.fleet}):
        (profile_dir / f"{profile_id}.json").write_bytes(encode_profile(profiles[profile_id]))
