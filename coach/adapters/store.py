"""The session records: one SQLite database in the box's state directory (health data).

What is stored: patients (a pseudonymous id; a name only if the therapist adds one), sessions,
repetitions, corrections, compensations, and each session's raw trace (CONTRACT section 4), so
`rugcoach analyze` can re-examine any session after an `export`.

Durability: WAL with synchronous=FULL. A repetition is committed the moment its `rep` event
comes, before anything else hears of it (the runner calls the recorder first), so a crash, a
SIGKILL or a power cut never loses a finished repetition. The trace goes in with it, and every
couple of seconds between repetitions, in one transaction each time.

Privacy: the directory is 0700 and the files (database, -wal, -shm) 0600, made so by the umask
while SQLite creates them; `secure_delete` overwrites what `forget` removes.

The schema is versioned (`PRAGMA user_version`) and only ever moved forward by the migrations
below, each in its own transaction, so an update never loses old sessions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coach.adapters import console_store
from coach.adapters.state_files import DB_NAME, compact, private_files, transaction
from coach.errors import UserError

__all__ = ["DB_NAME", "Repetition", "SessionRecorder", "Store", "check_patient_id", "private_files"]

log = logging.getLogger(__name__)

TRACE_FLUSH_S = 2.0     # session seconds of trace kept in memory at most between commits
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_patient_id(patient_id: str) -> str:
    if not _SAFE_ID.match(patient_id) or patient_id in (".", ".."):
        raise UserError(f"patient id '{patient_id}' is not allowed: use 1-64 letters, digits, "
                        "'-', '_' or '.' (a pseudonym, not a name)", exit_code=2)
    return patient_id


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- the schema, as migrations ---------------------------------------------------------------

_V1 = """
CREATE TABLE patients (
    id       TEXT PRIMARY KEY,              -- a pseudonym
    name     TEXT,                          -- only if the therapist adds one
    created  TEXT NOT NULL
);
CREATE TABLE sessions (
    id        INTEGER PRIMARY KEY,
    patient   TEXT REFERENCES patients(id) ON DELETE CASCADE,  -- NULL: nobody named
    started   TEXT NOT NULL,                -- UTC, ISO 8601
    ended     TEXT,
    status    TEXT NOT NULL DEFAULT 'running',  -- running | done | stopped | interrupted
    protocol  TEXT,
    exercises TEXT NOT NULL DEFAULT '[]'    -- JSON: id, title, phase, target of each exercise
);
CREATE TABLE repetitions (
    session  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    t REAL NOT NULL, exercise TEXT NOT NULL, rep INTEGER NOT NULL,
    start REAL NOT NULL, "end" REAL NOT NULL, held_s REAL NOT NULL, change REAL NOT NULL,
    verdict TEXT NOT NULL
);
CREATE TABLE corrections (
    session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    t REAL NOT NULL, kind TEXT NOT NULL
);
CREATE TABLE compensations (
    session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    t REAL NOT NULL, kind TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL
);
CREATE TABLE trace (
    session INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    t REAL NOT NULL, mmhg REAL NOT NULL, cue TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session, t)
) WITHOUT ROWID;
CREATE INDEX repetitions_by_session ON repetitions(session);
CREATE INDEX corrections_by_session ON corrections(session);
CREATE INDEX compensations_by_session ON compensations(session);
CREATE INDEX sessions_by_patient ON sessions(patient, started);
"""

_V2 = """
-- The session's summary (repetitions and good ones per exercise, the share of good ones per
-- phase) and whether the criteria for the next phase were met then: kept, not recomputed,
-- because the criteria are configurable and the record says what the box said at the time.
ALTER TABLE sessions ADD COLUMN summary TEXT;
ALTER TABLE sessions ADD COLUMN criteria_met TEXT;
"""


def _backfill_summaries(db: sqlite3.Connection, state_dir: Path) -> None:
    """Version 2: summarise the sessions stored before, and take in the JSON-lines records of
    the first releases (patients/ID/sessions.jsonl), which are then renamed, not deleted."""
    from coach.core.progress import summarise

    for (session_id, exercises) in db.execute("SELECT id, exercises FROM sessions").fetchall():
        phases = {e["id"]: e.get("phase", 1) for e in json.loads(exercises)}
        reps = [{"exercise": e, "verdict": v} for e, v in db.execute(
            "SELECT exercise, verdict FROM repetitions WHERE session = ?", (session_id,))]
        db.execute("UPDATE sessions SET summary = ? WHERE id = ?",
                   (json.dumps(summarise(reps, phases)), session_id))
    for path in sorted((state_dir / "patients").glob("*/sessions.jsonl")):
        patient = path.parent.name
        if not _SAFE_ID.match(patient):
            continue
        imported = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                old = json.loads(line)
                summary = {"exercises": old["exercises"], "good_fraction": old["good_fraction"]}
            except (ValueError, KeyError, TypeError):
                continue  # a line cut off by a power loss
            db.execute("INSERT OR IGNORE INTO patients (id, created) VALUES (?, ?)",
                       (patient, old.get("date", now_utc())))
            db.execute("INSERT INTO sessions (patient, started, ended, status, summary, criteria_met)"
                       " VALUES (?, ?, ?, 'done', ?, ?)",
                       (patient, old.get("date", now_utc()), old.get("date"), json.dumps(summary),
                        json.dumps(old.get("next_phase_criteria_met", {}))))
            imported += 1
        log.info("took %d session(s) of patient %s from %s into the database", imported, patient, path)
        path.rename(path.with_suffix(".jsonl.imported"))


def _console_tables_to_their_own_file(db: sqlite3.Connection, state_dir: Path) -> None:
    """Version 3: the console's tables (accounts, access log, settings, its patients) leave the
    records for console.db, the console's own file: one writer per file. They are copied there
    first (once: console_store marks it), then dropped here; the VACUUM after the migration
    leaves nothing of them in this file."""
    present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    legacy = [table for table in console_store.LEGACY_TABLES if table in present]
    if not legacy:
        return
    console_store.connect(state_dir, records=db).close()
    for table in legacy:
        db.execute(f"DROP TABLE {table}")
    log.info("the console's tables moved from the records to %s", console_store.CONSOLE_DB)


# Each entry moves the schema one version up; never edit one that has shipped, add a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection, Path], None] | None]] = [
    (_V1, None),
    (_V2, _backfill_summaries),
    ("", _console_tables_to_their_own_file),
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Repetition:
    session: int
    t: float
    exercise: str
    rep: int
    start: float
    end: float
    held_s: float
    change: float
    verdict: str


class Store:
    """The database. One connection, used from the main loop only."""

    def __init__(self, state_dir: Path, migrate_to: int = SCHEMA_VERSION):
        self.directory = Path(state_dir)
        self.path = self.directory / DB_NAME
        try:
            with private_files():
                self.directory.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
                self.db.execute("PRAGMA journal_mode=WAL")
            os.chmod(self.directory, 0o700)
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA secure_delete=ON")
            with private_files():
                self._migrate(migrate_to)
                self._close_interrupted()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"the session records '{self.path}' cannot be opened: {exc}; "
                            "keep the file and tell the supplier", exit_code=1) from None
        except OSError as exc:
            raise UserError(f"cannot open the session records in '{self.directory}': "
                            f"{exc.strerror}", exit_code=1) from None

    @classmethod
    def reader(cls, state_dir: Path) -> Store:
        """The records opened read-only, for another process than the daemon (the console's
        reports): no migration, no closing of interrupted sessions (the daemon's own session
        is running), no write at all."""
        store = cls.__new__(cls)
        store.read_only = True
        store.directory = Path(state_dir)
        store.path = store.directory / DB_NAME
        if not store.path.exists():
            raise UserError(f"there are no session records in '{store.directory}' yet")
        try:
            store.db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=10.0)
            version = store.version
        except sqlite3.DatabaseError as exc:
            raise UserError(f"the session records '{store.path}' cannot be read: {exc}") from None
        if version != SCHEMA_VERSION:
            store.db.close()
            raise UserError(f"the session records are at schema {version}, this RugCoach reads "
                            f"{SCHEMA_VERSION}: restart the coach (it moves them forward)")
        return store

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self, target: int) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise UserError(f"the session records '{self.path}' are from a newer RugCoach "
                            f"(schema {current}, this one knows {SCHEMA_VERSION}): update RugCoach",
                            exit_code=1)
        for version in range(current + 1, target + 1):
            script, backfill = MIGRATIONS[version - 1]
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                if backfill is not None:
                    backfill(self.db, self.directory)
                self.db.execute(f"PRAGMA user_version = {version}")
            if current:
                log.info("session records moved to schema version %d", version)
        if current and current < target:
            self.compact()   # what a migration dropped is not left in free pages

    def _close_interrupted(self) -> None:
        """Sessions still 'running' when the box starts were cut off (power, crash)."""
        with self.transaction():
            self.db.execute("UPDATE sessions SET status = 'interrupted' WHERE status = 'running'")

    def transaction(self):
        return transaction(self.db)

    read_only = False

    def close(self) -> None:
        if not self.read_only:   # a reader cannot checkpoint (and would wait for the writer)
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    # -- writing ------------------------------------------------------------------------
    def add_patient(self, patient: str, name: str | None = None) -> None:
        check_patient_id(patient)
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO patients (id, created) VALUES (?, ?)",
                            (patient, now_utc()))
            if name is not None:
                self.db.execute("UPDATE patients SET name = ? WHERE id = ?", (name, patient))

    def begin_session(self, patient: str | None, protocol: str | None, exercises: list[dict],
                      origin: float = 0.0) -> SessionRecorder:
        if patient is not None:
            self.add_patient(patient)
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO sessions (patient, started, protocol, exercises) VALUES (?, ?, ?, ?)",
                (patient, now_utc(), protocol, json.dumps(exercises, ensure_ascii=False)))
        session_id = cursor.lastrowid
        if session_id is None:  # pragma: no cover - SQLite always gives an INSERT its rowid
            raise UserError("the session records gave the new session no id", exit_code=1)
        return SessionRecorder(self, session_id, origin)

    # -- reading ------------------------------------------------------------------------
    def patients(self) -> list[dict]:
        rows = self.db.execute("SELECT id, name, created FROM patients ORDER BY id").fetchall()
        return [{"id": r[0], "name": r[1], "created": r[2]} for r in rows]

    def sessions(self, patient: str | None = None, anonymous: bool = False) -> list[dict]:
        """A patient's sessions (or, with `anonymous`, those without a patient), oldest first."""
        where, args = ("patient IS NULL", ()) if anonymous else ("patient = ?", (patient,))
        rows = self.db.execute(
            f"SELECT id, patient, started, ended, status, protocol, exercises, summary, criteria_met "
            f"FROM sessions WHERE {where} ORDER BY started, id", args).fetchall()
        return [{"id": r[0], "patient": r[1], "started": r[2], "ended": r[3], "status": r[4],
                 "protocol": r[5], "exercises": json.loads(r[6] or "[]"),
                 "summary": json.loads(r[7]) if r[7] else None,
                 "criteria_met": json.loads(r[8]) if r[8] else {}} for r in rows]

    def repetitions(self, session: int) -> list[Repetition]:
        rows = self.db.execute('SELECT session, t, exercise, rep, start, "end", held_s, change, verdict '
                               "FROM repetitions WHERE session = ? ORDER BY t", (session,))
        return [Repetition(*row) for row in rows]

    def corrections(self, session: int) -> list[dict]:
        rows = self.db.execute("SELECT t, kind FROM corrections WHERE session = ? ORDER BY t", (session,))
        return [{"t": t, "kind": kind} for t, kind in rows]

    def compensations(self, session: int) -> list[dict]:
        rows = self.db.execute('SELECT t, kind, start, "end" FROM compensations WHERE session = ? '
                               "ORDER BY t", (session,))
        return [{"t": t, "kind": k, "start": s, "end": e} for t, k, s, e in rows]

    def trace(self, session: int) -> list[tuple[float, float, str]]:
        return self.db.execute("SELECT t, mmhg, cue FROM trace WHERE session = ? ORDER BY t",
                               (session,)).fetchall()

    def history(self, patient: str) -> list[dict]:
        """The summaries of a patient's finished sessions, oldest first (for the phase criteria)."""
        return [s["summary"] for s in self.sessions(patient) if s["summary"] and s["status"] == "done"]

    # -- the right to erasure (coach/adapters/records.py covers both files) -----------------
    def erase_patient(self, patient: str) -> int | None:
        """Delete a patient and their sessions (with all that hangs on them); returns how many
        sessions went, or None when the records never knew the patient. `secure_delete`
        overwrites the rows; `compact` then leaves no free page and no WAL behind."""
        check_patient_id(patient)
        with self.transaction():
            count = self.db.execute("SELECT count(*) FROM sessions WHERE patient = ?", (patient,)).fetchone()[0]
            known = self.db.execute("DELETE FROM patients WHERE id = ?", (patient,)).rowcount
        return count if known else None

    def compact(self) -> bool:
        """The file rewritten without free pages, and the WAL emptied into it."""
        return compact(self.db)


class SessionRecorder:
    """One session's record, fed by the runner: `hear` every event, `write` every sample.

    Times are stored from the session's start (`origin` on the runner's clock), so each stored
    trace starts at 0 like any other trace file. A `rep` event commits at once, with the trace so far
    and the corrections and compensations
    before it; the trace between repetitions is committed every TRACE_FLUSH_S of session time."""

    def __init__(self, store: Store, session_id: int, origin: float = 0.0):
        self.store = store
        self.id = session_id
        self.origin = origin
        self._samples: list[tuple[int, float, float, str]] = []
        self._corrections: list[tuple[int, float, str]] = []
        self._compensations: list[tuple[int, float, str, float, float]] = []
        self._flushed_at = 0.0
        self.reps: list[dict] = []

    def _t(self, t: float) -> float:
        return round(t - self.origin, 3)

    def hear(self, event: dict) -> None:
        kind = event["type"]
        if kind == "correction":
            self._corrections.append((self.id, self._t(event["t"]), event["kind"]))
        elif kind == "compensation":
            self._compensations.append((self.id, self._t(event["t"]), event["kind"],
                                        self._t(event["start"]), self._t(event["end"])))
        elif kind == "rep":
            self.reps.append(event)
            self._commit(rep=(self.id, self._t(event["t"]), event["exercise"], event["rep"],
                              self._t(event["start"]), self._t(event["end"]), event["held_s"],
                              event["change"], event["verdict"]))

    def write(self, t: float, mmhg: float, cue: str = "") -> None:
        t = self._t(t)
        self._samples.append((self.id, t, mmhg, cue))
        if t - self._flushed_at >= TRACE_FLUSH_S:
            self._commit()

    def _commit(self, rep: tuple | None = None) -> None:
        with self.store.transaction() as db:
            if self._samples:
                db.executemany("INSERT OR REPLACE INTO trace (session, t, mmhg, cue) VALUES (?, ?, ?, ?)",
                               self._samples)
            if self._corrections:
                db.executemany("INSERT INTO corrections (session, t, kind) VALUES (?, ?, ?)",
                               self._corrections)
            if self._compensations:
                db.executemany('INSERT INTO compensations (session, t, kind, start, "end") '
                               "VALUES (?, ?, ?, ?, ?)", self._compensations)
            if rep is not None:
                db.execute('INSERT INTO repetitions (session, t, exercise, rep, start, "end", held_s, '
                           "change, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rep)
        if self._samples:
            self._flushed_at = self._samples[-1][1]
        self._samples, self._corrections, self._compensations = [], [], []

    def finish(self, status: str, summary: dict | None = None, criteria_met: dict | None = None) -> None:
        """Close the record: done (the session ended), stopped (SIGTERM) or interrupted."""
        self._commit()
        with self.store.transaction() as db:
            db.execute("UPDATE sessions SET ended = ?, status = ?, summary = ?, criteria_met = ? "
                       "WHERE id = ?", (now_utc(), status, json.dumps(summary) if summary else None,
                                        json.dumps(criteria_met) if criteria_met is not None else None,
                                        self.id))

    # the runner's trace interface
    def close(self) -> None:
        self._commit()
