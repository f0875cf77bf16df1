"""The right to erasure, proven on the files themselves: a patient made in the console with a
name and a note, with sessions, a programme, a report viewed and an export left in the state
directory, is forgotten (from the console, from the shell while the coach runs, and from the
shell while it does not). Afterwards no file in the state directory holds the name or the note,
no file and no file name holds the pseudonym (the access log keeps its entries under a
reference), and every column of every table of every database is scanned as well. Another
patient stays whole."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from coach.adapters.store import Store
from coach.app.simulate import record_simulated_session
from tests.conftest import ROOT, RUGCOACH
from tests.console.conftest import ADMIN, ConsoleUnderTest
from tests.console.test_console_process import Daemon, wait_for
from tests.patience import patience

pytestmark = pytest.mark.slow

PSEUDONYM, NAME, NOTE = "P-0042", "Jan de Vries", "knie links, na operatie"
KEPT = ("P-0043", "Els Bakker", "schouder")


def traces_of(state: Path, *needles: str) -> list[str]:
    """Where any of `needles` is still found: file names, raw bytes (databases, their -wal and
    -shm, exports, caches), and every text column of every table of every SQLite file."""
    found = []
    for path in sorted(state.rglob("*")):
        if any(needle in part for part in path.relative_to(state).parts for needle in needles):
            found.append(f"name: {path}")
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"bytes of {path.name}: {needle!r}" for needle in needles if needle.encode() in data]
        if data[:16] == b"SQLite format 3\x00" and not path.name.endswith(("-wal", "-shm")):
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                    for row in db.execute(f'SELECT * FROM "{table}"'):
                        for value in row:
                            if isinstance(value, str) and any(needle in value for needle in needles):
                                found.append(f"{path.name}:{table}: {value[:60]!r}")
            finally:
                db.close()
    return found


def rugcoach(state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(RUGCOACH + list(args), cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, STATE_DIRECTORY=str(state)), timeout=patience(120))


@pytest.mark.parametrize("how", ["console", "shell, the coach running", "shell, the coach stopped"])
def test_forget_leaves_no_trace_of_the_patient_in_any_file(tmp_path, library, how):
    sock = tmp_path / "rugcoach.sock"
    daemon = Daemon(tmp_path, library, sock, pumps=False)
    store = Store(daemon.state)
    for seed in (1, 2):
        record_simulated_session(store, PSEUDONYM, library.session(exercise="buiklig-a"), seed=seed)
    record_simulated_session(store, KEPT[0], library.session(exercise="buiklig-a"), seed=3)
    store.close()
    console = ConsoleUnderTest(daemon.state, sock).start()
    try:
        daemon.start(once=False)
        assert daemon.started.wait(patience(60)), "the daemon never got armed"
        wait_for(lambda: console.console.link.state == "up", "up")
        admin = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": ADMIN[0], "password": ADMIN[1]}
        assert admin.post("/api/setup", claim).status == 200
        admin.csrf = admin.get("/api/me").json["csrf"]
        for pseudonym, name, note in ((PSEUDONYM, NAME, NOTE), KEPT):
            assert admin.post("/api/patients", {"pseudonym": pseudonym, "name": name, "note": note}).status == 200
            programme = admin.post(f"/api/patients/{pseudonym}/programme",
                                   {"exercises": [{"exercise": "buiklig-a", "repetitions": 4}]})
            assert programme.status == 200, programme.body
            assert admin.get(f"/api/patients/{pseudonym}/report").status == 200
        assert admin.post(f"/api/patients/{PSEUDONYM}/export", {"my_password": ADMIN[1]}).status == 200
        exported = rugcoach(daemon.state, "export", "--patient", PSEUDONYM, "--out",
                            str(daemon.state / f"rugcoach-export-{PSEUDONYM}"))
        assert exported.returncode == 0, exported.stderr
        assert traces_of(daemon.state, NAME, NOTE), "the test sees a name where there is one"

        if how == "console":
            # a therapist may not erase (the guide: admins only), an admin may
            assert admin.post("/api/accounts", {"name": "bert", "password": "bert-zijn-wachtwoord",
                                                "role": "therapist", "my_password": ADMIN[1]}).status == 200
            bert = console.client()
            assert bert.login("bert", "bert-zijn-wachtwoord").status == 200
            refused = bert.post(f"/api/patients/{PSEUDONYM}/forget",
                                {"confirm": PSEUDONYM, "my_password": "bert-zijn-wachtwoord"})
            assert refused.status == 403 and refused.json["code"] == "role"
            reply = admin.post(f"/api/patients/{PSEUDONYM}/forget", {"confirm": PSEUDONYM, "my_password": ADMIN[1]})
            assert reply.status == 200 and reply.json["sessions"] == 2, reply.body
            assert admin.get("/api/patients").json["patients"][0]["pseudonym"] == KEPT[0]
        elif how == "shell, the coach running":
            result = rugcoach(daemon.state, "forget", "--patient", PSEUDONYM, "--yes", "--socket", str(sock))
            assert result.returncode == 0 and "The coach removed" in result.stderr, result.stderr
            assert [p["pseudonym"] for p in admin.get("/api/patients").json["patients"]] == [KEPT[0]]
        else:
            console.stop()
            daemon.stop()
            result = rugcoach(daemon.state, "forget", "--patient", PSEUDONYM, "--yes", "--socket", str(sock))
            assert result.returncode == 0 and "not running" in result.stderr, result.stderr
        # the state of a running box is what is checked: nothing waits for a process to end
        left = traces_of(daemon.state, PSEUDONYM, NAME, NOTE)
        assert left == [], left
        log = sqlite3.connect(daemon.state / "console.db")
        entries = log.execute("SELECT action, patient, outcome FROM access_log").fetchall()
        log.close()
        forgotten = [patient for action, patient, outcome in entries if action == "forget" and outcome.startswith("ok")]
        assert len(forgotten) == 1 and forgotten[0].startswith("vergeten-"), entries
        assert ("view_report", forgotten[0], "ok") in entries, "the log keeps its entries, under the reference"
    finally:
        console.stop()
        daemon.close()
    kept = Store.reader(daemon.state)
    try:
        assert len(kept.sessions(KEPT[0])) == 1 and kept.sessions(PSEUDONYM) == []
    finally:
        kept.close()
    assert traces_of(daemon.state, *KEPT[1:]), "the other patient's name and note are still there"
