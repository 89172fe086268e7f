"""Every run has a results folder of its own: without --out, two runs started
in the same second get two folders (the second ``<stamp>-2``); an --out that
holds another run's results is refused before the run rather than written
over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from under_test import UNDER_TEST

import fleetsim.metrics.results as results
from fleetsim import build
from fleetsim.cli import main
from fleetsim.metrics.results import new_run_folder

MODEL = "bionever-bss011k-v1000"
RUN = ["run", "--stations", "3", "--profile", MODEL, "--duration", "2s", "--speed", "20", "--no-csms-calls", "-q"]
# A real `fleetsim run` process that has imported everything and waits for a
# line on stdin before it runs: two of them then start at the same instant.
LAUNCHER = """
import sys
from fleetsim.cli import main
import fleetsim.cli.run, fleetsim.cli.scenario, fleetsim.engine.run
from fleetsim.profiles.builtin import load_builtin
load_builtin()
print("ready", flush=True)
sys.stdin.readline()
main(sys.argv[1:], prog_name="fleetsim")
"""


def test_a_folder_taken_by_another_run_gives_the_next_name(tmp_path: Path) -> None:
    first = new_run_folder(tmp_path / "results", "20261206T112233Z")
    second = new_run_folder(tmp_path / "results", "20261206T112233Z")
    third = new_run_folder(tmp_path / "results", "20261206T112233Z")
    assert [first.name, second.name, third.name] == ["20261206T112233Z", "20261206T112233Z-2", "20261206T112233Z-3"]
    assert all(folder.is_dir() and not any(folder.iterdir()) for folder in (first, second, third))


def test_the_names_of_one_second_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "MAX_SAME_SECOND_RUNS", 2)
    new_run_folder(tmp_path, "S")
    new_run_folder(tmp_path, "S")
    with pytest.raises(FileExistsError, match="2 runs started in the second S already"):
        new_run_folder(tmp_path, "S")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S", "S-2"]


def _launch(cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(UNDER_TEST), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, *RUN], cwd=cwd, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_runs_started_in_the_same_second_write_two_folders(tmp_path: Path) -> None:
    processes = [_launch(tmp_path), _launch(tmp_path)]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline() == "ready\n", process.stderr
        # Just past a second's start: both read the clock well inside the same second.
        time.sleep(1.05 - time.time() % 1)
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        ended = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, ended, strict=True):
        assert process.returncode == 0, stderr
    folders = sorted((tmp_path / "results").iterdir())
    assert len(folders) == 2, folders
    assert folders[1].name == folders[0].name + "-2"  # the same second: the second run took the next name
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["run"]["id"] == folder.name
        assert summary["run"]["fleet"] == {MODEL: 3}
        assert summary["run"]["build"] == build.kind()  # which build made the figures
        assert summary["fleet"]["exchanges"]["BootNotification"]["answered"] >= 3
        lines = (folder / "latency.hlog").read_text().splitlines()
        assert sum(line.startswith("#[StartTime") for line in lines) == 1


@pytest.mark.parametrize("taken", ["summary.json", "latency.hlog"])
def test_an_out_holding_another_runs_results_is_refused_before_the_run(tmp_path: Path, executed: list[Any],
                                                                       taken: str) -> None:
    out = tmp_path / "earlier"
    out.mkdir()
    (out / taken).write_text("an earlier run's\n")
    result = CliRunner().invoke(main, [*RUN, "--out", str(out)], prog_name="fleetsim")
    assert result.exit_code == 2, result.output
    assert "--out" in result.stderr and str(out) in result.stderr and taken in result.stderr
    assert "Traceback" not in result.output
    assert executed == []
    assert (out / taken).read_text() == "an earlier run's\n"


def test_an_out_that_is_empty_or_new_is_used(tmp_path: Path, executed: list[Any]) -> None:
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new"):
        result = CliRunner().invoke(main, [*RUN, "--out", str(out)], prog_name="fleetsim")
        assert result.exit_code == 0, result.output
    assert len(executed) == 2


def test_a_scenario_run_is_refused_an_out_holding_results_too(tmp_path: Path, executed: list[Any]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'[[groups]]\nmodel = "{MODEL}"\nstations = 2\n')
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out)], prog_name="fleetsim")
    assert result.exit_code == 2 and str(out) in result.stderr
    assert executed == []
