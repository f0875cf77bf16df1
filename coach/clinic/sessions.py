"""A finished session as one record for the clinic store, and records rebuilt from such.

The record is the session's rows in the box's own records, table by table (the session, its
patient, repetitions, corrections, compensations and 50 Hz trace: the coach's events that were
kept), as JSON. The clinic's report of a patient is then the box's own report
(coach/report/build.py), run over a private records file rebuilt from the records of every room:
one report, whichever box shows it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from coach.adapters.store import Store
from coach.errors import UserError

FINISHED = ("done", "stopped", "interrupted")
SESSION_TABLES = ("repetitions", "corrections", "compensations", "trace")


@contextlib.contextmanager
def records_of(state_dir: Path) -> Iterator[Store | None]:
    """The box's records, read only, or None when there are none yet."""
    try:
        store = Store.reader(state_dir)
    except UserError:
        yield None
        return
    try:
        yield store
    finally:
        store.close()


def _rows(db: sqlite3.Connection, sql: str, args: tuple = ()) -> list[dict]:
    cursor = db.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def finished_sessions(store: Store) -> list[dict]:
    """(uid, patient, started, status) of every finished session, oldest first."""
    marks = ", ".join("?" * len(FINISHED))
    return _rows(store.db, f"SELECT uid, patient, started, status FROM sessions WHERE status IN ({marks}) "
                           f"AND uid IS NOT NULL ORDER BY started, id", FINISHED)


def session_record(store: Store, uid: str) -> dict:
    """Everything the records hold of one session."""
    [session] = _rows(store.db, "SELECT * FROM sessions WHERE uid = ?", (uid,))
    record: dict = {"session": {k: v for k, v in session.items() if k != "id"}, "patient": None}
    if session["patient"] is not None:
        patients = _rows(store.db, "SELECT * FROM patients WHERE id = ?", (session["patient"],))
        record["patient"] = patients[0] if patients else None
    for table in SESSION_TABLES:
        record[table] = [{k: v for k, v in row.items() if k != "session"}
                         for row in _rows(store.db, f"SELECT * FROM {table} WHERE session = ?", (session["id"],))]
    return record


def rebuild(records: Iterable[dict], folder: Path) -> Store:
    """A records file in `folder` holding `records` (numbered anew: two rooms' session 12 are two)."""
    store = Store(folder)
    columns = {table: {row[1] for row in store.db.execute(f"PRAGMA table_info({table})")}
               for table in ("patients", "sessions", *SESSION_TABLES)}

    def insert(table: str, row: dict, **extra) -> int | None:
        row = {k: v for k, v in {**row, **extra}.items() if k in columns[table]}   # another version's extra
        names = ", ".join(f'"{k}"' for k in row)
        cursor = store.db.execute(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                                  tuple(row.values()))
        return cursor.lastrowid

    with store.transaction():
        for record in sorted(records, key=lambda r: (r["session"]["started"], r["session"].get("uid") or "")):
            if record.get("patient"):
                insert("patients", record["patient"])
            session_id = insert("sessions", record["session"])
            for table in SESSION_TABLES:   # many rows (a trace: 50 a second), one statement each table
                rows = record.get(table) or []
                if not rows:
                    continue
                names = [k for k in rows[0] if k in columns[table]]
                quoted = ", ".join(f'"{k}"' for k in names)   # "end" is a keyword
                marks = ", ".join("?" * (len(names) + 1))
                store.db.executemany(f"INSERT OR IGNORE INTO {table} (session, {quoted}) VALUES ({marks})",
                                     [(session_id, *(row.get(k) for k in names)) for row in rows])
    return store


def with_rebuilt(records: list[dict], state_dir: Path, prefix: str, read: Callable[[Store], object]):
    """`read(store)` over the records rebuilt in a private folder of the state directory, which
    is gone afterwards (and swept by the console's start and by a forget if a kill left it)."""
    with tempfile.TemporaryDirectory(dir=state_dir, prefix=prefix) as folder:
        store = rebuild(records, Path(folder))
        try:
            return read(store)
        finally:
            store.close()
