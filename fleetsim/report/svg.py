"""Line charts as inline SVG, for a report that opens offline: no script, no
library, no external file.  Axes are linear, logarithmic (latencies span
microseconds to the declared timeouts of tens of seconds), or HdrHistogram's
percentile axis (90 %, 99 %, 99.9 %... equally spaced).

Pure: data in, SVG text out.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from html import escape
from typing import Final, Literal

import msgspec

# Okabe–Ito: told apart by colour-blind readers too; models take them in order.
PALETTE: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#B8A100")
INK: Final = "#222"
GRID: Final = "#e4e4e4"
FONT: Final = "font-family='system-ui, sans-serif' font-size='11'"

Scale = Literal["linear", "log", "percentile"]


class Series(msgspec.Struct, frozen=True):
    name: str
    # (x, y) in data units; percentile axis: x in percent.  y None: no data
    # there, so the line breaks rather than joining its neighbours.
    points: Sequence[tuple[float, float | None]]
    color: str = INK
    width: float = 1.5
    dash: str = ""  # SVG stroke-dasharray, e.g. "4 3"
    line: bool = True  # False: the points alone, as dots (measurements under a fitted curve)


class Rule(msgspec.Struct, frozen=True):
    """A horizontal line across the plot: a declared timeout, a threshold."""

    y: float
    label: str
    color: str = "#c00"
    dash: str = "6 4"


class Marker(msgspec.Struct, frozen=True):
    """A moment of the run on a time axis: a vertical line, or a band when it
    lasts (``span_s`` > 0), labelled at the top.  ``kind`` picks its colour
    (MARKER_STYLES: injected faults, the stages of a run and their
    plateaus), ``detail`` is its tooltip."""

    t_s: float
    label: str
    kind: str
    span_s: float = 0.0
    detail: str = ""


# Marker kind -> (colour, legend text).  Unknown kinds are grey.
MARKER_STYLES: Final = {
    "storm": ("#6A1B9A", "reconnect storm"),
    "outage": ("#C62828", "CSMS outage"),
    "drop": ("#8D6E63", "connection drop"),
    "reboot": ("#EF6C00", "reboot"),
    "power_loss": ("#5D4037", "power loss"),
    "connector": ("#757575", "connector fault"),
    "stage": ("#283593", "stage start (stage: target stations)"),
    "plateau": ("#3F51B5", "stage plateau (measured)"),
}
_MARKER_GREY: Final = "#888"
MAX_MARKER_LINES: Final = 12  # more moments of one kind in a chart: short ticks at the top instead of lines
_LABEL_ROWS: Final = 3
# Kinds whose moments are a numbered sequence (a run's stages): when their
# labels would crowd, the first and every k-th are labelled (k from these),
# drawn as lines, and the rest are ticks.
SEQUENCE_KINDS: Final = frozenset({"stage"})
_LABEL_STEPS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_TICK_GAP_PX: Final = 2.0  # ticks of a sequence closer than this to the last one drawn are left out
# Kinds drawn as faint bands without an outline: many lie side by side (a
# staged run's plateaus); those less than a pixel apart are drawn as one.
LIGHT_BAND_KINDS: Final = frozenset({"plateau"})
_BAND_GAP_PX: Final = 1.0


class Axis(msgspec.Struct, frozen=True):
    label: str
    scale: Scale = "linear"
    format: Callable[[float], str] | None = None  # tick labels
    minimum: float | None = None  # linear: the axis reaches down to at least this
    maximum: float | None = None  # linear: and up to at least this (a run's length, so time axes line up)


def seconds_label(seconds: float) -> str:
    """An elapsed time: 45s, 2m, 1h30m."""
    seconds = round(seconds)
    if seconds < 60 or seconds % 60:
        return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s"
    minutes = seconds // 60
    if minutes < 60 or minutes % 60:
        return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // 60}h"


def ms_label(ms: float) -> str:
    """A latency tick: 100µs, 2ms, 10s."""
    if ms < 1:
        return f"{ms * 1000:g}µs"
    if ms < 1000:
        return f"{ms:g}ms"
    return f"{ms / 1000:g}s"


def percentile_label(x: float) -> str:
    """A position on the percentile axis (x = log10(1 / (1 - p)))."""
    if x == 0:
        return "0%"
    return f"{100 - 100 / 10 ** x:.{max(0, round(x) - 2)}f}%"


def percentile_x(percent: float) -> float:
    """The percentile axis position of ``percent`` (0 → 0, 90 → 1, 99 → 2, ...)."""
    return math.log10(100 / (100 - min(percent, 99.9999)))


def nice_step(span: float, ticks: int) -> float:
    raw = span / max(1, ticks)
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def time_step(span_s: float, ticks: int = 6) -> float:
    """Tick spacing of an elapsed-time axis: whole seconds, minutes or hours."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if span_s / step <= ticks:
            return step
    return nice_step(span_s, ticks)


class _Scale:
    """Data → pixels along one axis, with its ticks."""

    def __init__(self, axis: Axis, low: float, high: float, pixels: tuple[float, float], *,
                 elapsed: bool = False) -> None:
        self.axis = axis
        self.pixels = pixels
        if axis.scale == "log":
            low = 10 ** math.floor(math.log10(low))
            high = 10 ** math.ceil(math.log10(high))
            if high <= low:
                high = low * 10
            self.low, self.high = math.log10(low), math.log10(high)
        elif axis.scale == "percentile":
            self.low, self.high = 0.0, max(2.0, math.ceil(high))
        else:
            if axis.minimum is not None:
                low = min(low, axis.minimum)
            if axis.maximum is not None:
                high = max(high, axis.maximum)
            if high <= low:
                high = low + 1
            step = time_step(high - low) if elapsed else nice_step(high - low, 5)
            self.step = step
            self.low = math.floor(low / step) * step
            self.high = math.ceil(high / step - 1e-9) * step
            if self.high <= self.low:
                self.high = self.low + step

    def position(self, value: float) -> float:
        if self.axis.scale == "log":
            value = math.log10(max(value, 10 ** self.low))
        start, end = self.pixels
        return start + (value - self.low) / (self.high - self.low) * (end - start)

    def ticks(self) -> list[tuple[float, str]]:
        label = self.axis.format or (lambda v: f"{v:g}")
        if self.axis.scale == "log":
            decades = range(round(self.low), round(self.high) + 1)
            multiples = (1, 2, 5) if self.high - self.low <= 3 else (1,)
            return [(m * 10.0 ** d, label(m * 10.0 ** d)) for d in decades for m in multiples
                    if m * 10.0 ** d <= 10 ** self.high * 1.0001]
        if self.axis.scale == "percentile":
            return [(float(x), percentile_label(x)) for x in range(0, round(self.high) + 1)]
        count = round((self.high - self.low) / self.step)
        return [(self.low + i * self.step, label(self.low + i * self.step)) for i in range(count + 1)]

    def tick_position(self, value: float) -> float:
        return self.position(value)


def _bounds(values: Sequence[float], scale: Scale) -> tuple[float, float]:
    if scale == "log":
        values = [v for v in values if v > 0]
        if not values:
            return 0.1, 1.0
    if not values:
        return 0.0, 1.0
    return min(values), max(values)


def line_chart(series: Sequence[Series], *, title: str, x: Axis, y: Axis, rules: Sequence[Rule] = (),
               markers: Sequence[Marker] = (), width: int = 560, height: int = 250, time_axis: bool = False,
               chart_id: str = "") -> str:
    """An SVG line chart (class ``chart``) with a legend below it; ``markers``
    mark moments of the run on a linear x axis (time)."""
    left, right, top, bottom = 62, 30, 26, 36
    kinds = list(dict.fromkeys(marker.kind for marker in markers))
    legend_items = ([(s.name, s.color, s.dash if s.line else _DOTS, s.width) for s in series] +
                    [(r.label, r.color, r.dash, 1.2) for r in rules] +
                    [(_marker_style(kind)[1], _marker_style(kind)[0], "band" if kind in LIGHT_BAND_KINDS else "3 2",
                      1.2) for kind in kinds])
    fits = int((width - left - right - 44) / 6.4)  # characters a legend row holds; longer names are cut
    legend_items = [(name if len(name) <= fits else name[:fits - 1] + "…", *rest) for name, *rest in legend_items]
    legend_rows = _legend_rows(legend_items, width - left - right)
    total_height = height + 16 * len(legend_rows) + 4
    plot_x, plot_y = (left, width - right), (height - bottom, top)
    xs = [px for s in series for px, py in s.points if py is not None]
    ys = [py for s in series for _, py in s.points if py is not None] + [r.y for r in rules]
    x_scale = _Scale(x, *_bounds(xs, x.scale), plot_x, elapsed=time_axis)
    y_scale = _Scale(y, *_bounds(ys, y.scale), plot_y)
    parts = [f"<svg class='chart' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {total_height}' "
             f"width='{width}' height='{total_height}' role='img' aria-label='{escape(title, quote=True)}'"
             f"{f' id={chr(39)}{escape(chart_id)}{chr(39)}' if chart_id else ''} {FONT}>",
             f"<title>{escape(title)}</title>",
             f"<text x='{left}' y='16' font-size='13' font-weight='600' fill='{INK}'>{escape(title)}</text>"]
    bottom_px = plot_y[0]
    for value, label in y_scale.ticks():
        py = y_scale.tick_position(value)
        parts.append(f"<line x1='{left}' x2='{plot_x[1]}' y1='{py:.1f}' y2='{py:.1f}' stroke='{GRID}'/>")
        parts.append(f"<text x='{left - 5}' y='{py + 3.5:.1f}' text-anchor='end' fill='#555'>{escape(label)}</text>")
    for value, label in x_scale.ticks():
        px = x_scale.tick_position(value)
        parts.append(f"<line x1='{px:.1f}' x2='{px:.1f}' y1='{top}' y2='{bottom_px}' stroke='{GRID}'/>")
        parts.append(f"<text x='{px:.1f}' y='{bottom_px + 14}' text-anchor='middle' fill='#555'>{escape(label)}</text>")
    parts.append(f"<rect x='{left}' y='{top}' width='{plot_x[1] - left}' height='{bottom_px - top}' fill='none' "
                 f"stroke='#bbb'/>")
    parts.append(f"<text x='{(left + plot_x[1]) / 2:.0f}' y='{bottom_px + 29}' text-anchor='middle' fill='#555'>"
                 f"{escape(x.label)}</text>")
    parts.append(f"<text transform='translate(12 {(top + bottom_px) / 2:.0f}) rotate(-90)' text-anchor='middle' "
                 f"fill='#555'>{escape(y.label)}</text>")
    marks, marker_labels = _markers_svg(markers, x_scale, (top, bottom_px)) if x.scale == "linear" else ("", "")
    parts.append(marks)
    for rule in rules:
        py = y_scale.position(rule.y)
        parts.append(f"<line class='rule' x1='{left}' x2='{plot_x[1]}' y1='{py:.1f}' y2='{py:.1f}' "
                     f"stroke='{rule.color}' stroke-width='1.2' stroke-dasharray='{rule.dash}'>"
                     f"<title>{escape(rule.label)}</title></line>")
    for item in series:
        parts.append(_series_svg(item, x_scale, y_scale))
    parts.append(marker_labels)  # over the lines, on a halo: readable
    y0 = height + 2
    for row in legend_rows:
        parts.append(_legend_svg(row, left, y0))
        y0 += 16
    parts.append("</svg>")
    return "".join(parts)


def _runs(series: Series, x_scale: _Scale, y_scale: _Scale) -> list[list[tuple[float, float]]]:
    """The series in pixels, cut where it has no data (y None) into runs
    drawn apart.  A zero on a log axis is no data either."""
    runs: list[list[tuple[float, float]]] = [[]]
    for px, py in series.points:
        if py is None or (y_scale.axis.scale == "log" and py <= 0):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x_scale.position(px), y_scale.position(py)))
    return [run for run in runs if run]


def _series_svg(series: Series, x_scale: _Scale, y_scale: _Scale) -> str:
    runs = _runs(series, x_scale, y_scale)
    if not runs:
        return ""
    dash = f" stroke-dasharray='{series.dash}'" if series.dash else ""
    out = [f"<g class='series'><title>{escape(series.name)}</title>"]
    for run in runs if series.line else ():
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
        out.append(f"<polyline points='{path}' fill='none' stroke='{series.color}' stroke-width='{series.width}' "
                   f"stroke-linejoin='round'{dash}/>")
    shown = [point for run in runs for point in run]
    # Dots where the points are few, and on a point alone between gaps, so
    # every point shows at all.
    dots = shown if len(shown) <= 40 or not series.line else [run[0] for run in runs if len(run) == 1]
    out.extend(f"<circle cx='{px:.1f}' cy='{py:.1f}' r='{max(1.8, series.width)}' fill='{series.color}'/>"
               for px, py in dots)
    out.append("</g>")
    return "".join(out)


def _marker_style(kind: str) -> tuple[str, str]:
    return MARKER_STYLES.get(kind, (_MARKER_GREY, kind.replace("_", " ")))


def _markers_svg(markers: Sequence[Marker], x_scale: _Scale, plot_y: tuple[float, float]) -> tuple[str, str]:
    """Bands and lines across the plot, behind the data, each with its
    tooltip; labels at the top where they fit (a label that would overlap
    another is left to the tooltip).  A kind with many moments (random drops
    over a soak) becomes short ticks along the top, unlabelled, so they do
    not hide the data (nor the other kinds' lines); a numbered sequence (a
    run's stages) keeps a labelled line every k-th.  Returns the marks (drawn
    under the data) and their labels (drawn over it)."""
    if not markers:
        return "", ""
    top, bottom = plot_y
    low, high = x_scale.pixels

    def x_of(t_s: float) -> float:
        return min(max(x_scale.position(t_s), low), high)

    moments = Counter(marker.kind for marker in markers if marker.span_s <= 0)
    ticks = {kind for kind, n in moments.items() if n > MAX_MARKER_LINES}
    labelled = _sequence_labels(markers, x_of)
    out = ["<g class='markers'>", *_light_bands(markers, x_of, plot_y)]
    rows_end = [-math.inf] * _LABEL_ROWS  # where the last label of each row ends (px)
    last_tick: dict[str, float] = {}
    labels = []
    for i, marker in enumerate(markers):
        if marker.span_s > 0 and marker.kind in LIGHT_BAND_KINDS:
            continue  # drawn above
        color = _marker_style(marker.kind)[0]
        x0 = x_of(marker.t_s)
        tooltip = f"<title>{escape(marker.detail or marker.label)}</title>"
        sequence = marker.kind in SEQUENCE_KINDS
        if marker.span_s > 0:
            x1 = x_of(marker.t_s + marker.span_s)
            out.append(f"<rect class='marker' x='{x0:.1f}' y='{top}' width='{max(x1 - x0, 1.0):.1f}' "
                       f"height='{bottom - top}' fill='{color}' fill-opacity='0.12' stroke='{color}' "
                       f"stroke-opacity='0.5' stroke-dasharray='3 2'>{tooltip}</rect>")
        elif marker.kind in ticks and not (sequence and i in labelled):
            if sequence and x0 - last_tick.get(marker.kind, -math.inf) < _TICK_GAP_PX:
                continue  # a thousand stages: ticks closer than a pixel or two are one tick
            last_tick[marker.kind] = x0
            out.append(f"<line class='marker' x1='{x0:.1f}' x2='{x0:.1f}' y1='{top}' y2='{top + 7}' "
                       f"stroke='{color}' stroke-width='1.2'>{tooltip}</line>")
            continue
        else:
            out.append(f"<line class='marker' x1='{x0:.1f}' x2='{x0:.1f}' y1='{top}' y2='{bottom}' "
                       f"stroke='{color}' stroke-width='1.2' stroke-dasharray='3 2'>{tooltip}</line>")
        if sequence and i not in labelled:
            continue
        width = 5.8 * len(marker.label)
        row = next((r for r in range(_LABEL_ROWS) if rows_end[r] < x0), None)
        if marker.label and row is not None and x0 + 3 + width <= high + 28:
            rows_end[row] = x0 + 3 + width + 4
            labels.append(f"<text class='marker-label' x='{x0 + 3:.1f}' y='{top + 11 + 12 * row}' fill='{color}' "
                          f"font-size='10' stroke='#fff' stroke-width='3' paint-order='stroke'>"
                          f"{escape(marker.label)}</text>")
    out.append("</g>")
    return "".join(out), "".join(labels)


def _sequence_labels(markers: Sequence[Marker], x_of: Callable[[float], float]) -> set[int]:
    """Which moments of a numbered sequence (positions in ``markers``) get a
    label: the first and every k-th, k the smallest of _LABEL_STEPS at which
    no label reaches the next one, so forty stages read 1, 5, 10, 15..."""
    chosen: set[int] = set()
    for kind in SEQUENCE_KINDS:
        members = [(i, x_of(marker.t_s), 3 + 5.8 * len(marker.label) + 4) for i, marker in enumerate(markers)
                   if marker.kind == kind and marker.span_s <= 0 and marker.label]
        picked = members
        for step in _LABEL_STEPS:
            picked = [member for n, member in enumerate(members, start=1) if n == 1 or n % step == 0]
            if all(x + width <= x_next for (_, x, width), (_, x_next, _) in itertools.pairwise(picked)):
                break
        chosen.update(i for i, _, _ in picked)
    return chosen


def _light_bands(markers: Sequence[Marker], x_of: Callable[[float], float], plot_y: tuple[float, float],
                 ) -> list[str]:
    """The faint bands (a staged run's plateaus), under every other mark;
    bands less than _BAND_GAP_PX apart are one band (a gap that thin does not
    show, and a thousand stages stay a few rects), its tooltip naming both
    ends."""
    top, bottom = plot_y
    out = []
    for kind in sorted(LIGHT_BAND_KINDS):
        color, name = _marker_style(kind)
        bands: list[tuple[float, float, list[Marker]]] = []
        for marker in sorted((m for m in markers if m.kind == kind and m.span_s > 0), key=lambda m: m.t_s):
            x0, x1 = x_of(marker.t_s), x_of(marker.t_s + marker.span_s)
            if bands and x0 - bands[-1][1] < _BAND_GAP_PX:
                bands[-1] = (bands[-1][0], max(bands[-1][1], x1), [*bands[-1][2], marker])
            else:
                bands.append((x0, x1, [marker]))
        for x0, x1, group in bands:
            first, last = (group[0].detail or group[0].label), (group[-1].detail or group[-1].label)
            title = first if len(group) == 1 else f"{len(group)} of {name}, too close to draw apart: {first} … {last}"
            out.append(f"<rect class='marker band' x='{x0:.1f}' y='{top}' width='{max(x1 - x0, 1.0):.1f}' "
                       f"height='{bottom - top}' fill='{color}' fill-opacity='0.09'><title>{escape(title)}</title>"
                       "</rect>")
    return out


def _legend_rows(items: list[tuple[str, str, str, float]], width: float) -> list[list[tuple[str, str, str, float]]]:
    rows: list[list[tuple[str, str, str, float]]] = [[]]
    used = 0.0
    for item in items:
        needed = _legend_width(item[0])
        if rows[-1] and used + needed > width:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += needed
    return [row for row in rows if row]


def _legend_width(name: str) -> float:
    return 44 + 6.4 * len(name)


_DOTS: Final = "dots"  # a legend entry's dash for a series drawn as dots alone


def _legend_svg(row: list[tuple[str, str, str, float]], x0: float, y0: float) -> str:
    parts, x = [], x0
    for name, color, dash, stroke in row:
        dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
        if dash == "band":  # a faint band's swatch
            parts.append(f"<rect x='{x:.0f}' y='{y0 + 3}' width='20' height='10' fill='{color}' fill-opacity='0.18'/>")
        elif dash == _DOTS:
            parts.append(f"<circle cx='{x + 10:.0f}' cy='{y0 + 8}' r='{max(stroke, 1.8)}' fill='{color}'/>")
        else:
            parts.append(f"<line x1='{x:.0f}' x2='{x + 20:.0f}' y1='{y0 + 8}' y2='{y0 + 8}' stroke='{color}' "
                         f"stroke-width='{max(stroke, 1.5)}'{dash_attr}/>")
        parts.append(f"<text x='{x + 24:.0f}' y='{y0 + 12}' fill='#333'>{escape(name)}</text>")
        x += _legend_width(name)
    return "".join(parts)
