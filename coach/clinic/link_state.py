"""The clinic link's own file on the box (clinic-link.db, beside the records): which finished
sessions the store has (by their own id), how far the access log and the store's erasures have
been taken, forgets made while the store was away (sent before anything else), and when the
store was last reached. The link writes it; a console writes only a forget it could not send.

Marking a session sent comes after the store has it: a link killed in between sends it again,
and the store, which knows it by its id, keeps one.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from coach.adapters import console_store
from coach.adapters.state_files import private_files
from coach.adapters.store import Store
from coach.clinic.sessions import finished_sessions, records_of

FILE = "clinic-link.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (uid TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS erasures_out (id INTEGER PRIMARY KEY, pseudonym TEXT NOT NULL, reference TEXT NOT NULL);
"""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def open_state(state_dir: Path) -> sqlite3.Connection:
    with private_files():
        db = sqlite3.connect(Path(state_dir) / FILE, timeout=10.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA secure_delete=ON")   # a forget's pseudonym, once sent, is overwritten
    db.executescript(_SCHEMA)
    return db


def cursor(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT value FROM cursors WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def set_cursor(db: sqlite3.Connection, key: str, value: int) -> None:
    db.execute("INSERT INTO cursors (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               (key, value))


def fact(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_fact(db: sqlite3.Connection, key: str, value: str | None) -> None:
    db.execute("INSERT INTO facts (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               (key, value))


def console_file(state_dir: Path):
    """The console's file (console.db), for reading: the console owns it, the link only reads it."""
    return closing(sqlite3.connect(console_store.console_db_path(Path(state_dir)), timeout=10.0))


def queue_erasure(state_dir: Path, pseudonym: str, reference: str) -> None:
    with closing(open_state(state_dir)) as db:
        db.execute("INSERT INTO erasures_out (pseudonym, reference) VALUES (?, ?)", (pseudonym, reference))


def waiting_erasures(state_dir: Path) -> list[tuple[int, str, str]]:
    with closing(open_state(state_dir)) as db:
        return db.execute("SELECT id, pseudonym, reference FROM erasures_out ORDER BY id").fetchall()


def erasure_sent(state_dir: Path, number: int) -> None:
    with closing(open_state(state_dir)) as db:
        db.execute("DELETE FROM erasures_out WHERE id = ?", (number,))
        # the pseudonym's row, overwritten in the file (secure_delete), is also out of the WAL
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def unsent_sessions(db: sqlite3.Connection, store: Store) -> list[dict]:
    sent = {uid for (uid,) in db.execute("SELECT uid FROM sent")}
    return [s for s in finished_sessions(store) if s["uid"] not in sent]


def waiting(state_dir: Path) -> dict:
    """What waits to be uploaded, and when the store was last reached (for `clinic status` and
    the console)."""
    with closing(open_state(state_dir)) as db:
        with records_of(state_dir) as store:
            sessions = len(unsent_sessions(db, store)) if store is not None else 0
        log_waiting = 0
        try:
            with console_file(state_dir) as console:
                log_waiting = console.execute("SELECT count(*) FROM access_log WHERE id > ?",
                                              (cursor(db, "access_log"),)).fetchone()[0]
        except sqlite3.Error:
            pass
        return {"sessions_waiting": sessions, "log_waiting": log_waiting,
                "erasures_waiting": db.execute("SELECT count(*) FROM erasures_out").fetchone()[0],
                "last_reached": fact(db, "last_reached"), "last_problem": fact(db, "last_problem")}
