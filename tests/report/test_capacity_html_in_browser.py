"""capacity.html in a real browser (Debian's Chromium, headless): it renders
offline with a silent console, every chart is in the DOM the browser built,
and a screenshot of it is no blank page.  Skipped where there is no
``chromium`` (CI installs it: .ci/run)."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest
from test_capacity_html import ACTIONS, GOOD_USL, make_document, searched
from test_html_in_browser import CHROMIUM, PNG_SIGNATURE, chromium, console_messages

from fleetsim.report.capacity_html import render

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")
CHARTS = len(ACTIONS) + 2  # latency per action, throughput, errors


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = searched(usl=GOOD_USL, note="the embedded CSMS: what was measured is its own capacity")
    path = tmp_path_factory.mktemp("capacity") / "capacity.html"
    path.write_text(render(document), encoding="utf-8")
    return path


def png_pixels(data: bytes) -> bytes:
    """The decompressed image data of a PNG (rows still filtered): enough to
    tell a page with charts from a blank one."""
    idat, at = bytearray(), 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        if data[at + 4:at + 8] == b"IDAT":
            idat += data[at + 8:at + 8 + length]
        at += 12 + length
    return zlib.decompress(bytes(idat))


def test_the_browser_builds_every_chart_and_logs_nothing(page: Path, tmp_path: Path) -> None:
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    charts = re.findall(r"<svg[^>]*class=\"chart\"[^>]*>(.*?)</svg>", dom, flags=re.S)
    assert len(charts) == CHARTS
    for chart in charts:
        assert "<polyline" in chart and "<circle" in chart and "<text" in chart
    assert "met every SLO" in dom and "Every step, in the order it ran" in dom
    assert console_messages(result.stderr) == []


def test_a_screenshot_of_the_report_is_no_blank_page(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "capacity.png"
    result = chromium(page, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,2600",
                      f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 2600)
    pixels = png_pixels(data)
    # A blank page is one colour: a few distinct bytes once filtered.  Charts
    # in colour, text and tables make most of the 256.
    assert len(set(pixels)) > 200
    assert len(data) > 80_000
    assert console_messages(result.stderr) == []


def test_a_search_that_ran_no_step_renders_too(tmp_path: Path) -> None:
    path = tmp_path / "capacity.html"
    path.write_text(render(make_document([])), encoding="utf-8")
    result = chromium(path, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "No step ran" in result.stdout and 'class="chart"' not in result.stdout
    assert console_messages(result.stderr) == []


def test_a_blank_page_fails_the_screenshot_check(tmp_path: Path) -> None:
    """The check above would see a blank page."""
    path = tmp_path / "blank.html"
    path.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    shot = tmp_path / "blank.png"
    result = chromium(path, tmp_path / "profile", "--window-size=400,300", f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(set(png_pixels(shot.read_bytes()))) < 10
