"""A box of a clinic at work: a real daemon coaching a simulated patient (on a pty), its clinic
link running as its unit runs it. The other rooms see the session within 2 s; PostgreSQL is
stopped in the middle of it, and the session goes on to its end, kept on the box; the store comes
back and the session is there once, with its repetitions; a forget asked by another room while
this box is in session waits for the session's end and then erases the patient here too."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest

from coach.adapters.store import Store
from coach.clinic.console import erase_in_store
from coach.sim.postgres import ADMIN_PASSWORD, PostgresServer
from tests.app.test_box_survives import daemon_news, events_of
from tests.app.test_control import Box, wait_for
from tests.clinic.test_clinic_store import clinic
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow


def box_row(owner: str) -> dict:
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        row = db.execute("SELECT state, now() - last_seen FROM boxes").fetchone()
    return {**row[0], "ago": row[1].total_seconds()} if row else {}


def test_a_session_goes_on_with_the_store_away_and_arrives_once(tmp_path):
    pg = PostgresServer().start()
    box = Box(tmp_path, speed=4.0)
    state = tmp_path / "state"
    link = None
    try:
        owner = pg.create_database()
        clinic(tmp_path, "init", owner)
        secret = clinic(tmp_path, "add-box", "kamer1", "--url", owner).stdout.strip()
        state.mkdir(mode=0o700, exist_ok=True)
        (state / "settings.json").write_text(json.dumps({"name": "Kamer 1"}))
        clinic(state, "join", pg.url("rugcoach_kamer1"), "--secret-file", "-", secret=secret)
        client = box.start()
        # the clinic link as rugcoach-clinic.service runs it
        link_log = (tmp_path / "link.log").open("w")
        link = subprocess.Popen(RUGCOACH + ["clinic", "sync", "--socket", str(box.socket)], cwd=ROOT, env=box.env,
                                stdout=link_log, stderr=subprocess.STDOUT)
        assert wait_for(lambda: box_row(owner).get("state") == "armed", 30), box_row(owner)

        client.next_session(patient="P-0042", protocol="demo")
        client.start_session()
        assert wait_for(lambda: daemon_news(box.events, "session_started"), 30)
        seen = wait_for(lambda: (lambda row: row if row.get("state") == "in_session" and row.get("repetition")
                                 else None)(box_row(owner)), 60)
        assert seen and seen["patient"] == "P-0042" and seen["exercise"] == "buiklig-a" and seen["ago"] < 2, seen

        pg.stop()   # the practice's server goes down mid-session
        assert wait_for(lambda: daemon_news(box.events, "session_ended"), 300), "the session did not end"
        [ended] = daemon_news(box.events, "session_ended")
        assert ended["outcome"] == "done", "the patient finished, the store away"
        reps = [e for e in events_of(box.events) if e["type"] == "rep"]
        status = clinic(state, "status")
        assert wait_for(lambda: "1 session(s)" in clinic(state, "status").stdout, 30), status.stdout

        pg.start()
        assert wait_for(lambda: "0 session(s)" in clinic(state, "status").stdout, patience(60)), \
            (tmp_path / "link.log").read_text()
        with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
            [(record,)] = db.execute("SELECT record FROM sessions WHERE patient = 'P-0042'").fetchall()
        assert record["session"]["status"] == "done"
        assert [(r["exercise"], r["rep"]) for r in record["repetitions"]] == [(e["exercise"], e["rep"]) for e in reps]
        assert len(record["trace"]) > 100

        # another room forgets P-0042 while this box coaches P-0043: the erasure waits for the
        # session's end (the daemon owns the records), then the patient is gone here too
        client.next_session(patient="P-0043", protocol="demo")
        client.start_session()
        assert wait_for(lambda: len(daemon_news(box.events, "session_started")) == 2, 30)
        with psycopg.connect(owner, password=ADMIN_PASSWORD) as db, db.transaction():
            erase_in_store(db, "P-0042", "vergeten-elders")
        assert wait_for(lambda: len(daemon_news(box.events, "session_ended")) == 2, 300)

        def erased_here():
            store = Store.reader(state)
            try:
                return store.sessions("P-0042") == []
            finally:
                store.close()
        assert wait_for(erased_here, 60), (tmp_path / "link.log").read_text()
        assert wait_for(lambda: "0 session(s)" in clinic(state, "status").stdout, 60)
        with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
            patients = [p for (p,) in db.execute("SELECT patient FROM sessions")]
        assert patients == ["P-0043"], "the forgotten patient never came back"
        said = (tmp_path / "link.log").read_text()
        assert "Traceback" not in said and "cannot be reached" in said and "reached again" in said, said
    finally:
        if link is not None and link.poll() is None:
            link.terminate()
            link.wait(timeout=patience(10))
        box.close()
        pg.remove()
