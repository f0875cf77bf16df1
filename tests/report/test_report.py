"""The therapist's report, tested as a person sees it: rendered in headless Chromium (Debian's
package, which `make test` installs), driven by Playwright, screenshot taken and looked at."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess

import numpy as np
import pytest

from coach.adapters.store import Store
from coach.app.simulate import record_simulated_session as record_session
from coach.report.charts import reduce_to_columns
from coach.sim.patient import Behaviour
from tests.conftest import ROOT, RUGCOACH
from tests.helpers.browser import launch_browser

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast



@pytest.fixture(scope="module")
def records(tmp_path_factory, library):
    """Three sessions of one patient (one with a pushing patient, one holding the breath), one
    session without a patient: the state directory holding them."""
    state = tmp_path_factory.mktemp("state")
    store = Store(state)
    session = library.session(exercise="buiklig-a")
    for seed, behaviour in [(1, Behaviour(pushes=True)), (2, Behaviour(holds_breath=True)), (3, Behaviour())]:
        record_session(store, "P-0042", session, seed=seed, behaviour=behaviour)
    record_session(store, None, library.session(exercise="zit-a"), seed=4)
    store.close()
    return state


@pytest.fixture(scope="module")
def report(tmp_path_factory, records):
    """The report of `records` as `rugcoach report` writes it."""
    state = records
    out = tmp_path_factory.mktemp("report")
    result = subprocess.run(RUGCOACH + ["report", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, STATE_DIRECTORY=str(state)))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def open_page(browser, path, width=1000):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems = []
    page.on("console", lambda message: problems.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", lambda request: problems.append(f"fetched {request.url}")
            if not request.url.startswith("file://") else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def ink(png: bytes) -> float:
    """The share of pixels that are not (nearly) white in a PNG screenshot."""
    import io
    import struct
    import zlib
    data = io.BytesIO(png)
    assert data.read(8) == b"\x89PNG\r\n\x1a\n"
    width = height = 0
    idat = b""
    while True:
        length, kind = struct.unpack(">I4s", data.read(8))
        body = data.read(length)
        data.read(4)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.int16)
    previous = np.zeros(stride, dtype=np.int16)
    for y in range(height):  # undo the PNG row filters
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int16)
        if kind == 0:
            out = line
        elif kind == 2:
            out = (line + previous) % 256
        else:
            out = np.zeros(stride, dtype=np.int16)
            for x in range(stride):
                left = out[x - channels] if x >= channels else 0
                up = previous[x]
                upper_left = previous[x - channels] if x >= channels else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + up) // 2
                else:
                    p = left + up - upper_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                    predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                out[x] = (line[x] + predictor) % 256
        pixels[y] = out
        previous = out
    rgb = pixels.reshape(height, width, channels)[:, :, :3]
    return float(np.mean(rgb.min(axis=2) < 230))


def test_the_report_loads_without_errors_and_its_charts_are_drawn(report, browser, tmp_path):
    page, problems = open_page(browser, report / "P-0042.html")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert problems == []
    assert "Patiënt P-0042" in page.title()
    charts = page.locator("svg.chart")
    trace_charts = page.locator("details[open] svg.chart.trace")
    assert trace_charts.count() == 3 and page.locator("svg.chart.trend").count() == 2
    for i in range(charts.count()):
        chart = charts.nth(i)
        if not chart.is_visible():
            continue
        box = chart.bounding_box()
        assert box["width"] > 300 and box["height"] > 100, box
        assert ink(chart.screenshot()) > 0.02, f"chart {i} is blank"
    # what the therapist reads: the repetitions shaded by verdict, the bands, the corrections
    assert page.locator("svg.trace rect.rep").count() == 45
    assert page.locator("svg.trace rect.band").count() == 45
    assert page.locator("svg.trace line.correction").count() >= 2
    kinds = page.locator("table.compensations").all_inner_texts()
    assert any("persen" in text for text in kinds) and any("adem ingehouden" in text for text in kinds)
    assert page.locator("table.reps tr").count() == 45 + 3
    assert "criteria" in page.inner_text("body")


def test_the_report_reads_on_a_phone(report, browser, tmp_path):
    page, problems = open_page(browser, report / "P-0042.html", width=390)
    assert problems == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, "no sideways scrolling"
    chart = page.locator("svg.chart.trace").first
    assert chart.bounding_box()["width"] <= 390 and ink(chart.screenshot()) > 0.02


def test_the_index_links_every_patient_and_the_sessions_without_one(report, browser):
    page, problems = open_page(browser, report / "index.html")
    assert problems == []
    links = page.locator("a").all_inner_texts()
    assert links == ["P-0042", "zonder patiënt"]
    page.click("text=zonder patiënt")
    assert page.locator("svg.chart.trace").count() == 1


def test_the_repetitions_are_exported_as_csv(report):
    rows = list(csv.DictReader((report / "herhalingen-P-0042.csv").open(encoding="utf-8")))
    assert len(rows) == 45 and {r["verdict"] for r in rows} <= {"ok", "too_weak", "too_strong", "pushing", "not_held"}
    assert all(r["patient"] == "P-0042" and float(r["end_s"]) > float(r["start_s"]) for r in rows)


def test_a_long_trace_is_drawn_with_every_peak_but_few_points():
    t = np.arange(0, 3600, 0.01)
    v = 70 + np.sin(t)
    v[123_456] = 120.0  # one spike in an hour at 100 Hz
    points = reduce_to_columns(list(zip(t.tolist(), v.tolist())), 0.0, 3600.0, 846)
    assert len(points) <= 4 * 846 and max(p[1] for p in points) == 120.0


def test_the_clinics_report_records_give_the_same_page_byte_for_byte(records, tmp_path):
    """The clinic store keeps each session's report record (its trace summarised: each
    repetition's baseline, the chart's drawing of the trace) so a report of every room reads no
    trace; the page from those, through JSON as the store keeps them, is the page from the whole
    records."""
    from coach.clinic.sessions import RecordsView, finished_sessions, report_record, session_record, with_rebuilt
    from coach.report.build import patient_page, repetitions_csv

    store = Store.reader(records)
    whole = [session_record(store, s["uid"]) for s in finished_sessions(store)]
    kept = [json.loads(json.dumps(report_record(record))) for record in whole]
    assert all(len(r["trace"]) > 4 * 846 for r in whole), "long enough to be reduced for the chart"
    assert len(json.dumps(kept)) < len(json.dumps(whole)) / 5
    made_at = re.compile(r"Gemaakt door RugCoach op [0-9: -]+\.")
    for patient in ("P-0042", None):
        from_store = patient_page(store, patient, "Mw. Jansen")
        from_kept = patient_page(RecordsView(kept), patient, "Mw. Jansen")
        rebuilt = with_rebuilt(whole, tmp_path, "rebuilt-", lambda s, who=patient: patient_page(s, who, "Mw. Jansen"))
        assert made_at.sub("", from_kept) == made_at.sub("", from_store) == made_at.sub("", rebuilt)
        assert from_kept.count('<svg class="chart trace"') == len(store.sessions(patient, anonymous=patient is None))
        assert repetitions_csv(RecordsView(kept), patient) == repetitions_csv(store, patient)
    store.close()


def test_the_totals_count_only_sessions_with_a_repetition(tmp_path):
    """A session stopped before its first repetition is listed as such, not counted."""
    from coach.adapters.store import Store
    from coach.report.build import patient_page

    store = Store(tmp_path)
    trained = store.begin_session("P-1", "demo", [{"id": "buiklig-a", "title": "Buiklig"}])
    for number in (1, 2):
        trained.hear({"type": "rep", "t": 20.0 * number, "exercise": "buiklig-a", "rep": number,
                      "start": 20.0 * number - 10, "end": 20.0 * number, "held_s": 8.0, "change": -9.0,
                      "verdict": "ok"})
    trained.finish("done", {"exercises": {"buiklig-a": {"total": 2, "ok": 2}}})
    store.begin_session("P-1", "demo", [{"id": "buiklig-a", "title": "Buiklig"}]).finish("stopped")
    page = patient_page(store, "P-1")
    assert "1 sessie, 2 herhalingen, 100% goed. Daarnaast 1 sessie zonder herhaling" in page, page[:600]
    assert "gestopt vóór de eerste herhaling" in page
