"""The report of a merged folder: fields the shards do not agree on are
null in ``summary.json`` and shown as mixed or unknown, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from made_results import make_results

from fleetsim.cli import main
from fleetsim.metrics.merge import merge_results
from fleetsim.metrics.results import write_summary
from fleetsim.report.folder import read_folder
from fleetsim.report.html import render


def _with_run(folder: Path, **fields: object) -> None:
    document = json.loads((folder / "summary.json").read_text())
    document["run"].update(fields)
    write_summary(folder, document)


def test_a_merge_of_shards_that_differ_reports_them_as_mixed(tmp_path: Path) -> None:
    make_results(tmp_path / "a")
    make_results(tmp_path / "b")
    _with_run(tmp_path / "a", speed=60.0, seed=1, csms="ws://one/ocpp")
    _with_run(tmp_path / "b", speed=1.0, seed=2, csms="ws://two/ocpp")
    merged = merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "m")["run"]
    assert (merged["speed"], merged["seed"], merged["csms"]) == (None, None, None)
    html = render(read_folder(tmp_path / "m"))
    assert html.count("mixed (the merged runs differ)") >= 3
    result = CliRunner().invoke(main, ["report", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output


def test_a_rebuilt_killed_run_reports_what_it_does_not_know(tmp_path: Path) -> None:
    make_results(tmp_path / "a")
    (tmp_path / "a" / "summary.json").unlink()
    merge_results([tmp_path / "a"], tmp_path / "m")
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    summary["run"].update(duration_s=None, interval_s=None)  # as older or hand-edited folders may have them
    write_summary(tmp_path / "m", summary)
    html = render(read_folder(tmp_path / "m"))
    assert "? s requested" in html and "intervals of ? s" in html
    assert "<dt>time acceleration</dt><dd>unknown</dd>" in html
    assert "<dt>seed</dt><dd>unknown</dd>" in html
