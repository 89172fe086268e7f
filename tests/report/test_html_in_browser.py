"""The HTML report in a real browser (Debian's Chromium, headless): it renders
offline, every chart is in the DOM the browser built, and the console stays
silent.  Skipped where there is no ``chromium`` (CI installs it: .ci/run)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from made_results import make_refused_results, make_results
from test_stage_report import stage_rows, staged

from fleetsim.report.folder import read_folder
from fleetsim.report.html import render

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")
CHARTS = 11  # as in test_html_report: 4 over time, 2 of connections, 2 actions x 2, the simulator's lag
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium on a local file, with nothing that would reach the network,
    logging the page's console to stderr."""
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
               page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console, uncaught errors and failed loads included."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_results(tmp_path_factory.mktemp("browser") / "run")
    page = folder / "report.html"
    page.write_text(render(read_folder(folder)), encoding="utf-8")
    return page


def test_the_browser_builds_every_chart_and_logs_nothing(report: Path, tmp_path: Path) -> None:
    result = chromium(report, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    charts = re.findall(r"<svg[^>]*class=\"chart\"[^>]*>(.*?)</svg>", dom, flags=re.S)
    assert len(charts) == CHARTS
    for chart in charts:
        assert "<polyline" in chart and "<text" in chart
    assert "Latency distribution per action" in dom
    assert console_messages(result.stderr) == []


def test_the_console_check_catches_an_error(tmp_path: Path) -> None:
    """The check above would see a broken page: a script error reaches stderr."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>throw new Error('boom')</script></body></html>")
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in console_messages(result.stderr))


def test_a_screenshot_of_the_report(report: Path, tmp_path: Path) -> None:
    shot = report.with_suffix(".png")
    result = chromium(report, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,3000",
                      f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 3000)
    assert len(data) > 50_000  # charts and tables, not a blank page
    assert console_messages(result.stderr) == []


def test_the_browser_shows_the_verdicts_first_and_the_fault_marks(tmp_path: Path) -> None:
    """A stormy run with thresholds, and a run whose every connection was
    refused: what the browser builds leads with the verdicts, and every chart
    over time carries the marks."""
    folder = read_folder(make_results(tmp_path / "stormy", storm=True, gap=True))
    folder.summary["thresholds"] = [
        {"expression": "connect.p99 < 2s", "passed": True, "observed": "2 ms", "detail": "", "abort": False,
         "aborted_run": False},
        {"expression": "reconnects >= 2000", "passed": False, "observed": "6", "detail": "", "abort": False,
         "aborted_run": False}]
    stormy = tmp_path / "stormy.html"
    stormy.write_text(render(folder), encoding="utf-8")
    refused = tmp_path / "refused.html"
    refused.write_text(render(read_folder(make_refused_results(tmp_path / "refused"))), encoding="utf-8")
    for page in (stormy, refused):
        result = chromium(page, tmp_path / "profile", "--dump-dom")
        assert result.returncode == 0, result.stderr[-2000:]
        assert console_messages(result.stderr) == []
        dom = result.stdout
        run_section = dom.index('<section id="run">')
        if page == stormy:
            assert dom.index("1 of 2 thresholds failed") < run_section
            charts = re.findall(r"<svg[^>]*class=\"chart\"[^>]*id=\"chart-(?!distribution)[^\"]*\"[^>]*>(.*?)</svg>",
                                dom, flags=re.S)
            assert len(charts) == 9 and all('class="marker"' in chart for chart in charts)
        else:
            assert dom.index("6 of 6 stations never connected") < run_section


def test_the_browser_shows_a_staged_runs_stages(tmp_path: Path) -> None:
    """A staged run as the browser builds it: the Stages table, and on every
    chart over time each stage's labelled line and its plateau's band."""
    page = tmp_path / "staged.html"
    page.write_text(render(read_folder(staged(tmp_path / "staged", events=stage_rows()))), encoding="utf-8")
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result.stderr) == []
    dom = result.stdout
    table = re.search(r'<section id="stages">.*?</section>', dom, flags=re.S)
    assert table is not None and table[0].count("<tr") == 4  # the header and three stages
    charts = re.findall(r"<svg[^>]*class=\"chart\"[^>]*id=\"chart-(?!distribution)[^\"]*\"[^>]*>(.*?)</svg>", dom,
                        flags=re.S)
    assert len(charts) == 9
    assert all(chart.count('class="marker band"') == 3 and ">2: 4</text>" in chart for chart in charts)
