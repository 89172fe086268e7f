"""What report.html says first: the thresholds' verdicts (summary.json
``thresholds``), and a red verdict when the run could not drive its fleet,
so that a run whose every connection was refused never reads as clean."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from made_results import FAST, ODD, REFUSING_CSMS, STATIONS, make_refused_results, make_results

from fleetsim.report.folder import RunFolder, read_folder
from fleetsim.report.html import render

# As the thresholds' judge stores them in summary.json (results/README.md).
VERDICTS: list[dict[str, Any]] = [
    {"expression": "BootNotification.p99 < 2s", "passed": True, "observed": "412.3 ms",
     "detail": "p99 of corrected latency (all models)", "abort": False, "aborted_run": False},
    {"expression": "errors.rate < 0.1%", "passed": False, "observed": "3.2%",
     "detail": "share of calls answered with a CALLERROR", "abort": True, "aborted_run": True},
    {"expression": "connect.failures == 0", "passed": True, "observed": "0", "detail": "failed connection attempts",
     "abort": False, "aborted_run": False},
    {"expression": "Heartbeat.p99 <= 5ms", "passed": False, "observed": "12 ms", "detail": "a <b>tag</b> in text",
     "abort": False, "aborted_run": False},
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("top") / "run")


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_refused_results(tmp_path_factory.mktemp("refused") / "run")


def with_summary(folder: RunFolder, **changes: Any) -> RunFolder:
    summary = copy.deepcopy(folder.summary)
    summary.update(changes)
    folder.summary = summary
    return folder


def threshold_rows(page: str) -> list[tuple[str, str]]:
    """(row class, expression) of the thresholds table, in page order."""
    table = re.search(r"<table class='thresholds'>(.*?)</table>", page, flags=re.S)
    assert table is not None
    return re.findall(r"<tr( class='bad')?><td>.*?<code>([^<]*)</code>", table[1], flags=re.S)


# ---------------------------------------------------------------- thresholds


def test_thresholds_come_first_failed_ones_first_and_red(made: Path) -> None:
    page = render(with_summary(read_folder(made), thresholds=VERDICTS))
    assert page.index("id='thresholds'") < page.index("id='run'") < page.index("id='glance'")
    assert page.index("<a href='#thresholds'>") < page.index("<a href='#run'>")
    assert threshold_rows(page) == [
        (" class='bad'", "errors.rate &lt; 0.1%"), (" class='bad'", "Heartbeat.p99 &lt;= 5ms"),
        ("", "BootNotification.p99 &lt; 2s"), ("", "connect.failures == 0")]
    assert "2 of 4 thresholds failed" in page
    assert "<span class='badge fail'>FAIL</span>" in page and page.count("<span class='badge pass'>pass</span>") == 2
    assert "412.3 ms" in page and "3.2%" in page
    assert "a &lt;b&gt;tag&lt;/b&gt; in text" in page  # the detail is text, escaped
    # The threshold that aborted the run says so, at the top and in its row.
    assert "aborted the run" in page and "The run was stopped early" in page


def test_all_thresholds_passed_is_green(made: Path) -> None:
    passed = [{**v, "passed": True, "aborted_run": False} for v in VERDICTS]
    page = render(with_summary(read_folder(made), thresholds=passed))
    assert "All 4 thresholds passed." in page and "thresholds failed" not in page
    assert [cls for cls, _ in threshold_rows(page)] == ["", "", "", ""]


@pytest.mark.parametrize("thresholds", [None, []])
def test_a_run_without_thresholds_has_no_thresholds_section(made: Path, thresholds: list[Any] | None) -> None:
    folder = read_folder(made)
    if thresholds is not None:
        folder = with_summary(folder, thresholds=thresholds)
    page = render(folder)
    assert "id='thresholds'" not in page and "href='#thresholds'" not in page


# ---------------------------------------------------------------- a fleet that was not driven


def test_a_refused_run_leads_with_a_red_verdict_naming_the_cause(refused: Path) -> None:
    page = render(read_folder(refused))
    stations = sum(STATIONS.values())
    verdict = re.search(r"<p class='verdict bad'>(.*?)</p>", page, flags=re.S)
    assert verdict is not None
    # It is the first verdict of the page, before the run's section.
    assert page.index(verdict[0]) < page.index("id='run'")
    text = re.sub(r"<[^>]+>", "", verdict[1])
    assert f"{stations} of {stations} stations never connected" in text
    assert f"{stations} never booted" in text
    assert "refused 25" in text and "nothing listens" in text  # 5 s × (3 + 2) attempts
    assert REFUSING_CSMS in text
    # Per model, what each lacked.
    assert re.search(rf"<tr class='bad'><td>.*?{FAST}</td><td>refused 15</td><td>none</td>"
                     r"<td class=num>4</td><td class=num>4</td><td class=num>4</td>", page)
    assert re.search(r"odd&lt;&amp;&gt;.model</td><td>refused 10</td><td>none</td><td class=num>2</td>", page)
    # Nothing on the page reads as a clean run (the simulator's own lag aside).
    assert all(good.startswith("The simulator kept up")
               for good in re.findall(r"<p class='verdict good'>([^<]*)", page))
    assert "No CALLERROR and no timeout at any time of the run" not in page


def test_a_fleet_partly_booted_is_named(made: Path) -> None:
    folder = read_folder(made)
    summary = copy.deepcopy(folder.summary)
    connection = summary["fleet"]["connection"]
    connection.update(stations_connected=5, stations_booted=3, failures={"timeout": 7, "tls": 2})
    summary["fleet"]["boot"]["answers"] = {"Accepted": 3, "Pending": 9}
    summary["models"][ODD]["connection"].update(stations_connected=1, stations_booted=0)
    folder.summary = summary
    page = render(folder)
    text = re.sub(r"<[^>]+>", "", re.search(r"<p class='verdict bad'>(.*?)</p>", page, flags=re.S)[1])
    assert "1 of 6 stations never connected and 3 never booted" in text
    assert text.index("timeout 7") < text.index("tls 2")  # the commonest cause first
    assert "BootNotification answers: Accepted 3, Pending 9" in text


def test_a_fully_driven_fleet_has_no_such_verdict(tmp_path: Path) -> None:
    page = render(read_folder(make_results(tmp_path / "clean", with_errors=False)))
    assert "could not drive its fleet" not in page and "never connected" not in page
    assert "<p class='verdict good'>No CALLERROR and no timeout at any time of the run.</p>" in page


def test_a_summary_written_before_the_station_counts_still_tells_a_fleet_never_connected(refused: Path) -> None:
    folder = read_folder(refused)
    summary = copy.deepcopy(folder.summary)
    for section in [summary["fleet"], *summary["models"].values()]:
        del section["connection"]["stations_connected"], section["connection"]["stations_booted"]
    folder.summary = summary
    assert "6 of 6 stations never connected" in re.sub(r"<[^>]+>", "", render(folder))
