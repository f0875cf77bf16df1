"""A finished session as one record for the clinic store, and records rebuilt from such.

The record is the session's rows in the box's own records, table by table (the session, its
patient, repetitions, corrections, compensations and 50 Hz trace: the coach's events that were
kept), as JSON. Beside it the store keeps its report record: the same without the trace, with
what the report reads of the trace instead (its `trace_summary`: each repetition's baseline
and the chart's drawing of the trace), some 30 kB where 10 min of trace is 1.2 MB. The clinic's
report of a patient is the box's own report (coach/report/build.py), read from every room's
report records (RecordsView); an export rebuilds a records file from the whole records. One
report, whichever box shows it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from coach.adapters.store import Repetition, Store, session_of
from coach.errors import UserError
from coach.report.build import trace_summary

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


def _repetitions(rows: list[dict], session: int) -> list[Repetition]:
    """A record's repetition rows as the records give them: in time order, typed by their columns."""
    return [Repetition(session, float(r["t"]), r["exercise"], int(r["rep"]), float(r["start"]), float(r["end"]),
                       float(r["held_s"]), float(r["change"]), r["verdict"])
            for r in sorted(rows, key=lambda r: r["t"])]


def report_record(record: dict) -> dict:
    """A session's record as the report reads it: its trace replaced by its trace_summary."""
    trace = sorted((row["t"], row["mmhg"]) for row in record.get("trace") or [])
    session = {"exercises": json.loads(record["session"]["exercises"] or "[]")}   # the targets
    slim = {key: value for key, value in record.items() if key != "trace"}
    slim["trace_summary"] = trace_summary(session, _repetitions(record.get("repetitions") or [], 0), trace)
    return slim


class RecordsView:
    """Report records read as the report reads the box's records (Store's reading methods, and
    the trace_summary it keeps), in memory: numbered and ordered as `rebuild` would number and
    order them, so the page is the one a rebuilt records file gives, byte for byte."""

    def __init__(self, records: Iterable[dict]):
        ordered = sorted(records, key=lambda r: (r["session"]["started"], r["session"].get("uid") or ""))
        self._records = dict(enumerate(ordered, 1))

    def sessions(self, patient: str | None = None, anonymous: bool = False) -> list[dict]:
        out = []
        for number, record in self._records.items():
            s = record["session"]
            if (s["patient"] is None) if anonymous else s["patient"] == patient:
                out.append(session_of(number, s["patient"], s["started"], s["ended"], s["status"], s["protocol"],
                                      s["exercises"], s.get("summary"), s.get("criteria_met")))
        return out   # in the records' order: (started, uid), as rebuild numbers them

    def repetitions(self, session: int) -> list[Repetition]:
        return _repetitions(self._records[session]["repetitions"], session)

    def corrections(self, session: int) -> list[dict]:
        rows = sorted(self._records[session]["corrections"], key=lambda r: r["t"])
        return [{"t": float(r["t"]), "kind": r["kind"]} for r in rows]

    def compensations(self, session: int) -> list[dict]:
        rows = sorted(self._records[session]["compensations"], key=lambda r: r["t"])
        return [{"t": float(r["t"]), "kind": r["kind"], "start": float(r["start"]), "end": float(r["end"])}
                for r in rows]

    def trace_summary(self, session: int) -> dict:
        return self._records[session]["trace_summary"]


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
