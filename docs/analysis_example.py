"""Draw docs/analysis-example.svg: one simulated buiklig-a session, its pressure and its events.

    .venv/bin/python docs/analysis_example.py

Deterministic (a fixed seed); tests/test_docs.py checks the committed picture is current."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from coach.config.protocols import Library  # noqa: E402
from coach.core.coach import Coach, Hush, Play  # noqa: E402
from coach.core.protocol import Session  # noqa: E402
from coach.sim.patient import Behaviour, SimulatedPatient  # noqa: E402
from tests.conftest import estimated_duration  # noqa: E402

COLOURS = {"ok": "#4caf50", "too_weak": "#ff9800", "too_strong": "#ff9800", "pushing": "#f44336",
           "not_held": "#ff9800"}


def session_events():
    library = Library()
    exercise = library.exercise("buiklig-a").with_dose(repetitions=3)
    session = Session((exercise,), library.session(exercise="buiklig-a").phrases)
    coach = Coach(session, estimated_duration)
    patient = SimulatedPatient(session, seed=3, behaviour=Behaviour(holds_breath=True, pushes=True))
    samples, events = [], []

    def handle(outputs):
        for output in outputs:
            if not isinstance(output, (Play, Hush)):   # sound, not events
                event = output.as_dict()
                events.append(event)
                patient.hear(event)

    handle(coach.begin(0.0))
    t = 0.0
    while not coach.finished:
        t = round(t + 0.02, 3)
        value = round(patient.pressure(t), 2)
        samples.append((t, value))
        handle(coach.feed(t, value))
    return samples, events


def svg(samples, events, width=900, height=320) -> str:
    reps = [e for e in events if e["type"] == "rep"]
    t0, t1 = reps[0]["start"] - 12, reps[-1]["end"] + 6
    shown = [(t, p) for t, p in samples if t0 <= t <= t1]
    lo, hi = 50.0, 80.0
    left, right, top, bottom = 50, 10, 20, 40

    def x(t):
        return left + (t - t0) / (t1 - t0) * (width - left - right)

    def y(p):
        return top + (hi - min(max(p, lo), hi)) / (hi - lo) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for rep in reps:
        colour = COLOURS[rep["verdict"]]
        parts.append(f'<rect x="{x(rep["start"]):.1f}" y="{top}" width="{x(rep["end"]) - x(rep["start"]):.1f}" '
                     f'height="{height - top - bottom}" fill="{colour}" fill-opacity="0.12"/>')
        base = _baseline(shown, rep["start"])
        for level in (base - 15, base - 5):  # the target band: a drop of 5 to 15 mmHg
            parts.append(f'<line x1="{x(rep["start"]):.1f}" x2="{x(rep["end"]):.1f}" y1="{y(level):.1f}" '
                         f'y2="{y(level):.1f}" stroke="{colour}" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(rep["start"]) + 3:.1f}" y="{top + 12}" fill="{colour}">'
                     f'rep {rep["rep"]}: {rep["verdict"]}, {rep["held_s"]:.1f} s, {rep["change"]:+.1f} mmHg</text>')
    for comp in (e for e in events if e["type"] == "compensation"):
        parts.append(f'<rect x="{x(comp["start"]):.1f}" y="{height - bottom - 14}" '
                     f'width="{max(2.0, x(comp["end"]) - x(comp["start"])):.1f}" height="10" fill="#f44336" '
                     f'fill-opacity="0.6"/><text x="{x(comp["start"]):.1f}" y="{height - bottom - 17}" '
                     f'fill="#b71c1c">{comp["kind"]}</text>')
    for corr in (e for e in events if e["type"] == "correction"):
        parts.append(f'<path d="M{x(corr["t"]):.1f},{top + 16} l-4,-7 h8 z" fill="#1565c0"/>'
                     f'<text x="{x(corr["t"]) + 5:.1f}" y="{top + 28}" fill="#1565c0">{corr["kind"]}</text>')
    points = " ".join(f"{x(t):.1f},{y(p):.1f}" for t, p in shown[::5])
    parts.append(f'<polyline points="{points}" fill="none" stroke="#333" stroke-width="1"/>')
    for level in range(int(lo), int(hi) + 1, 10):
        parts.append(f'<text x="5" y="{y(level) + 4:.1f}">{level}</text>'
                     f'<line x1="{left - 4}" x2="{left}" y1="{y(level):.1f}" y2="{y(level):.1f}" stroke="#999"/>')
    for tick in range(int(t0) // 10 * 10 + 10, int(t1), 10):
        parts.append(f'<text x="{x(tick) - 8:.1f}" y="{height - 8}">{tick} s</text>')
    parts.append('<text x="5" y="12">mmHg</text></svg>')
    return "\n".join(parts) + "\n"


def _baseline(samples, start, seconds=8.0):
    before = [p for t, p in samples if start - seconds <= t < start]
    return sum(before) / len(before)


def main() -> None:
    samples, events = session_events()
    (HERE / "analysis-example.svg").write_text(svg(samples, events))
    interesting = [e for e in events if e["type"] in ("rep", "compensation", "correction")]
    (HERE / "analysis-example.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in interesting))


if __name__ == "__main__":
    main()
