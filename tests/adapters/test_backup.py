"""Backup and restore of the records: made while a session runs (SQLite's online backup),
restored on a fresh box with every repetition finished before it, and bad files refused before
anything is replaced."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import threading

import pytest

from coach.adapters.backup import check
from coach.adapters.store import DB_NAME, Store
from coach.app.simulate import record_simulated_session
from coach.sim.patient import SimulatedPatient
from coach.sim.pty_sensor import PtySensor
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

PROTOCOL = ROOT / "tests" / "data" / "e2e.yaml"


def rugcoach(state, *args, check_ok=True):
    result = subprocess.run(RUGCOACH + list(args), cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, STATE_DIRECTORY=str(state)), timeout=patience(120))
    if check_ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_a_backup_in_the_middle_of_a_session_restores_every_finished_repetition(tmp_path, library):
    state, fresh = tmp_path / "box", tmp_path / "new-box"
    session = library.session(protocol=str(PROTOCOL))
    patient = SimulatedPatient(session, seed=21, starts_pumping_at=1.0)
    sensor = PtySensor(patient, rate_hz=50, link=tmp_path / "pbu", speed=2.0)
    sensor.plug()
    daemon = subprocess.Popen(RUGCOACH + ["run", "--port", str(tmp_path / "pbu"), "--protocol", str(PROTOCOL),
                                          "--patient", "P-0007", "--audio", "none", "--events", "-",
                                          "--clock-events", "0.25", "--once"],
                              cwd=ROOT, env=dict(os.environ, STATE_DIRECTORY=str(state)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reps: list[dict] = []
    first = threading.Event()

    def listen():
        for line in daemon.stdout:
            event = json.loads(line)
            sensor.hear(event)
            if event["type"] == "rep":
                reps.append(event)
                first.set()

    threading.Thread(target=listen, daemon=True).start()
    sensor.start()
    try:
        assert first.wait(patience(120)), "no repetition came"
        before = len(reps)
        made = rugcoach(state, "backup", str(tmp_path / "backup.db"))   # the session goes on
        assert "The coach backed up" in made.stdout, "the daemon made it, beside the session"
        daemon.wait(timeout=patience(180))
    finally:
        sensor.stop()
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, daemon.stderr.read()
    assert len(reps) == 2
    restored = rugcoach(fresh, "restore", str(tmp_path / "backup.db"), "--socket", str(tmp_path / "none.sock"))
    assert "not running: restored" in restored.stdout
    new, old = Store(fresh), Store(state)
    try:
        sessions = new.sessions("P-0007")
        assert len(sessions) == 1 and new.integrity() == "ok"
        got = new.repetitions(sessions[0]["id"])
        assert len(got) >= before, "every repetition finished before the backup is back"
        assert got == old.repetitions(old.sessions("P-0007")[0]["id"])[:len(got)]
    finally:
        new.close()
        old.close()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_bad_file_is_refused_with_its_reason_and_nothing_is_replaced(tmp_path, library):
    state = tmp_path / "box"
    store = Store(state)
    record_simulated_session(store, "P-0001", library.session(exercise="buiklig-a"), seed=1)
    store.close()
    kept = digest(state / DB_NAME)
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("dit is geen database\n")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    good = tmp_path / "good.db"
    rugcoach(state, "backup", str(good))
    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = b"\xff" * 4096   # a page in the middle overwritten
    damaged.write_bytes(bytes(data))
    for bad, reason in ((not_sqlite, "not an SQLite database"), (other, "no RugCoach records"),
                        (damaged, ""), (tmp_path / "missing.db", "cannot read")):
        result = rugcoach(state, "restore", str(bad), "--socket", str(tmp_path / "none.sock"), check_ok=False)
        assert result.returncode == 1 and reason in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert digest(state / DB_NAME) == kept, "nothing was replaced"
    assert check(good)["repetitions"] > 0


def test_restore_refuses_while_a_coach_that_does_not_answer_runs(tmp_path, library):
    state = tmp_path / "box"
    store = Store(state)
    record_simulated_session(store, "P-0001", library.session(exercise="buiklig-a"), seed=1)
    store.close()
    good = tmp_path / "good.db"
    rugcoach(state, "backup", str(good), "--socket", str(tmp_path / "none.sock"))
    path = tmp_path / "live.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)   # accepts, never answers: a hung coach
    server.bind(str(path))
    server.listen(1)
    try:
        result = rugcoach(state, "restore", str(good), "--socket", str(path), check_ok=False)
    finally:
        server.close()
    assert result.returncode == 1 and "does not answer" in result.stderr and "stop it first" in result.stderr


def test_restore_refuses_while_a_process_has_the_records_open(tmp_path, library):
    state = tmp_path / "box"
    store = Store(state)
    record_simulated_session(store, "P-0001", library.session(exercise="buiklig-a"), seed=1)
    good = tmp_path / "good.db"
    rugcoach(state, "backup", str(good))
    holder = subprocess.Popen(["python3", "-c", f"import sqlite3, time; db = sqlite3.connect('{state / DB_NAME}'); "
                               "db.execute('SELECT 1').fetchone(); print('open', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        store.close()
        result = rugcoach(state, "restore", str(good), "--socket", str(tmp_path / "none.sock"), check_ok=False)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and f"process {holder.pid}" in result.stderr, result.stderr
    restored = rugcoach(state, "restore", str(good), "--socket", str(tmp_path / "none.sock"))
    assert "not running: restored" in restored.stdout and (state / (DB_NAME + ".before-restore")).exists()
