"""The HTML report, read as text: a results folder made with known latencies
gives the charts and figures it should, in one file that needs nothing else."""

from __future__ import annotations

import re
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest
from made_results import FAST, ODD, SECONDS, make_results

from fleetsim.metrics.hlog import split_tag
from fleetsim.report.folder import FLEET, ResultsError, read_folder, read_summary
from fleetsim.report.html import render
from fleetsim.report.svg import Axis, Series, line_chart, ms_label, percentile_label, percentile_x, seconds_label

# stations, charging connectors, throughput, errors; connections per second and their setup time; latency over
# time and distribution of 2 actions; the simulator's lag
CHARTS = 4 + 2 + 2 + 2 + 1


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("made") / "run")


@pytest.fixture(scope="module")
def page(made: Path) -> str:
    return render(read_folder(made))


# ---------------------------------------------------------------- reading the folder


def test_latency_over_time_is_read_per_interval(made: Path) -> None:
    folder = read_folder(made)
    assert folder.problems == []
    assert folder.bucket_s == 1.0
    points = folder.latency["Heartbeat"]["corrected"]
    assert len(points) == SECONDS
    for second, point in enumerate(points):
        # Interval k: nine calls answered in 1+k .. 9+k ms (HdrHistogram: within 0.1 %).
        assert point.t_s == pytest.approx(second + 1.0)
        assert point.count == 9
        assert point.p50_ms == pytest.approx(5 + second, rel=1e-3)
        assert point.max_ms == pytest.approx(9 + second, rel=1e-3)
    assert set(folder.latency) == {"Heartbeat", "StatusNotification"}
    assert [p.count for p in folder.simulator["loop_lag"]] == [1] * SECONDS


def test_buckets_add_interval_histograms_rather_than_average_percentiles(made: Path) -> None:
    folder = read_folder(made, max_points=4)  # 12 intervals -> buckets of 3
    assert folder.bucket_s == 3.0
    first = folder.latency["Heartbeat"]["corrected"][0]
    values = [i + k for k in range(3) for i in range(1, 10)]
    assert first.count == 27
    assert first.t_s == pytest.approx(3.0)
    assert first.p50_ms == pytest.approx(statistics.median_low(values), rel=1e-3)
    assert first.p99_ms == pytest.approx(max(values), rel=1e-3)
    rows = folder.rows
    assert [r.t_s for r in rows][:4] == [3.0, 6.0, 9.0, 12.0]
    assert rows[0].out_per_s == pytest.approx(20.0) and rows[0].connected == 6 and rows[0].answered == 30


def test_distributions_per_model_and_for_the_fleet(made: Path) -> None:
    distributions = read_folder(made).distributions
    assert set(distributions["Heartbeat"]) == {FAST, FLEET, "service"}
    fleet = distributions["Heartbeat"][FLEET]
    assert fleet.count == 9 * SECONDS
    assert fleet.max_ms == pytest.approx(9 + SECONDS - 1, rel=1e-3)
    percents = [p for p, _ in fleet.points]
    assert percents == sorted(percents) and percents[0] == 0.0
    # Past what 108 calls can tell apart, the curve ends at the max.
    assert percents[-1] < 99.5 and fleet.points[-1][1] == pytest.approx(fleet.max_ms)
    odd = distributions["StatusNotification"][ODD]
    assert odd.count == SECONDS + 1  # the CALLERROR is an answer with a latency; the timeout has none


def test_tags_split_at_the_first_and_last_dot() -> None:
    assert split_tag("corrected.odd<&>.model.Heartbeat") == ("corrected", "odd<&>.model", "Heartbeat")
    assert split_tag("simulator.loop_lag") == ("simulator", "", "loop_lag")


def test_tags_give_back_model_ids_that_had_to_be_encoded() -> None:
    assert split_tag("corrected.Model%20X%2C%25.Heartbeat") == ("corrected", "Model X,%", "Heartbeat")


@pytest.mark.parametrize(("content", "words"), [
    (None, "does not exist"),
    (b"{not json", "cannot read"),
    (b'{"schema_version": 1}', "not a fleetsim summary"),
    (b'{"schema_version": 2, "run": {}}', "schema version 2"),
])
def test_an_unreadable_summary_is_refused_with_the_reason(tmp_path: Path, content: bytes | None, words: str) -> None:
    if content is not None:
        (tmp_path / "summary.json").write_bytes(content)
    with pytest.raises(ResultsError, match=words):
        read_summary(tmp_path)


def test_a_folder_with_only_its_summary_still_makes_a_report(made: Path, tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_bytes((made / "summary.json").read_bytes())
    folder = read_folder(tmp_path)
    assert [p.split()[0] for p in folder.problems] == ["timeseries.csv", "latency.hlog"]
    page = render(folder)
    assert page.count("<svg class='chart'") == 0
    assert "latency.hlog is missing" in page and "No time series" in page
    assert "Latency per action at a glance" in page  # the figures of summary.json are still there


def test_a_torn_last_line_keeps_what_came_before(made: Path, tmp_path: Path) -> None:
    for name in ("summary.json", "timeseries.csv"):
        (tmp_path / name).write_bytes((made / name).read_bytes())
    log = (made / "latency.hlog").read_text()
    (tmp_path / "latency.hlog").write_text(log[: len(log) - 40])  # killed mid-line
    folder = read_folder(tmp_path)
    assert len(folder.latency["Heartbeat"]["corrected"]) >= SECONDS - 1
    assert all("latency.hlog" in problem for problem in folder.problems)


# ---------------------------------------------------------------- the page


def test_every_chart_is_there(page: str) -> None:
    assert page.count("<svg class='chart'") == CHARTS
    for chart_id in ("chart-stations", "chart-charging", "chart-throughput", "chart-errors", "chart-connects",
                     "chart-connect-latency", "chart-latency-heartbeat",
                     "chart-latency-statusnotification", "chart-distribution-heartbeat",
                     "chart-distribution-statusnotification", "chart-simulator"):
        assert f"id='{chart_id}'" in page
    assert page.count("<polyline") >= 20


def test_declared_timeouts_are_drawn_as_lines(page: str) -> None:
    rules = re.findall(r"<line class='rule'[^>]*><title>([^<]*)</title>", page)
    assert rules.count(f"declared timeout 10s: {FAST}") == 2  # over time and by percentile
    assert rules.count("declared timeout 30s: odd&lt;&amp;&gt;.model") == 2
    assert any(rule.startswith("warning threshold") for rule in rules)


def test_the_page_needs_no_other_file_and_no_network(page: str) -> None:
    assert "<script" not in page and "<link" not in page and "<img" not in page and "<iframe" not in page
    assert "url(" not in page and "@import" not in page and " src=" not in page
    assert set(re.findall(r"https?://[^'\" ]*", page)) == {"http://www.w3.org/2000/svg"}  # the SVG namespace only


def test_text_is_escaped(page: str) -> None:
    assert ODD not in page
    assert "odd&lt;&amp;&gt;.model" in page


def test_tags_are_balanced(page: str) -> None:
    class Balance(HTMLParser):
        VOID = frozenset({"meta", "br", "line", "circle", "rect", "polyline"})

        def __init__(self) -> None:
            super().__init__()
            self.open: list[str] = []
            self.errors: list[str] = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag not in self.VOID:
                self.open.append(tag)

        def handle_startendtag(self, tag: str, attrs: object) -> None:
            pass

        def handle_endtag(self, tag: str) -> None:
            if tag in self.VOID:
                return
            if not self.open or self.open[-1] != tag:
                self.errors.append(f"</{tag}> closes <{self.open[-1] if self.open else None}>")
            else:
                self.open.pop()

    checker = Balance()
    checker.feed(page)
    assert checker.errors == [] and checker.open == []


def test_the_figures_a_planner_reads(page: str) -> None:
    assert "fleetsim run made" in page
    assert f"<dd>{4 + 2}</dd>" in page  # stations
    assert "ws://127.0.0.1:1/ocpp" in page
    # The headline counts the timeout and the error; the rows over a timeout are marked.
    assert "verdict bad" in page and "1 not answered within the model's declared response timeout" in page
    assert re.search(r"<tr class='bad'><td>StatusNotification</td>", page)
    assert "InternalError 1" in page
    # CSMS calls and how each model answered, coloured by kind of answer.
    assert "<span class='answer ok'>Accepted 2</span>" in page
    assert "<span class='answer refused'>NotSupported 1</span>" in page
    assert "<span class='answer error'>NotImplemented 1</span>" in page
    assert "The simulator kept up" in page


def test_a_lagging_simulator_is_called_out(tmp_path: Path) -> None:
    folder = make_results(tmp_path / "slow", lag_ms=40.0)
    warning = read_summary(folder)["simulator"]["warning"]
    assert warning
    page = render(read_folder(folder))
    assert page.count("WARNING: ") == 2  # at the top and in the simulator's section
    assert "The simulator kept up" not in page


def test_a_run_without_errors_says_so(tmp_path: Path) -> None:
    page = render(read_folder(make_results(tmp_path / "clean", with_errors=False)))
    assert "verdict good" in page and "Every answer came within every model's declared response timeout" in page
    assert "id='chart-errors'" not in page and "No CALLERROR and no timeout" in page
    assert page.count("<svg class='chart'") == CHARTS - 1


# ---------------------------------------------------------------- chart pieces


def test_axis_labels() -> None:
    assert [percentile_x(p) for p in (0, 90, 99, 99.9)] == pytest.approx([0, 1, 2, 3])
    assert [percentile_label(x) for x in (0, 1, 2, 3, 4)] == ["0%", "90%", "99%", "99.9%", "99.99%"]
    assert [seconds_label(s) for s in (0, 45, 60, 90, 3600, 5400)] == ["0s", "45s", "1m", "1m30s", "1h", "1h30m"]
    assert [ms_label(v) for v in (0.1, 1, 20, 1000, 60000)] == ["100µs", "1ms", "20ms", "1s", "60s"]


def test_a_log_axis_spans_the_data_and_a_single_point_still_shows() -> None:
    svg = line_chart([Series("one", [(0.0, 0.3)]), Series("two", [(0.0, 0.5), (1.0, 4000.0)])], title="t",
                     x=Axis("x"), y=Axis("y", "log", ms_label))
    labels = re.findall(r"text-anchor='end' fill='#555'>([^<]*)<", svg)
    assert labels == ["100µs", "1ms", "10ms", "100ms", "1s", "10s"]
    assert svg.count("<circle") == 3


def test_callerrors_within_the_timeouts_are_no_green_verdict() -> None:
    # Answered in time is not answered well: 3 % CALLERRORs once showed green.
    from fleetsim.report.html_parts import headline

    def summary(errors: int) -> dict:
        return {"fleet": {"exchanges": {"Heartbeat": {"count": 629, "errors_total": errors, "timeouts": 0, "late": 0}}}}

    assert "class='verdict warn'" in headline(summary(19)) and "19 answered with a CALLERROR" in headline(summary(19))
    assert "class='verdict good'" in headline(summary(0))
