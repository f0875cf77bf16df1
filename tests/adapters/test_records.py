"""The session records (SQLite): durable at every repetition, migrated forward, private, erasable."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import time

import pytest

from coach.adapters.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION, Store
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast


def run_simulated(state, *extra, seed=1, check=True, **kwargs):
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    result = subprocess.run(RUGCOACH + ["run", "--simulate", "--audio", "none", "--seed", str(seed), *extra],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=patience(120), **kwargs)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_a_session_is_recorded_with_everything_the_therapist_needs(tmp_path):
    events = tmp_path / "events.jsonl"
    run_simulated(tmp_path, "--protocol", "demo", "--patient", "P-7", "--events", str(events))
    told = [json.loads(line) for line in events.read_text().splitlines()]
    store = Store(tmp_path)
    [session] = store.sessions("P-7")
    assert session["status"] == "done" and session["ended"] and session["protocol"] == "demo"
    stored = store.repetitions(session["id"])
    live = [e for e in told if e["type"] == "rep"]
    assert [(r.exercise, r.rep, r.start, r.end, r.held_s, r.change, r.verdict) for r in stored] == \
        [(e["exercise"], e["rep"], e["start"], e["end"], e["held_s"], e["change"], e["verdict"]) for e in live]
    assert len(store.corrections(session["id"])) == sum(e["type"] == "correction" for e in told)
    assert len(store.compensations(session["id"])) == sum(e["type"] == "compensation" for e in told)
    trace = store.trace(session["id"])
    assert trace[0][0] < 0.1 and trace[-1][0] > stored[-1].end  # the whole session, from its start
    assert [cue for _, _, cue in trace if cue].count("contract") == len(stored)
    assert session["summary"]["exercises"]["buiklig-a"]["reps"] == len(stored)
    assert store.integrity() == "ok"


def test_progress_over_sessions_is_kept_and_the_therapist_is_told(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("progress:\n  good_fraction: 0.8\n  sessions_in_a_row: 2\n")
    results = [run_simulated(tmp_path, "--protocol", "demo", "--patient", "P-0042", "--config", str(config),
                             seed=seed) for seed in (1, 2)]
    sessions = Store(tmp_path).sessions("P-0042")
    assert [s["summary"]["exercises"]["buiklig-a"]["ok"] for s in sessions] == [2, 2]
    assert [s["criteria_met"]["1"] for s in sessions] == [False, True]
    assert "criteria to move on from phase 1 are met" in results[1].stderr
    said = subprocess.run(RUGCOACH + ["run", "--simulate", "--protocol", "demo", "--audio", "none",
                                      "--events", "-", "--seed", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=patience(120)).stdout
    assert "fase" not in said.lower(), "the patient is never told"


def test_records_are_private(tmp_path):
    state = tmp_path / "state"
    run_simulated(state, "--protocol", "demo", "--patient", "P-1")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = list(state.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), \
        [(f.name, oct(f.stat().st_mode)) for f in files]


def test_a_patient_id_that_is_a_path_is_refused(tmp_path):
    result = run_simulated(tmp_path, "--protocol", "demo", "--patient", "../etc", check=False)
    assert result.returncode == 2 and "not allowed" in result.stderr and "Traceback" not in result.stderr


def test_sigkill_at_random_moments_never_loses_a_finished_repetition(tmp_path):
    """The daemon is killed with SIGKILL mid-session, many times: every repetition it announced
    (its rep event, written after the commit) is in the database, and the database is sound."""
    rng = random.Random(7)
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    announced: list[dict] = []
    killed_mid_session = 0
    for attempt in range(14):
        events = tmp_path / f"events-{attempt}.jsonl"
        process = subprocess.Popen(RUGCOACH + ["run", "--simulate", "--audio", "none", "--exercise", "buiklig-a",
                                               "--patient", "P-kill", "--seed", str(attempt), "--events", str(events)],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill after a random number of finished repetitions (0 to 13 of the 15), plus a random
        # number of events after it (0 to 30: anywhere from just after a commit to mid-hold):
        # timed by the session's own progress, never by the wall clock, so the kill lands
        # mid-session on a fast machine as on a slow one (the last two repetitions are some
        # 50 events further on).
        after_reps, after_events = rng.randrange(0, 14), rng.randrange(0, 31)
        started = time.monotonic()
        mark = None
        while time.monotonic() - started < 120 and process.poll() is None:
            lines = events.read_text().splitlines() if events.exists() else []
            if mark is None and sum('"type": "rep"' in line for line in lines) >= after_reps:
                mark = len(lines)
            if mark is not None and len(lines) >= mark + after_events:
                break
            time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
        process.wait()
        lines = events.read_text().splitlines()
        done = any('"cue": "done"' in line for line in lines)
        killed_mid_session += not done
        announced += [json.loads(line) for line in lines
                      if line.endswith("}") and '"type": "rep"' in line]
        # the file can be opened, recovered from its WAL, and is consistent after every kill
        db = sqlite3.connect(tmp_path / DB_NAME)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    store = Store(tmp_path)  # marks the killed sessions 'interrupted'
    stored = {(r.exercise, r.rep, r.start, r.verdict) for s in store.sessions("P-kill")
              for r in store.repetitions(s["id"])}
    assert announced, "no repetition finished before the kills: the test proved nothing"
    missing = [e for e in announced if (e["exercise"], e["rep"], e["start"], e["verdict"]) not in stored]
    assert not missing
    assert killed_mid_session >= 10, "most kills must land mid-session"
    statuses = [s["status"] for s in store.sessions("P-kill")]
    assert set(statuses) <= {"done", "interrupted"} and "interrupted" in statuses  # none left 'running'
    print(f"\n  {len(announced)} repetitions announced over {killed_mid_session} killed sessions, all stored")


def test_an_update_migrates_old_records_and_loses_nothing(tmp_path):
    """A database of schema version 1, and JSON-lines records of the first release, are moved to
    the current schema: every session and repetition is still there, with summaries."""
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.executescript(MIGRATIONS[0][0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO patients VALUES ('P-old', NULL, '2026-01-05T10:00:00+00:00')")
    db.execute("INSERT INTO sessions (patient, started, ended, status, protocol, exercises) VALUES "
               "('P-old', '2026-01-05T10:00:00+00:00', '2026-01-05T10:10:00+00:00', 'done', 'fase1', ?)",
               (json.dumps([{"id": "buiklig-a", "phase": 1}]),))
    for n, verdict in enumerate(["ok", "ok", "too_weak"], 1):
        db.execute("INSERT INTO repetitions VALUES (1, ?, 'buiklig-a', ?, ?, ?, 15, -9, ?)",
                   (n * 30.0, n, n * 30.0 - 20, n * 30.0, verdict))
    db.close()
    legacy = tmp_path / "patients" / "P-older"
    legacy.mkdir(parents=True)
    (legacy / "sessions.jsonl").write_text(json.dumps({
        "date": "2025-12-01T09:00:00+00:00", "patient": "P-older",
        "exercises": {"buiklig-a": {"reps": 10, "ok": 9}}, "good_fraction": {"1": 0.9},
        "next_phase_criteria_met": {"1": False}}) + "\n" + '{"date": "2025-12-02T09:0')  # cut off

    store = Store(tmp_path)
    assert store.version == SCHEMA_VERSION == 4
    [old] = store.sessions("P-old")
    assert [r.verdict for r in store.repetitions(old["id"])] == ["ok", "ok", "too_weak"]
    assert old["summary"] == {"exercises": {"buiklig-a": {"reps": 3, "ok": 2}}, "good_fraction": {"1": 0.667}}
    [older] = store.sessions("P-older")
    assert older["summary"]["good_fraction"] == {"1": 0.9} and older["criteria_met"] == {"1": False}
    assert not (legacy / "sessions.jsonl").exists() and (legacy / "sessions.jsonl.imported").exists()
    # every session has its own id now (version 4): what the clinic store knows it by
    uids = [uid for (uid,) in store.db.execute("SELECT uid FROM sessions")]
    assert len(uids) == 2 and len(set(uids)) == 2 and all(len(uid) == 36 for uid in uids), uids
    assert store.integrity() == "ok"
    store.close()
    assert Store(tmp_path).version == 4  # opening again changes nothing


# The console's tables as a box before console.db kept them in the records (schema 2).
LEGACY_CONSOLE = """
CREATE TABLE accounts (name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created TEXT NOT NULL,
                       totp_secret TEXT, totp_last INTEGER);
CREATE TABLE access_log (id INTEGER PRIMARY KEY, at TEXT NOT NULL, account TEXT, address TEXT, action TEXT NOT NULL,
                         patient TEXT, outcome TEXT NOT NULL);
CREATE TABLE console_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE console_patients (pseudonym TEXT PRIMARY KEY, name TEXT, note TEXT, programme TEXT, updated TEXT NOT NULL);
INSERT INTO accounts VALUES ('anna', 'admin', 'scrypt$16384$8$1$00$00', '2026-01-01T00:00:00Z', NULL, NULL);
INSERT INTO access_log VALUES (1, '2026-01-02T00:00:00Z', 'anna', '10.0.0.2', 'add_patient', 'P-7', 'ok');
INSERT INTO console_settings VALUES ('totp_required', 'yes');
INSERT INTO console_patients VALUES ('P-7', 'Mevrouw Oud', 'heup', NULL, '2026-01-02T00:00:00Z');
"""


@pytest.mark.parametrize("first", ["the coach", "the console"])
def test_an_update_moves_the_consoles_tables_to_their_own_file(tmp_path, first):
    """A box from before console.db: its accounts, access log, settings and patients move out of
    the records into the console's own file, whichever process starts first; the records then
    hold none of them, not even in free pages."""
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    for script, _backfill in MIGRATIONS[:2]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 2")
    db.executescript(LEGACY_CONSOLE)
    db.close()
    if first == "the console":
        from coach.console.accounts import Accounts
        accounts = Accounts(tmp_path)
        assert [a.name for a in accounts.all()] == ["anna"] and accounts.totp_required()
        accounts.close()
    store = Store(tmp_path)
    tables = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & {"accounts", "access_log", "console_settings", "console_patients"}
    store.close()
    assert b"Mevrouw Oud" not in (tmp_path / DB_NAME).read_bytes()
    console = sqlite3.connect(tmp_path / "console.db")
    assert console.execute("SELECT name, note FROM console_patients").fetchall() == [("Mevrouw Oud", "heup")]
    assert console.execute("SELECT action, patient FROM access_log").fetchall() == [("add_patient", "P-7")]
    assert console.execute("SELECT name FROM accounts").fetchall() == [("anna",)]
    console.close()


def test_a_database_from_a_newer_release_is_refused_in_one_line(tmp_path):
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("PRAGMA user_version = 99")
    db.close()
    result = run_simulated(tmp_path, "--protocol", "demo", "--patient", "P-1", check=False)
    assert result.returncode == 1 and "newer RugCoach" in result.stderr and "Traceback" not in result.stderr


def test_forget_removes_every_trace_of_a_patient(tmp_path):
    run_simulated(tmp_path, "--protocol", "demo", "--patient", "P-forget-me", seed=1)
    run_simulated(tmp_path, "--protocol", "demo", "--patient", "P-keep", seed=2)
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    refused = subprocess.run(RUGCOACH + ["forget", "--patient", "P-forget-me"], cwd=ROOT, env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    result = subprocess.run(RUGCOACH + ["forget", "--patient", "P-forget-me", "--yes"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 session(s)" in result.stderr
    store = Store(tmp_path)
    assert [p["id"] for p in store.patients()] == ["P-keep"]
    assert store.sessions("P-forget-me") == []
    assert store.db.execute("SELECT count(*) FROM trace t JOIN sessions s ON s.id = t.session "
                            "WHERE s.patient IS NULL OR s.patient != 'P-keep'").fetchone()[0] == 0
    store.close()
    for path in tmp_path.iterdir():  # not in the database file, its WAL, nor anywhere else
        if path.is_file():
            assert b"P-forget-me" not in path.read_bytes(), path
    again = subprocess.run(RUGCOACH + ["forget", "--patient", "P-forget-me", "--yes"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 2 and "no patient" in again.stderr


def test_an_exported_trace_is_analysed_like_the_live_session(tmp_path):
    run_simulated(tmp_path, "--exercise", "buiklig-a", "--patient", "P-2", seed=4)
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    out = tmp_path / "export"
    result = subprocess.run(RUGCOACH + ["export", "--patient", "P-2", "--out", str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    stored = [json.loads(line) for line in (out / "session-1" / "events.jsonl").read_text().splitlines()]
    analysed = subprocess.run(RUGCOACH + ["analyze", str(out / "session-1" / "trace.csv"), "--exercise",
                                          "buiklig-a"], cwd=ROOT, capture_output=True, text=True)
    assert analysed.returncode == 0, analysed.stderr
    reps = [json.loads(line) for line in analysed.stdout.splitlines() if '"rep"' in line]
    assert reps == [e for e in stored if e["type"] == "rep"]
    assert (out / "herhalingen-P-2.csv").read_text().count("\n") == len(reps) + 1
    assert json.loads((out / "patient.json").read_text())["patient"]["id"] == "P-2"
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600)


@pytest.mark.parametrize("command", [["export", "--patient", "P-none"], ["report", "--patient", "P-none"]])
def test_an_unknown_patient_is_one_line(tmp_path, command):
    result = subprocess.run(RUGCOACH + command + ["--out", str(tmp_path / "out")], cwd=ROOT,
                            env=dict(os.environ, STATE_DIRECTORY=str(tmp_path)), capture_output=True, text=True)
    assert result.returncode == 2 and "no patient 'P-none'" in result.stderr and "Traceback" not in result.stderr
