"""`rugcoach report`: the therapist's view of what the patient did, as self-contained HTML.

One page per patient (and one for sessions without a patient), an index, and each patient's
repetitions as CSV. Nothing on the pages is fetched: the charts are inline SVG, the style is
inline, and a Content-Security-Policy forbids loading anything, so a page opens the same on the
therapist's phone or PC, offline, and no data leaves with it. The pages are in Dutch, for the
therapist; the verdict and compensation names are the contract's, translated.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Protocol

from coach.adapters.store import Repetition, Store, check_patient_id
from coach.errors import UserError
from coach.report.charts import VERDICT_COLOURS, Span, draw_trace, trace_chart, trend_chart

VERDICTS_NL = {"ok": "goed", "too_weak": "te zwak", "too_strong": "te sterk", "pushing": "persen",
               "not_held": "niet vastgehouden"}
KINDS_NL = {"breath_hold": "adem ingehouden", "pushing": "persen", "pelvis_moved": "bekken bewogen",
            "leak": "lek in het kussen", "off_pbu": "van het kussen af", "not_inflated": "niet opgepompt",
            "too_weak": "te zwak", "too_strong": "te sterk", "not_held": "niet vastgehouden"}
STATUS_NL = {"done": "afgerond", "stopped": "gestopt", "interrupted": "onderbroken",
             "abandoned": "patiënt niet teruggekomen", "running": "bezig"}
CSV_COLUMNS = ["patient", "session", "date", "exercise", "rep", "start_s", "end_s", "held_s",
               "change_mmhg", "verdict"]
BASELINE_S = 2.0   # the band is drawn around the level just before the repetition

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:960px;
padding:12px;color:#111;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}
h3{font-size:1.05em}table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.chart{width:100%;height:auto;display:block;
background:#fff;border:1px solid #ddd;margin:.4em 0}.axis{font-size:11px;fill:#555}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:10px}
.met{background:#e7f5ea;border-left:5px solid #2e8540;padding:8px}
.notmet{background:#f6f6f6;border-left:5px solid #999;padding:8px}
.legend span{display:inline-block;margin-right:12px}.swatch{display:inline-block;width:12px;
height:12px;margin-right:4px;vertical-align:middle}details{margin:.6em 0}summary{cursor:pointer;
font-weight:600}.empty{color:#777}.scroll{overflow-x:auto;max-width:100%}
"""


class RecordReader(Protocol):
    """What a report reads: the box's records (Store), or the clinic's report records
    (coach/clinic/sessions.py's RecordsView). A session's trace is read with Store's `trace`,
    or its summary with a reader's `trace_summary` where it keeps them."""

    def sessions(self, patient: str | None = None, anonymous: bool = False) -> list[dict]: ...
    def repetitions(self, session: int) -> list[Repetition]: ...
    def corrections(self, session: int) -> list[dict]: ...
    def compensations(self, session: int) -> list[dict]: ...


def _nl(names: dict[str, str], key: str) -> str:
    """The Dutch name of a contract word, or the word itself when it has none."""
    return names.get(key, key)


def _date(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%d-%m-%Y %H:%M")
    except ValueError:
        return iso


def _short_date(iso: str | None) -> str:
    return _date(iso)[:5]


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}"
            f"<p class=\"empty\">Gemaakt door RugCoach op {datetime.now().strftime('%d-%m-%Y %H:%M')}. "
            "Deze pagina bevat gezondheidsgegevens: deel haar alleen met wie ze nodig heeft.</p>"
            "</body></html>\n")


def trace_summary(session: dict, reps: list, trace) -> dict:
    """All the report reads of a session's trace, as JSON: each repetition's baseline (the
    median level in the BASELINE_S before its start, or None where nothing was recorded), around
    which its target band is drawn as the analysis judges it, and the chart's drawing of the
    trace beside those bands (charts.draw_trace). Some 30 kB for 10 min, where the trace is
    1.2 MB: the clinic store keeps it beside each session, so a report of every room's
    sessions reads no trace and formats no point. `trace`: (t, mmhg, ...) rows in time order."""
    points = [(row[0], row[1]) for row in trace]
    times = [t for t, _ in points]
    baselines = []
    for rep in reps:
        window = points[bisect_left(times, rep.start - BASELINE_S):bisect_right(times, rep.start)]
        baselines.append([rep.start, statistics.median(v for _, v in window) if window else None])
    bands = [span.band for span in _spans(session, reps, dict(baselines)) if span.band]
    return {"baselines": baselines, "drawing": draw_trace(points, bands)}


def _trace_summary(store, session: dict, reps: list) -> dict:
    kept = getattr(store, "trace_summary", None)   # a reader that keeps them (the clinic's records)
    if kept is not None:
        return kept(session["id"])
    return trace_summary(session, reps, store.trace(session["id"]))


def _spans(session: dict, reps, baselines: dict[float, float | None]) -> list[Span]:
    """Each repetition with its target band, around the level just before it (as the analysis
    judges it: against the baseline just before the repetition)."""
    targets = {e["id"]: e.get("target") for e in session["exercises"]}
    spans = []
    for rep in reps:
        base = baselines.get(rep.start)
        target = targets.get(rep.exercise)
        band = None
        if base is not None and target:
            change = target["change"] if target["kind"] == "change" else 0.0
            band = (base + change - target["tolerance"], base + change + target["tolerance"])
        label = (f"{rep.exercise} herhaling {rep.rep}: {VERDICTS_NL.get(rep.verdict, rep.verdict)}, "
                 f"{rep.held_s:.1f} s vastgehouden, {rep.change:+.1f} mmHg")
        spans.append(Span(rep.start, rep.end, rep.verdict, band, label))
    return spans


def _legend() -> str:
    items = "".join(f'<span><i class="swatch" style="background:{colour};opacity:.5"></i>'
                    f"{VERDICTS_NL[verdict]}</span>" for verdict, colour in VERDICT_COLOURS.items())
    return (f'<p class="legend">{items}<span><i class="swatch" style="background:#1d4ed8;opacity:.4">'
            '</i>doelband</span><span><i class="swatch" style="background:#dc2626"></i>correctie</span></p>')


def _session_section(store: RecordReader, session: dict, reps: list, number: int, open_: bool) -> str:
    traced = _trace_summary(store, session, reps)
    corrections = store.corrections(session["id"])
    compensations = store.compensations(session["id"])
    good = sum(r.verdict == "ok" for r in reps)
    title = f"Sessie {number}: {_date(session['started'])}"
    measured = _calibration(session)
    summary = (f"{title} · {len(reps)} herhalingen, {good} goed · "
               f"{STATUS_NL.get(session['status'], session['status'])}") if reps else \
        f"{title} · {STATUS_NL.get(session['status'], session['status'])} vóór de eerste herhaling"
    chart = trace_chart(traced["drawing"], _spans(session, reps, dict(traced["baselines"])),
                        [(c["t"], _nl(KINDS_NL, c["kind"])) for c in corrections],
                        f"Drukverloop {title}")
    rows = "".join(
        f"<tr><td>{escape(r.exercise)}</td><td>{r.rep}</td><td>{r.start:.0f}</td><td>{r.held_s:.1f}</td>"
        f"<td>{r.change:+.1f}</td><td style=\"color:{VERDICT_COLOURS.get(r.verdict, '#111')}\">"
        f"{escape(_nl(VERDICTS_NL, r.verdict))}</td></tr>" for r in reps)
    table = ("<div class=\"scroll\"><table class=\"reps\"><tr><th>oefening</th><th>nr</th><th>start (s)</th>"
             "<th>vastgehouden (s)</th><th>verandering (mmHg)</th><th>oordeel</th></tr>"
             f"{rows}</table></div>") if reps else '<p class="empty">Geen herhalingen.</p>'
    counts = Counter(c["kind"] for c in compensations)
    corrected = Counter(c["kind"] for c in corrections)
    kinds = sorted(set(counts) | set(corrected))
    comp = ("<table class=\"compensations\"><tr><th>compensatie</th><th>gezien</th><th>gecorrigeerd</th></tr>"
            + "".join(f"<tr><td>{escape(_nl(KINDS_NL, k))}</td><td>{counts.get(k, 0)}</td>"
                      f"<td>{corrected.get(k, 0)}</td></tr>" for k in kinds)
            + "</table>") if kinds else '<p class="empty">Geen compensaties gezien.</p>'
    return (f'<details class="session"{" open" if open_ else ""}><summary>{escape(summary)}</summary>'
            f"{chart}{_voices(session)}{measured}{_breathing(session)}{table}"
            f"<h3>Compensaties en correcties</h3>{comp}</details>")


def _breathing(session: dict) -> str:
    """Where the breathing could not be followed, no breath-hold correction means nothing."""
    unseen = (session.get("summary") or {}).get("breathing_not_followed") or []
    if not unseen:
        return ""
    return (f'<p class="breathing">Ademhaling niet te volgen bij {escape(", ".join(unseen))}: de meter zag de '
            "ademhaling van deze patiënt niet, dus is daar niet op adem inhouden gelet. De patiënt kreeg wel "
            "de herinnering om door te ademen.</p>")


def _calibration(session: dict) -> str:
    """Which calibration the pressures were measured with (not known for sessions from before
    the records said it)."""
    summary = session.get("summary") or {}
    if "calibration" not in summary:
        return ""
    calibration = summary["calibration"]
    if not calibration:
        return '<p class="calibration">Drukmeter: niet gekalibreerd (de instelling van de fabriek).</p>'
    return (f'<p class="calibration">Drukmeter gekalibreerd op {escape(_date(calibration.get("date")))} '
            f'(nulpunt {calibration.get("zero", 0):.1f}, ijkpunt {calibration.get("span_mmhg", 0):g} mmHg).</p>')


def _voices(session: dict) -> str:
    """Which voice spoke: the recorded sentences of a voice pack, and synthesis for the rest."""
    voices = (session.get("summary") or {}).get("voices") or {}
    if not voices:
        return ""
    said = [f"{'opgenomen stem ' + name[5:] if name.startswith('pack ') else 'computerstem (' + name + ')'}: "
            f"{count} {'zin' if count == 1 else 'zinnen'}" for name, count in sorted(voices.items())]
    return f'<p class="voices">Stem: {escape("; ".join(said))}</p>'


def _trends(sessions: list[dict], reps_of: dict[int, list]) -> str:
    """Per exercise across sessions: good repetitions and the mean hold time."""
    per_exercise: dict[str, list[tuple[str, int | None, float | None]]] = {}
    titles: dict[str, str] = {}
    for session in sessions:
        for exercise in session["exercises"]:
            titles.setdefault(exercise["id"], exercise.get("title", exercise["id"]))
        reps = reps_of[session["id"]] if session["exercises"] else []
        label = _short_date(session["started"])
        by_exercise: dict[str, list] = {}
        for rep in reps:
            by_exercise.setdefault(rep.exercise, []).append(rep)
        if not reps and session["summary"]:  # sessions taken in from the first releases' records
            for exercise_id, counts in session["summary"].get("exercises", {}).items():
                per_exercise.setdefault(exercise_id, []).append((label, counts.get("ok"), None))
        for exercise_id, items in by_exercise.items():
            per_exercise.setdefault(exercise_id, []).append(
                (label, sum(r.verdict == "ok" for r in items), statistics.fmean(r.held_s for r in items)))
    if not per_exercise:
        return '<p class="empty">Nog geen herhalingen.</p>'
    out = []
    for exercise_id, series in per_exercise.items():
        title = titles.get(exercise_id, exercise_id)
        out.append(f"<h3>{escape(exercise_id)}: {escape(title)}</h3><div class=\"pair\">"
                   + trend_chart([(label, good) for label, good, _ in series],
                                 f"Goede herhalingen per sessie, {exercise_id}", "goede herhalingen",
                                 bars=True)
                   + trend_chart([(label, hold) for label, _, hold in series],
                                 f"Gemiddelde houdtijd per sessie, {exercise_id}", "gem. houdtijd (s)")
                   + "</div>")
    return "".join(out)


def _criteria(sessions: list[dict]) -> str:
    finished = [s for s in sessions if s["status"] == "done" and s["criteria_met"]]
    if not finished:
        return ('<p class="notmet">Nog geen afgeronde sessies om de criteria voor de volgende fase '
                'aan te toetsen.</p>')
    latest = finished[-1]["criteria_met"]
    lines = []
    for phase, met in sorted(latest.items()):
        if met:
            lines.append(f'<p class="met"><strong>Fase {escape(phase)}: de criteria om door te gaan '
                         "naar de volgende fase zijn gehaald.</strong> U beslist of de patiënt verder gaat.</p>")
        else:
            lines.append(f'<p class="notmet">Fase {escape(phase)}: de criteria voor de volgende fase '
                         "zijn nog niet gehaald.</p>")
    return "".join(lines)


def patient_page(store: RecordReader, patient: str | None, name: str | None = None) -> str:
    sessions = store.sessions(patient, anonymous=patient is None)
    who = f"Patiënt {patient}" + (f" ({name})" if name else "") if patient else "Sessies zonder patiënt"
    reps_of = {session["id"]: store.repetitions(session["id"]) for session in sessions}  # read once
    sections = [_session_section(store, session, reps_of[session["id"]], number,
                                 open_=number > len(sessions) - 3)
                for number, session in reversed(list(enumerate(sessions, 1)))]
    reps_total = sum(len(reps) for reps in reps_of.values())
    good_total = sum(rep.verdict == "ok" for reps in reps_of.values() for rep in reps)
    share = f"{round(100 * good_total / reps_total)}%" if reps_total else "-"
    csv_link = f'<a href="{escape(csv_name(patient))}">alle herhalingen als CSV</a>'
    # the totals count the sessions the patient trained in: one stopped before its first
    # repetition is listed below as such, not counted as a session
    trained = [session for session in sessions
               if reps_of[session["id"]] or (session["summary"] or {}).get("exercises")]
    empty = len(sessions) - len(trained)
    empty_note = (f" Daarnaast {empty} {'sessie' if empty == 1 else 'sessies'} zonder herhaling "
                  "(gestopt of onderbroken vóór de eerste).") if empty else ""
    body = (f"<h1>RugCoach: {escape(who)}</h1>"
            f"<p>{len(trained)} {'sessie' if len(trained) == 1 else 'sessies'}, {reps_total} herhalingen, "
            f"{share} goed.{empty_note} {csv_link}.</p>"
            f"<h2>Volgende fase</h2>{_criteria(sessions)}"
            f"<h2>Verloop over de sessies</h2>{_trends(trained, reps_of)}"
            f"<h2>Sessies (nieuwste eerst)</h2>{_legend()}{''.join(sections)}")
    return _page(f"RugCoach – {who}", body)


def csv_name(patient: str | None) -> str:
    return f"herhalingen-{patient or 'zonder-patient'}.csv"


def page_name(patient: str | None) -> str:
    return f"{patient or 'zonder-patient'}.html"


def repetitions_csv(store: RecordReader, patient: str | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for session in store.sessions(patient, anonymous=patient is None):
        for r in store.repetitions(session["id"]):
            writer.writerow([patient or "", session["id"], session["started"], r.exercise, r.rep,
                             f"{r.start:.3f}", f"{r.end:.3f}", f"{r.held_s:.2f}", f"{r.change:.2f}", r.verdict])
    return out.getvalue()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_reports(store: Store, out: Path, patient: str | None = None) -> Path:
    """Write the pages and CSV files into `out` (0700); returns the page to open first."""
    patients = store.patients()
    if patient is not None:
        check_patient_id(patient)
        patients = [p for p in patients if p["id"] == patient]
        if not patients:
            raise UserError(f"no patient '{patient}' in the records (see 'rugcoach report' for all)",
                            exit_code=2)
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        targets = [(p["id"], p["name"]) for p in patients]
        if patient is None and store.sessions(None, anonymous=True):
            targets.append((None, None))
        for who, name in targets:
            _write_private(out / page_name(who), patient_page(store, who, name))
            _write_private(out / csv_name(who), repetitions_csv(store, who))
        if patient is not None:
            return out / page_name(patient)
        links = "".join(
            f'<li><a href="{escape(page_name(who))}">{escape(who or "zonder patiënt")}</a>'
            f'{" (" + escape(name) + ")" if name else ""}: '
            f"{len(store.sessions(who, anonymous=who is None))} sessies</li>" for who, name in targets)
        listing = links or "<li>Nog geen sessies.</li>"
        _write_private(out / "index.html", _page("RugCoach – rapport", f"<h1>RugCoach: rapport</h1><ul>{listing}</ul>"))
    except OSError as exc:
        raise UserError(f"cannot write the report to '{out.resolve()}': {exc.strerror}; give a folder you "
                        "can write with --out, e.g. --out /tmp/rapport", exit_code=1) from None
    return out / "index.html"
