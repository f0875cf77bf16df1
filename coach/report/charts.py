"""Charts as inline SVG, pure functions of plain data: no library, nothing fetched, any browser.

`trace_chart` draws one session: the pressure, each repetition shaded by its verdict with its
target band, and the corrections marked. `trend_chart` draws one number per session over time.
Long traces are reduced to the lowest and highest value per pixel column, so an hour at 100 Hz
draws as fast as a minute and still shows every peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

VERDICT_COLOURS = {"ok": "#2e8540", "too_weak": "#d98c00", "too_strong": "#c2410c",
                   "pushing": "#b91c1c", "not_held": "#7c3aed"}
WIDTH, HEIGHT = 900, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 26


@dataclass(frozen=True)
class Span:
    """A repetition on the chart: its window, verdict, and the target band in mmHg (or None)."""

    start: float
    end: float
    verdict: str
    band: tuple[float, float] | None
    label: str


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    for step in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200):
        if step >= raw:
            return float(step)
    return float(round(raw, -3) or raw)


def reduce_to_columns(points: list[tuple[float, float]], t0: float, t1: float, columns: int):
    """(t, v) points -> per pixel column, the first, lowest, highest and last value in order, so
    the line keeps every peak and the shape between columns."""
    if len(points) <= 4 * columns:
        return points
    width = (t1 - t0) / columns or 1.0
    out: list[tuple[float, float]] = []
    bucket: list[tuple[float, float]] = []
    current = None
    for t, v in points:
        column = int((t - t0) / width)
        if column != current and bucket:
            out.extend(_extremes(bucket))
            bucket = []
        current = column
        bucket.append((t, v))
    if bucket:
        out.extend(_extremes(bucket))
    return out


def _extremes(bucket):
    low = min(bucket, key=lambda p: p[1])
    high = max(bucket, key=lambda p: p[1])
    chosen = {bucket[0], low, high, bucket[-1]}
    return sorted(chosen)


def draw_trace(points: list[tuple[float, float]], bands: list[tuple[float, float]]) -> dict | None:
    """What `trace_chart` draws of a session's trace (seconds, mmHg, in time order) beside the
    repetitions' target `bands`: the chart's ranges and the pressure line, its points reduced to
    the chart's pixel columns, as JSON (None without a trace). Everything in it follows from the
    session alone, so it can be made once and kept (the clinic store keeps it beside each
    session: coach/clinic/sessions.py)."""
    if not points:
        return None
    t0, t1 = points[0][0], max(points[-1][0], points[0][0] + 1.0)
    levels = [v for _, v in points] + [level for band in bands for level in band]
    low, high = min(levels) - 3, max(levels) + 3
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    reduced = reduce_to_columns(points, t0, t1, plot_w)
    t_span, v_span = t1 - t0, high - low
    path = " ".join([f"{LEFT + (t - t0) / t_span * plot_w:.1f},{TOP + (high - v) / v_span * plot_h:.1f}"
                     for t, v in reduced])
    return {"t0": t0, "t1": t1, "low": low, "high": high, "path": path}


def trace_chart(drawing: dict | None, spans: list[Span], corrections: list[tuple[float, str]], title: str) -> str:
    """The pressure over a session as an SVG element: its trace as `draw_trace` drew it, with the
    repetitions (the spans whose bands it was drawn beside) and the corrections."""
    if drawing is None:
        return '<p class="empty">Geen drukverloop opgeslagen.</p>'
    t0, t1, low, high = drawing["t0"], drawing["t1"], drawing["low"], drawing["high"]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    parts = [f'<svg class="chart trace" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for span in spans:
        colour = VERDICT_COLOURS.get(span.verdict, "#666")
        parts.append(f'<rect class="rep {escape(span.verdict)}" x="{x(span.start):.1f}" y="{TOP}" '
                     f'width="{max(1.0, x(span.end) - x(span.start)):.1f}" height="{plot_h}" '
                     f'fill="{colour}" fill-opacity="0.14"><title>{escape(span.label)}</title></rect>')
        if span.band:
            lo, hi = span.band
            parts.append(f'<rect class="band" x="{x(span.start):.1f}" y="{y(hi):.1f}" '
                         f'width="{max(1.0, x(span.end) - x(span.start)):.1f}" '
                         f'height="{max(1.0, y(lo) - y(hi)):.1f}" fill="#1d4ed8" fill-opacity="0.18"/>')
    step = _nice_step(high - low, 4)
    tick = (int(low // step) + 1) * step
    while tick < high:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#ddd" stroke-width="1"/><text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end" class="axis">{tick:g}</text>')
        tick += step
    step = _nice_step(t1 - t0, 8)
    tick = (int(t0 // step) + 1) * step
    while tick < t1:
        label = f"{int(tick // 60)}:{int(tick % 60):02d}"
        parts.append(f'<text x="{x(tick):.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                     f'class="axis">{label}</text>')
        tick += step
    path = drawing["path"]
    parts.append(f'<polyline class="pressure" points="{path}" fill="none" stroke="#111" '
                 f'stroke-width="1.2"/>')
    for t, kind in corrections:
        parts.append(f'<line class="correction" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" '
                     f'y2="{TOP + plot_h}" stroke="#dc2626" stroke-width="1.5" stroke-dasharray="4 3">'
                     f'<title>correctie: {escape(kind)}</title></line>'
                     f'<circle cx="{x(t):.1f}" cy="{TOP + 5}" r="4" fill="#dc2626"/>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="axis unit">mmHg / min:s</text>')
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(values: list[tuple[str, float | None]], title: str, unit: str,
                maximum: float | None = None, bars: bool = False) -> str:
    """One number per session (label, value), oldest first, as bars or a line with dots."""
    present = [v for _, v in values if v is not None]
    if not present:
        return '<p class="empty">Nog geen gegevens.</p>'
    width, height, left, bottom, top = 420, 160, 36, 34, 12
    high = maximum if maximum is not None else float(math.ceil(max(present) * 1.1) or 1)
    plot_w, plot_h = width - left - 8, height - top - bottom
    n = len(values)
    slot = plot_w / n

    def x(i: int) -> float:
        return left + slot * (i + 0.5)

    def y(v: float) -> float:
        return top + (1 - v / high) * plot_h

    parts = [f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{left}" x2="{width - 8}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>',
             f'<text x="{left - 4}" y="{y(high) + 4:.1f}" text-anchor="end" class="axis">{high:.0f}</text>',
             f'<text x="{left - 4}" y="{y(0) + 4:.1f}" text-anchor="end" class="axis">0</text>',
             f'<text x="{left}" y="{height - 4}" class="axis unit">{escape(unit)}</text>']
    points = []
    for i, (label, value) in enumerate(values):
        if i % max(1, n // 8) == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 18}" text-anchor="middle" '
                         f'class="axis">{escape(label)}</text>')
        if value is None:
            continue
        if bars:
            w = max(2.0, slot * 0.7)
            parts.append(f'<rect class="value" x="{x(i) - w / 2:.1f}" y="{y(value):.1f}" width="{w:.1f}" '
                         f'height="{max(0.5, y(0) - y(value)):.1f}" fill="#2e8540">'
                         f'<title>{escape(label)}: {value:g}</title></rect>')
        else:
            points.append(f"{x(i):.1f},{y(value):.1f}")
            parts.append(f'<circle class="value" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="#1d4ed8">'
                         f'<title>{escape(label)}: {value:.1f}</title></circle>')
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#1d4ed8" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)
