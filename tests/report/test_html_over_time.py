"""The report's charts over time: gaps stay gaps, every one of them marks the
injected faults, connections have their own charts (opened and failed per
second, setup time), and charging connectors their own axis."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from made_results import OUTAGE_FOR_S, OUTAGE_S, STATIONS, STORM_S, make_results

from fleetsim.metrics.intervals import TIMESERIES_HEADER
from fleetsim.metrics.summary import CONNECT
from fleetsim.report.folder import Point, read_folder
from fleetsim.report.html import gapped, render
from fleetsim.report.svg import Axis, Marker, Series, line_chart

TIME_CHARTS = ("chart-stations", "chart-charging", "chart-throughput", "chart-errors", "chart-connects",
               "chart-connect-latency", "chart-latency-heartbeat", "chart-latency-statusnotification",
               "chart-simulator")


@pytest.fixture(scope="module")
def stormy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("stormy") / "run", storm=True, gap=True)


@pytest.fixture(scope="module")
def page(stormy: Path) -> str:
    return render(read_folder(stormy))


def chart(page: str, chart_id: str) -> str:
    found = re.search(rf"<svg [^>]*id='{chart_id}'.*?</svg>", page, flags=re.S)
    assert found is not None, chart_id
    return found[0]


def series(svg: str, name: str) -> str:
    found = re.search(rf"<g class='series'><title>{re.escape(name)}</title>(.*?)</g>", svg, flags=re.S)
    assert found is not None, name
    return found[1]


def x_of(svg: str, seconds: float) -> float:
    """The pixel of a time on a chart's x axis, from two of its tick labels."""
    ticks = {label: float(x) for x, label in re.findall(r"<text x='([\d.]+)' y='[\d.]+' text-anchor='middle' "
                                                        r"fill='#555'>([^<]+)</text>", svg)}
    x0, x2 = ticks["0s"], ticks["2s"]
    return x0 + (x2 - x0) * seconds / 2


# ---------------------------------------------------------------- gaps


def test_intervals_without_data_break_the_line(stormy: Path, page: str) -> None:
    points = read_folder(stormy).latency["Heartbeat"]["corrected"]
    assert [p.t_s for p in points] == [1, 2, 3, 4, 9, 10, 11, 12]  # no Heartbeat in seconds 4-7
    p99 = series(chart(page, "chart-latency-heartbeat"), "p99")
    runs = re.findall(r"<polyline points='([^']*)'", p99)
    assert [len(run.split()) for run in runs] == [4, 4]
    # The other actions' lines, answered every second, stay whole.
    assert len(re.findall("<polyline", series(chart(page, "chart-latency-statusnotification"), "p99"))) == 1


def test_a_gap_is_a_whole_bucket_without_data(stormy: Path) -> None:
    folder = read_folder(stormy, max_points=4)  # buckets of 3 s: every bucket had a Heartbeat
    points = folder.latency["Heartbeat"]["corrected"]
    assert [p.start_s for p in points] == [0, 3, 6, 9]
    assert None not in [y for _, y in gapped(points, lambda p: p.p99_ms, folder.bucket_s)]


def test_gapped_inserts_a_break_between_points_apart() -> None:
    points = [Point(t, 1, 1.0, float(t), 1.0, start_s=t - 1) for t in (1.0, 2.0, 6.0, 7.0)]
    assert gapped(points, lambda p: p.p99_ms, 1.0) == [(1.0, 1.0), (2.0, 2.0), (3.5, None), (6.0, 6.0), (7.0, 7.0)]


# ---------------------------------------------------------------- markers


def test_every_time_chart_marks_the_storm_and_the_outage(page: str) -> None:
    for chart_id in TIME_CHARTS:
        svg = chart(page, chart_id)
        (line,) = re.findall(r"<line class='marker' x1='([\d.]+)'[^>]*><title>([^<]*)</title>", svg)
        assert line[1].startswith(f"reconnect storm at {STORM_S}.0 s: 6 stations hit"), chart_id
        assert float(line[0]) == pytest.approx(x_of(svg, STORM_S + 0.001), abs=0.2)
        (band,) = re.findall(r"<rect class='marker' x='([\d.]+)' y='[\d.]+' width='([\d.]+)'[^>]*><title>([^<]*)",
                             svg)
        assert float(band[0]) == pytest.approx(x_of(svg, OUTAGE_S + 0.002), abs=0.2)
        assert float(band[1]) == pytest.approx(x_of(svg, OUTAGE_FOR_S) - x_of(svg, 0), abs=0.2)
        assert band[2].startswith(f"CSMS outage at {OUTAGE_S}.0 s for {OUTAGE_FOR_S}.0 s")
        labels = re.findall(r"<text class='marker-label'[^>]*>([^<]*)</text>", svg)
        assert labels == ["storm (6)", f"outage {OUTAGE_FOR_S}s"], chart_id
        assert ">reconnect storm</text>" in svg and ">CSMS outage</text>" in svg  # in the legend
    for chart_id in ("chart-distribution-heartbeat", "chart-distribution-statusnotification"):
        assert "class='marker'" not in chart(page, chart_id)


def test_a_folder_without_events_still_marks_its_outages(stormy: Path, tmp_path: Path) -> None:
    for name in ("latency.hlog", "timeseries.csv"):
        (tmp_path / name).write_bytes((stormy / name).read_bytes())
    summary = json.loads((stormy / "summary.json").read_text())
    summary["run"]["speed"] = 10.0
    summary["faults"]["outages"] = [{"at_s": 80.0, "for_s": 20.0, "stations": 6}]  # simulated: 8-10 s real
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    folder = read_folder(tmp_path)
    assert folder.events is None and folder.problems == []
    svg = chart(render(folder), "chart-throughput")
    assert "<line class='marker'" not in svg
    (band,) = re.findall(r"<rect class='marker' x='([\d.]+)' y='[\d.]+' width='([\d.]+)'", svg)
    assert float(band[0]) == pytest.approx(x_of(svg, 8.0), abs=0.2)
    assert float(band[1]) == pytest.approx(x_of(svg, 2.0) - x_of(svg, 0), abs=0.2)


def test_many_moments_become_ticks_and_labels_never_overlap() -> None:
    drops = [Marker(float(t), "drop", "drop") for t in range(60)]
    storm = Marker(30.5, "storm (200)", "storm")
    svg = line_chart([Series("s", [(0.0, 1.0), (60.0, 2.0)])], title="t", x=Axis("time"), y=Axis("y"),
                     markers=[*drops, storm], time_axis=True)
    lines = re.findall(r"<line class='marker' [^>]*y1='([\d.]+)' y2='([\d.]+)'", svg)
    ticks = [(y1, y2) for y1, y2 in lines if float(y2) - float(y1) == 7]
    assert len(ticks) == 60 and len(lines) == 61  # the drops as ticks; the storm, alone of its kind, a line
    assert re.findall(r"<text class='marker-label'[^>]*>([^<]*)</text>", svg) == ["storm (200)"]
    assert ">connection drop</text>" in svg and ">reconnect storm</text>" in svg
    close = [Marker(10.0 + i / 10, f"storm number {i}", "storm") for i in range(6)]
    svg = line_chart([Series("s", [(0.0, 1.0), (60.0, 2.0)])], title="t", x=Axis("time"), y=Axis("y"),
                     markers=close, time_axis=True, chart_id="c")
    labels = re.findall(r"<text class='marker-label' x='([\d.]+)' y='([\d.]+)'", svg)
    assert 1 < len(labels) < 6  # as many rows as fit, the rest in the tooltips
    assert len({y for _, y in labels}) == len(labels)  # each on its own row: none overlaps another
    assert svg.count("<title>storm number") == 6


# ---------------------------------------------------------------- connections over time


def test_connections_per_second_and_setup_time_over_time(stormy: Path, page: str) -> None:
    folder = read_folder(stormy)
    connects = sum(STATIONS.values())
    # (A 13th row, of no length, holds what was recorded after the last tick.)
    assert [r.connects for r in folder.rows][:12] == [connects, 0, 0, 0, 0, connects, 0, 0, 0, 0, 0, 0]
    assert [r.connect_failures for r in folder.rows][:12] == [0] * OUTAGE_S + [3] * OUTAGE_FOR_S + [0] * 2
    setup = folder.setup[CONNECT]
    assert [(p.t_s, p.count) for p in setup] == [(1.0, connects), (STORM_S + 1.0, connects)]
    assert setup[0].p99_ms == pytest.approx(2.0, rel=1e-3) and setup[1].p99_ms == pytest.approx(40.0, rel=1e-3)
    svg = chart(page, "chart-connects")
    assert "<title>connections opened / s</title>" in svg and "<title>failed attempts / s</title>" in svg
    # Setup p99: the ramp and the storm, not joined across the seconds between them.
    p99 = series(chart(page, "chart-connect-latency"), "setup p99")
    assert [len(run.split()) for run in re.findall(r"<polyline points='([^']*)'", p99)] == [1, 1]
    assert p99.count("<circle") == 2


def test_an_older_time_series_without_connection_columns(stormy: Path, tmp_path: Path) -> None:
    for name in ("summary.json", "latency.hlog", "events.csv"):
        (tmp_path / name).write_bytes((stormy / name).read_bytes())
    with (stormy / "timeseries.csv").open(newline="") as source, \
            (tmp_path / "timeseries.csv").open("w", newline="") as target:
        writer = csv.writer(target, lineterminator="\n")
        for row in csv.reader(source):
            writer.writerow(row[:len(TIMESERIES_HEADER)])
    folder = read_folder(tmp_path)
    assert folder.problems == []
    connects = sum(STATIONS.values())
    # Opened connections come from the log's setup times; failed attempts are unknown.
    assert [r.connects for r in folder.rows][:12] == [connects, 0, 0, 0, 0, connects, 0, 0, 0, 0, 0, 0]
    assert {r.connect_failures for r in folder.rows} == {None}
    page = render(folder)
    svg = chart(page, "chart-connects")
    assert "connections opened / s" in svg and "failed attempts" not in svg
    assert "Failed attempts over time were not recorded" in page


# ---------------------------------------------------------------- charging connectors


def test_charging_connectors_have_their_own_chart_and_axis(page: str) -> None:
    stations = chart(page, "chart-stations")
    assert "charging" not in stations and ">stations</text>" in stations
    charging = chart(page, "chart-charging")
    assert ">connectors delivering energy</text>" in charging
    assert "<title>charging connectors</title>" in charging
    # Its axis is the connectors' (0-2 here), not the fleet's six stations.
    y_ticks = [float(v) for v in re.findall(r"text-anchor='end' fill='#555'>([\d.]+)<", charging)]
    assert max(y_ticks) == 2
    assert max(float(v) for v in re.findall(r"text-anchor='end' fill='#555'>([\d.]+)<", stations)) >= 6


def test_an_event_of_a_kind_this_fleetsim_does_not_know_is_marked_by_its_label(stormy: Path, tmp_path: Path) -> None:
    """The hook for later kinds (a newer fleetsim's): a row of events.csv
    with another kind is still marked, as a band when it lasts."""
    for name in ("summary.json", "latency.hlog", "timeseries.csv"):
        (tmp_path / name).write_bytes((stormy / name).read_bytes())
    (tmp_path / "events.csv").write_text("elapsed_s,wall_time,kind,label,span_s,stations,at_s\n"
                                         "2.000,2025-01-01T12:00:02.000+00:00,surge,ramp <up>,3.000,0,\n")
    svg = chart(render(read_folder(tmp_path)), "chart-throughput")
    (band,) = re.findall(r"<rect class='marker' x='([\d.]+)' y='[\d.]+' width='([\d.]+)'[^>]*><title>([^<]*)", svg)
    assert float(band[1]) == pytest.approx(x_of(svg, 3.0) - x_of(svg, 0), abs=0.2)
    assert band[2] == "surge at 2.0 s for 3.0 s, ramp &lt;up&gt;"
    assert re.findall(r"<text class='marker-label'[^>]*>([^<]*)</text>", svg) == ["ramp &lt;up&gt;"]
