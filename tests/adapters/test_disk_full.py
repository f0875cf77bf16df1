"""A full disk is a state, not a crash: the records, the events file and the trace keep in memory
what a real ENOSPC refused (a small tmpfs, filled to the last byte), and write it when space
returns: nothing lost, nothing written twice."""

from __future__ import annotations

import json
import sqlite3

import pytest

from coach.adapters.files import EventWriter, TraceWriter, read_trace
from coach.adapters.store import Store
from coach.errors import UserError
from tests.helpers.full_disk import fill, small_filesystem


@pytest.fixture
def disk(tmp_path):
    with small_filesystem(tmp_path / "card", "4m") as directory:
        yield directory


def rep_event(t: float, number: int) -> dict:
    return {"type": "rep", "t": t, "exercise": "ex1", "rep": number, "start": t - 6, "end": t,
            "held_s": 5.0, "change": 10.0, "verdict": "ok"}


def test_the_records_wait_out_a_full_disk_and_lose_nothing(disk):
    store = Store(disk)
    recorder = store.begin_session("P-0042", "demo", [{"id": "ex1"}])
    for i in range(200):
        recorder.write(i * 0.04, 40.0, "")
    recorder.hear(rep_event(8.0, 1))
    filler = fill(disk)
    # the session goes on for the patient: samples, a correction, two repetitions, the end
    for i in range(200, 2000):
        if store.full and i < 600:   # the space set aside was given up: it is taken too
            fill(disk)
        recorder.write(i * 0.04, 40.0 + (i % 7) * 0.1, "relax" if i == 1999 else "")
        if i == 600:
            recorder.hear({"type": "correction", "t": i * 0.04, "kind": "too_weak"})
        if i in (900, 1500):
            recorder.hear(rep_event(i * 0.04, 2 if i == 900 else 3))
    recorder.finish("done", {"repetitions": {"ex1": 3}})
    assert store.full and store.waiting == [recorder], "nothing is lost: it waits in memory"
    assert store.waiting_counts()["repetitions"] >= 1
    assert not store.retry(force=True), "still full: it still waits"
    filler.unlink()
    assert store.retry(force=True) and not store.full and not store.waiting
    store.close()

    again = Store.reader(disk)
    [session] = again.sessions("P-0042")
    assert session["status"] == "done" and session["summary"] == {"repetitions": {"ex1": 3}}
    assert [r.rep for r in again.repetitions(session["id"])] == [1, 2, 3], "each once, in order"
    assert [c["kind"] for c in again.corrections(session["id"])] == ["too_weak"]
    trace = again.trace(session["id"])
    assert len(trace) == 2000 and trace[-1][2] == "relax", "every sample, once"
    assert again.integrity() == "ok"


def test_a_session_begun_on_a_full_disk_gets_its_record_when_space_returns(disk):
    store = Store(disk)
    store.reserve.give_up()
    filler = fill(disk)
    recorder = store.begin_session("P-7", "demo", [])
    assert recorder.id is None, "the session does not wait for its row"
    for i in range(100):
        recorder.write(i * 0.04, 30.0)
    recorder.hear(rep_event(3.0, 1))
    recorder.finish("stopped")
    filler.unlink()
    assert store.retry(force=True)
    assert recorder.id is not None
    [session] = store.sessions("P-7")
    assert session["status"] == "stopped" and len(store.repetitions(session["id"])) == 1
    store.close()


def test_a_forgotten_patient_is_never_written_back_from_memory(disk):
    store = Store(disk)
    store.begin_session("P-other", "demo", []).finish("done")
    store.reserve.give_up()
    filler = fill(disk)
    recorder = store.begin_session("P-gone", "demo", [])
    recorder.hear(rep_event(3.0, 1))
    recorder.finish("done")
    store.drop_waiting("P-gone")
    filler.unlink()
    assert store.retry(force=True)
    assert store.sessions("P-gone") == [] and {p["id"] for p in store.patients()} == {"P-other"}
    store.close()


def test_the_records_open_on_a_full_disk_and_name_the_interrupted_session(disk):
    store = Store(disk)
    recorder = store.begin_session("P-0042", "demo", [])
    recorder.hear(rep_event(8.0, 1))
    recorder.hear(rep_event(16.0, 2))
    store.db.close()   # a power cut: the session stays 'running'
    filler = fill(disk)
    reopened = Store(disk)   # opens in the space set aside, and marks the session there
    assert [(c["patient"], c["repetitions"]) for c in reopened.interrupted] == [("P-0042", 2)]
    assert [s["status"] for s in reopened.sessions("P-0042")] == ["interrupted"]
    reopened.close()
    # with no space set aside left either: a one-line refusal that says what it is (the unit
    # starts the coach again until there is space), not a damaged file
    store = Store(disk)
    store.db.close()
    fill(disk)
    with pytest.raises(UserError, match="the disk is full .* starts by itself") as refused:
        Store(disk)
    assert refused.value.exit_code == 75
    filler.unlink()
    assert Store(disk).interrupted == [], "named once: at the start after the cut"


def test_the_events_file_waits_out_a_full_disk_to_the_byte(disk):
    path = disk / "events.jsonl"
    path.write_text('{"type": "before"}\n')
    events = EventWriter(str(path), append=True, keep_when_full=True)
    events.write({"type": "state", "n": 0})
    filler = fill(disk)
    for n in range(1, 300):
        events.write({"type": "state", "n": n, "padding": "x" * 40})
    assert events.lines.full and events.lines.waiting
    filler.unlink()
    assert events.lines.flush() and not events.lines.full
    events.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"type": "before"}, "appended: what came before stays"
    assert [json.loads(line)["n"] for line in lines[1:]] == list(range(300)), "every line once, whole"


def test_without_keep_when_full_an_export_hears_of_a_full_disk_at_once(disk):
    fill(disk)
    events = EventWriter(str(disk / "export.jsonl"))
    with pytest.raises(OSError):
        events.write({"type": "state", "padding": "x" * 5000})


def test_the_trace_waits_out_a_full_disk(disk):
    path = disk / "trace.csv"
    trace = TraceWriter(str(path), keep_when_full=True)
    filler = fill(disk)
    for i in range(3000):
        trace.write(i * 0.02, 40.0)
    assert trace.lines.full
    filler.unlink()
    trace.close()
    rows = list(read_trace(path))
    assert [round(t, 2) for _line, t, _p, _c in rows] == [round(i * 0.02, 2) for i in range(3000)]


def test_a_full_disk_is_told_apart_from_a_damaged_file(disk):
    store = Store(disk)
    filler = fill(disk)
    with pytest.raises(sqlite3.OperationalError) as full:
        with store.transaction() as db:
            db.execute("CREATE TABLE big (x)")
            db.executemany("INSERT INTO big VALUES (?)", [(b"\0" * 4096,) for _ in range(2000)])
    from coach.adapters.state_files import disk_full
    assert disk_full(full.value)
    filler.unlink()
    store.close()
