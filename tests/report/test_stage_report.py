"""A staged run in the reports: each stage's start and plateau marked on
every chart over time, the Stages table of each plateau's figures, and the
terminal's per-stage lines, from a results folder whose events.csv has
``stage`` and ``plateau`` rows and whose summary.json has ``stages``
(layouts: results/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from made_results import make_results

from fleetsim.report.folder import read_folder
from fleetsim.report.html import render
from fleetsim.report.svg import Axis, Marker, Series, line_chart
from fleetsim.report.terminal import WIDTH, stages_table

HEADER = "elapsed_s,wall_time,kind,label,span_s,stations,at_s\n"
# Three stages of 4 s over the made run's 12 s: 0 → 2, 2 → 4, 4 → 6 stations,
# each ramp 1 s, so each plateau is the last 3 s of its stage.
STAGES = ((1, 0, 2), (2, 2, 4), (3, 4, 6))
STAGE_S, RAMP_S = 4.0, 1.0


def stage_rows(stages: Any = STAGES, stage_s: float = STAGE_S, ramp_s: float = RAMP_S) -> str:
    """events.csv rows of BRIEF's layout: a ``stage`` row at its start (span the
    whole stage), a ``plateau`` row at the plateau's start (span the plateau)."""
    rows = []
    for index, before, target in stages:
        start = (index - 1) * stage_s
        rows.append(f"{start:.3f},2025-01-01T12:00:00+00:00,stage,stage {index}: {before} → {target} stations,"
                    f"{stage_s:.3f},{target},\n")
        rows.append(f"{start + ramp_s:.3f},2025-01-01T12:00:00+00:00,plateau,stage {index} plateau,"
                    f"{stage_s - ramp_s:.3f},{target},\n")
    return "".join(rows)


def stage_entry(index: int, before: int, target: int, *, timeouts: int = 0, action: str = "Heartbeat",
                stage_s: float = STAGE_S, ramp_s: float = RAMP_S) -> dict[str, Any]:
    """summary.json ``stages[i]`` (BRIEF-capacity.md), its ``fleet`` shaped as
    the summary's own fleet section."""
    start = (index - 1) * stage_s

    def exchange(count: int, p99: float, errors: int = 0, timeouts: int = 0) -> dict[str, Any]:
        return {"count": count, "answered": count - timeouts, "errors": {"InternalError": errors} if errors else {},
                "errors_total": errors, "timeouts": timeouts, "late": 0, "declared_timeout_ms": 10_000.0,
                "over_declared": timeouts, "over_declared_share": 0.0, "corrected_over_declared_share": 0.0,
                "corrected_ms": {"p50": p99 / 2, "p90": p99 / 1.5, "p99": p99, "p99.9": p99, "max": p99},
                "service_ms": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "p99.9": 1.0, "max": 1.0}}

    return {"index": index, "stations": target, "from_stations": before, "start_s": start,
            "ramp_end_s": start + ramp_s, "plateau_start_s": start + ramp_s, "end_s": start + stage_s,
            "plateau_s": stage_s - ramp_s, "excluded_s": ramp_s, "calls_per_s": 10.5 * index,
            "messages_per_s": {"out": 21.25 * index, "in": 20.75 * index},
            "fleet": {"exchanges": {"StatusNotification": exchange(3, 20.0 + index, errors=index - 1),
                                    action: exchange(9, 7.0 * index, timeouts=timeouts)}},
            "models": {}}


def staged(out: Path, *, events: str | None = None, stages: Any = None, faults: str = "") -> Path:
    """The made run (12 s, six stations) as a staged one."""
    make_results(out)
    if events is not None:
        (out / "events.csv").write_text(HEADER + events + faults, encoding="utf-8")
    else:
        (out / "events.csv").unlink()
    summary = json.loads((out / "summary.json").read_text())
    summary["stages"] = ([stage_entry(i, b, t, timeouts=2 if i == 3 else 0) for i, b, t in STAGES]
                         if stages is None else stages)
    (out / "summary.json").write_text(json.dumps(summary))
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    storm = "5.001,2025-01-01T12:00:05.001+00:00,storm,,0.000,6,50.000\n"
    return render(read_folder(staged(tmp_path_factory.mktemp("staged") / "run", events=stage_rows(), faults=storm)))


def time_charts(page: str) -> dict[str, str]:
    """Every chart over time, by id."""
    return {m[1]: m[0] for m in re.finditer(r"<svg [^>]*id='(chart-(?!distribution)[^']*)'.*?</svg>", page,
                                            flags=re.S)}


def x_of(svg: str, seconds: float) -> float:
    """The pixel of a time on a chart's x axis, from two of its tick labels."""
    ticks = {label: float(x) for x, label in re.findall(r"<text x='([\d.]+)' y='[\d.]+' text-anchor='middle' "
                                                        r"fill='#555'>([^<]+)</text>", svg)}
    x0, x2 = ticks["0s"], ticks["2s"]
    return x0 + (x2 - x0) * seconds / 2


def marker_labels(svg: str) -> list[str]:
    return re.findall(r"<text class='marker-label'[^>]*>([^<]*)</text>", svg)


def bands(svg: str) -> list[tuple[float, float, str]]:
    return [(float(x), float(w), title) for x, w, title in re.findall(
        r"<rect class='marker band' x='([\d.]+)' y='[\d.]+' width='([\d.]+)'[^>]*><title>([^<]*)</title>", svg)]


def stage_lines(svg: str) -> list[tuple[float, str]]:
    """The stage starts drawn as lines across the plot (not ticks)."""
    return [(float(x), title) for x, y1, y2, title in re.findall(
        r"<line class='marker' x1='([\d.]+)' x2='[\d.]+' y1='([\d.]+)' y2='([\d.]+)' stroke='#283593'[^>]*>"
        r"<title>([^<]*)</title>", svg) if float(y2) - float(y1) > 7]


# ---------------------------------------------------------------- the charts


def test_every_time_chart_marks_each_stage_start_and_its_plateau(page: str) -> None:
    charts = time_charts(page)
    assert len(charts) == 9
    for chart_id, svg in charts.items():
        lines = stage_lines(svg)
        assert [title for _, title in lines] == [f"stage {i}: {b} → {t} stations, {(i - 1) * 4:.1f}–{i * 4:.1f} s"
                                                 for i, b, t in STAGES], chart_id
        for (x, _), (index, _, _) in zip(lines, STAGES, strict=True):
            assert x == pytest.approx(x_of(svg, (index - 1) * STAGE_S), abs=0.2)
        found = bands(svg)
        assert len(found) == 3, chart_id
        for (x, width, title), (index, _, _) in zip(found, STAGES, strict=True):
            start = (index - 1) * STAGE_S + RAMP_S
            assert x == pytest.approx(x_of(svg, start), abs=0.2)
            assert width == pytest.approx(x_of(svg, STAGE_S - RAMP_S) - x_of(svg, 0), abs=0.2)
            assert title.startswith(f"stage {index} plateau, {start:.1f}–{index * STAGE_S:.1f} s: measured")
        # The stage number and its target, and the storm still marked beside them.
        assert marker_labels(svg) == ["1: 2", "2: 4", "storm (6)", "3: 6"], chart_id
        assert ">stage start (stage: target stations)</text>" in svg and ">stage plateau (measured)</text>" in svg
    assert "light bands its plateau, the part measured" in page


def test_many_stages_label_every_kth_and_thin_the_rest() -> None:
    """Forty stages over 12 s: labels every k-th (the first, then multiples of
    k), none overlapping, a full line under each label, the others ticks;
    every stage still has its mark with its tooltip."""
    markers = []
    for index in range(1, 41):
        start = (index - 1) * 0.3
        markers.append(Marker(start, f"{index}: {index * 100:,}", "stage", 0.0, f"stage {index}"))
        markers.append(Marker(start + 0.1, "", "plateau", 0.2, f"stage {index} plateau"))
    svg = line_chart([Series("s", [(0.0, 1.0), (12.0, 2.0)])], title="t", x=Axis("time"), y=Axis("y"),
                     markers=markers, time_axis=True)
    labels = re.findall(r"<text class='marker-label' x='([\d.]+)'[^>]*>([^<]*)</text>", svg)
    numbers = [int(label.split(":")[0]) for _, label in labels]
    assert 2 <= len(numbers) <= 8 and numbers[0] == 1
    k = numbers[1]
    assert k > 1 and all(n % k == 0 for n in numbers[1:]) and numbers[1:] == list(range(k, k * len(numbers), k))
    ends = [float(x) + 5.8 * len(label) for x, label in labels]
    # None overlaps the next.
    assert all(end <= float(x_next) for end, (x_next, _) in zip(ends, labels[1:], strict=False))
    lines = re.findall(r"<line class='marker' [^>]*y1='([\d.]+)' y2='([\d.]+)'[^>]*><title>stage (\d+)</title>", svg)
    full = sorted(int(n) for y1, y2, n in lines if float(y2) - float(y1) > 7)
    assert full == sorted({1, *range(k, 41, k)})  # a line under each labelled stage, ticks for the rest
    assert len(lines) == 40 and len(bands(svg)) == 40


def test_a_thousand_stages_stay_a_small_chart() -> None:
    """Stages too close to draw apart: plateau bands less than a pixel apart
    become one band, ticks closer than two pixels one tick."""
    markers = []
    for index in range(1, 1001):
        markers.append(Marker(index - 1.0, f"{index}: {index}", "stage", 0.0, f"stage {index}"))
        markers.append(Marker(index - 0.9, "", "plateau", 0.9, f"stage {index} plateau"))
    svg = line_chart([Series("s", [(0.0, 1.0), (1000.0, 2.0)])], title="t", x=Axis("time"), y=Axis("y"),
                     markers=markers, time_axis=True)
    (band,) = bands(svg)
    assert band[2].startswith("1000 of stage plateau (measured), too close to draw apart: stage 1 plateau")
    assert band[2].endswith("stage 1000 plateau")
    assert len(re.findall("<line class='marker'", svg)) <= 470 / 2 + 20
    assert len(svg) < 60_000


def test_stage_marks_come_from_summary_json_without_events_csv(tmp_path: Path) -> None:
    """A folder whose events.csv is gone (a killed run merged back) still
    marks its stages, from summary.json's ``stages``."""
    folder = read_folder(staged(tmp_path / "run", events=None))
    assert folder.events is None
    svg = time_charts(render(folder))["chart-throughput"]
    assert [title for _, title in stage_lines(svg)] == [f"stage {i}: {b} → {t} stations, {(i - 1) * 4:.1f}–"
                                                        f"{i * 4:.1f} s" for i, b, t in STAGES]
    assert len(bands(svg)) == 3 and marker_labels(svg) == ["1: 2", "2: 4", "3: 6"]


def test_a_stage_row_written_by_two_shards_is_one_mark(tmp_path: Path) -> None:
    """A merged run's events.csv may hold each shard's row of one stage a few
    ms apart: one mark, its target not added up."""
    twice = stage_rows() + stage_rows().replace("0.000,", "0.004,").replace("1.000,", "1.004,")
    folder = read_folder(staged(tmp_path / "run", events=twice, stages=[]))
    assert [event.stations for event in folder.events or ()] == [2, 2, 4, 4, 6, 6]
    svg = time_charts(render(folder))["chart-throughput"]
    assert len(stage_lines(svg)) == 3 and len(bands(svg)) == 3
    assert marker_labels(svg) == ["1: 2", "2: 4", "3: 6"]


# ---------------------------------------------------------------- the table


def table_rows(page: str) -> list[list[str]]:
    found = re.search(r"<section id='stages'>.*?</section>", page, flags=re.S)
    assert found is not None
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found[0])[1:]]


def test_the_stages_section_gives_each_plateaus_figures(page: str) -> None:
    assert "<a href='#stages'>stages</a>" in page
    section = page[page.index("<section id='stages'>"):]
    assert "The ramp into each stage is excluded from its figures" in section[:section.index("</section>")]
    assert table_rows(page) == [
        # stage, target, from, ramp excluded (s), plateau (s), calls/s, out/s, in/s, worst p99, errors, timeouts
        ["1", "2", "0", "1", "3", "10.5", "21.2", "20.8", "21 ms StatusNotification", "0", "0"],
        ["2", "4", "2", "1", "3", "21", "42.5", "41.5", "22 ms StatusNotification", "1", "0"],
        ["3", "6", "4", "1", "3", "31.5", "63.8", "62.2", "23 ms StatusNotification", "2", "2"],
    ]
    rows = re.findall(r"<tr( class='bad')?><td", section[:section.index("</section>")])
    assert rows == ["", "", " class='bad'"]  # the stage with timeouts in red


def test_the_worst_action_is_the_one_slowest_on_that_plateau(tmp_path: Path) -> None:
    stages = [stage_entry(1, 0, 2), stage_entry(2, 2, 4, action="StartTransaction", stage_s=4.0)]
    stages[1]["fleet"]["exchanges"]["StartTransaction"]["corrected_ms"]["p99"] = 1400.0
    page = render(read_folder(staged(tmp_path / "run", events=stage_rows(STAGES[:2]), stages=stages)))
    assert [row[8] for row in table_rows(page)] == ["21 ms StatusNotification", "1.4 s StartTransaction"]


def test_hostile_labels_and_names_are_escaped(tmp_path: Path) -> None:
    events = ("0.000,x,stage,stage 1: <script>alert(1)</script>,4.000,2,\n"
              "1.000,x,plateau,<img src=x onerror=alert(2)>,3.000,2,\n")
    stage = stage_entry(1, 0, 2, action="<img src=x onerror=alert(3)>")
    stage["fleet"]["exchanges"]["<img src=x onerror=alert(3)>"]["corrected_ms"]["p99"] = 900.0
    stage["index"] = "<b>1</b>"
    page = render(read_folder(staged(tmp_path / "run", events=events, stages=[stage])))
    assert "<script>" not in page and "<img" not in page and "<b>1</b>" not in page
    assert "stage 1: &lt;script&gt;alert(1)&lt;/script&gt;, 0.0–4.0 s" in page  # the stage line's tooltip
    assert "900 ms &lt;img src=x onerror=alert(3)&gt;" in page
    assert table_rows(page)[0][0] == "&lt;b&gt;1&lt;/b&gt;"


def test_an_unknown_kind_and_mangled_stages_still_render(tmp_path: Path) -> None:
    """A newer fleetsim's kind is marked by its label beside the stages; a
    summary.json whose stages are mangled shows dashes, not a traceback."""
    surge = "6.000,x,surge,a later kind,0.000,0,\n"
    mangled = [stage_entry(1, 0, 2), "not a stage", {"index": 2, "stations": "many", "calls_per_s": None,
                                                      "messages_per_s": [1, 2], "fleet": {"exchanges": [3]}}]
    page = render(read_folder(staged(tmp_path / "run", events=stage_rows() + surge, stages=mangled)))
    svg = time_charts(page)["chart-throughput"]
    assert "a later kind" in marker_labels(svg) and len(stage_lines(svg)) == 3
    assert table_rows(page)[1] == ["2", *["–"] * 10]
    bad = json.loads((tmp_path / "run" / "summary.json").read_text())
    bad["stages"] = {"not": "a list"}
    (tmp_path / "run" / "summary.json").write_text(json.dumps(bad))
    assert "<section id='stages'>" not in render(read_folder(tmp_path / "run"))


def test_a_run_without_stages_looks_as_before(tmp_path: Path) -> None:
    """No Stages section, link, mark or legend entry; the page of a folder
    with an empty ``stages`` list is the page of one without the field."""
    plain = make_results(tmp_path / "plain")
    page = render(read_folder(plain))
    for text in ("id='stages'", "#stages", "marker band", "stage start", "stage plateau", "Numbered lines"):
        assert text not in page
    summary = json.loads((plain / "summary.json").read_text())
    summary["stages"] = []
    (plain / "summary.json").write_text(json.dumps(summary))
    assert render(read_folder(plain)) == page


# ---------------------------------------------------------------- the terminal


def test_the_terminal_shows_a_line_per_stage(tmp_path: Path) -> None:
    summary = json.loads((staged(tmp_path / "run", events="") / "summary.json").read_text())
    lines = stages_table(summary).splitlines()
    assert len(lines) == 5 and all(len(line) < WIDTH for line in lines)
    assert lines[0].split() == ["#", "stations", "plateau", "calls/s", "out/s", "in/s", "errors", "t/o", "p99",
                                "slowest"]
    # The slowest action's name cut at 80 columns.
    assert lines[3].split() == ["3", "6", "3", "s", "32", "64", "62", "2", "2", "23", "ms", "StatusNoti…"]
    assert "ramp excluded" in lines[-1]
    assert stages_table(json.loads((make_results(tmp_path / "plain") / "summary.json").read_text())) == ""
    summary["stages"] = [{"index": 1, "fleet": None}, 7]
    assert stages_table(summary).splitlines()[1].split() == ["1", *["-"] * 8]
