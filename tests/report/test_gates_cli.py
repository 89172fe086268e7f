"""CI gates through click's CliRunner: ``fleetsim gate``, ``compare``,
``report`` and ``run --threshold``, with the exit codes CI reads (0 pass, 99 a
threshold or regression failed, 2 usage or unreadable results)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result
from hand_made import SUMMARY
from made_results import make_results

from fleetsim.cli import main
from fleetsim.cli.run import EXIT_THRESHOLD_FAILED


def fleetsim(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="fleetsim", catch_exceptions=False)


def results(folder: Path, document: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(document))
    return folder


def test_the_exit_code_is_k6s() -> None:
    assert EXIT_THRESHOLD_FAILED == 99


def test_gate_passes_with_0(tmp_path: Path) -> None:
    run = results(tmp_path / "run", SUMMARY)
    result = fleetsim("gate", str(run), "-t", "BootNotification.p99 < 2s", "--threshold", "errors.rate < 0.2%")
    assert result.exit_code == 0, result.output
    assert "✓ BootNotification.p99 < 2s" in result.output
    assert "thresholds: 2 passed, 0 failed" in result.output


def test_gate_fails_with_99_and_writes_junit(tmp_path: Path) -> None:
    run = results(tmp_path / "run", SUMMARY)
    junit = tmp_path / "reports" / "junit.xml"
    result = fleetsim("gate", str(run), "-t", "BootNotification.p99 < 2s", "-t", "timeouts == 0",
                      "-t", "Authorize.p99 < 1s", "--junit", str(junit))
    assert result.exit_code == EXIT_THRESHOLD_FAILED, result.output
    assert "✗ timeouts == 0" in result.output and "never saw Authorize" in result.output
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    assert suite.find("properties/property[@name='run_id']").get("value") == "hand-made"


@pytest.mark.parametrize(("args", "words"), [
    (["-t", "BootNotification.p100 < 2s"], "'p100' is not a percentile"),
    ([], "Missing option '--threshold'"),
])
def test_gate_usage_errors_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    run = results(tmp_path / "run", SUMMARY)
    result = fleetsim("gate", str(run), *args)
    assert result.exit_code == 2
    assert words in result.output


def test_gate_on_unreadable_results_exits_2(tmp_path: Path) -> None:
    result = fleetsim("gate", str(tmp_path), "-t", "timeouts == 0")
    assert result.exit_code == 2
    assert "summary.json does not exist" in result.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text('{"schema_version": 9, "run": {}}')
    assert fleetsim("gate", str(bad), "-t", "timeouts == 0").exit_code == 2


def test_compare_passes_and_fails_past_a_regression(tmp_path: Path) -> None:
    base = results(tmp_path / "base", SUMMARY)
    slower = copy.deepcopy(SUMMARY)
    slower["fleet"]["exchanges"]["BootNotification"]["corrected_ms"]["p90"] = 102.0  # 85 -> 102: +20 %
    new = results(tmp_path / "new", slower)
    result = fleetsim("compare", str(base), str(new), "--max-regression", "p90=25%")
    assert result.exit_code == 0, result.output
    assert "85→102 +20%" in result.output
    result = fleetsim("compare", str(base), str(new), "--max-regression", "p(90)=10%",
                      "--max-regression", "errors.rate=0.1%")
    assert result.exit_code == EXIT_THRESHOLD_FAILED
    assert "1 regression:" in result.output and "BootNotification: p(90) 85 ms → 102 ms" in result.output
    assert "noise unknown" in result.output  # hand-made: no latency.hlog, judged on the figures


def test_compare_usage_errors_exit_2(tmp_path: Path) -> None:
    base = results(tmp_path / "base", SUMMARY)
    result = fleetsim("compare", str(base), str(base), "--max-regression", "p99")
    assert result.exit_code == 2 and "METRIC=LIMIT" in result.output
    assert fleetsim("compare", str(base), str(tmp_path / "missing")).exit_code == 2


def test_report_writes_a_self_contained_file(tmp_path: Path) -> None:
    folder = make_results(tmp_path / "run")
    result = fleetsim("report", str(folder))
    assert result.exit_code == 0, result.output
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg class='chart'") == 11
    assert f"report: {folder / 'report.html'} (11 charts" in result.output
    other = tmp_path / "elsewhere.html"
    assert fleetsim("report", str(folder), "-o", str(other)).exit_code == 0
    assert other.read_text() == page


def test_report_of_a_folder_without_summary_exits_2(tmp_path: Path) -> None:
    result = fleetsim("report", str(tmp_path))
    assert result.exit_code == 2 and "does not exist" in result.output


# ---------------------------------------------------------------- a real run


def test_a_run_with_a_failing_threshold_exits_99_with_junit(tmp_path: Path) -> None:
    out, junit = tmp_path / "run", tmp_path / "junit.xml"
    result = fleetsim("run", "-n", "5", "-d", "3s", "--speed", "60", "--no-csms-calls", "--out", str(out),
                      "--threshold", "BootNotification.count >= 5", "--threshold", "BootNotification.p99 < 1us",
                      "--junit", str(junit))
    assert result.exit_code == EXIT_THRESHOLD_FAILED, result.output
    lines = result.stdout.splitlines()
    # The verdicts come after the summary table.
    assert lines.index(next(line for line in lines if line.startswith("✓ BootNotification.count >= 5"))) > \
        lines.index(next(line for line in lines if "(all models)" in line))
    assert any(line.startswith("✗ BootNotification.p99 < 1us") for line in lines)
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    (failed,) = [case for case in suite.findall("testcase") if case.find("failure") is not None]
    assert failed.get("name") == "BootNotification.p99 < 1us"
    # The same figures, judged again from the folder, give the same verdicts.
    regate = fleetsim("gate", str(out), "-t", "BootNotification.count >= 5", "-t", "BootNotification.p99 < 1us")
    assert regate.exit_code == EXIT_THRESHOLD_FAILED
    assert fleetsim("gate", str(out), "-t", "BootNotification.count >= 5").exit_code == 0


def test_a_bad_threshold_stops_a_run_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = fleetsim("run", "-n", "5", "-d", "3s", "-q", "--out", str(out), "--threshold", "Hearbeat.p99 < 1s")
    assert result.exit_code == 2
    assert "did you mean 'Heartbeat'" in result.output
    assert not out.exists()
