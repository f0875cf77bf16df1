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
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coach.adapters import console_store
from coach.adapters.disk_space import Reserve, measure
from coach.adapters.state_files import DB_NAME, compact, disk_full, private_files, transaction
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


_V4 = """
-- A session's own id, drawn at random: what the clinic store knows it by (coach/clinic), so two
-- boxes' session 12 never meet, and an upload repeated after a cut is the same session.
ALTER TABLE sessions ADD COLUMN uid TEXT;
CREATE UNIQUE INDEX sessions_by_uid ON sessions(uid);
"""


def _give_sessions_their_ids(db: sqlite3.Connection, _state_dir: Path) -> None:
    for (session_id,) in db.execute("SELECT id FROM sessions WHERE uid IS NULL").fetchall():
        db.execute("UPDATE sessions SET uid = ? WHERE id = ?", (new_session_uid(), session_id))


def new_session_uid() -> str:
    return str(uuid.uuid4())


# Each entry moves the schema one version up; never edit one that has shipped, add a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection, Path], None] | None]] = [
    (_V1, None),
    (_V2, _backfill_summaries),
    ("", _console_tables_to_their_own_file),
    (_V4, _give_sessions_their_ids),
]
SCHEMA_VERSION = len(MIGRATIONS)


def session_of(id_: int, patient: str | None, started: str, ended: str | None, status: str,
               protocol: str | None, exercises: str | None, summary: str | None, criteria_met: str | None) -> dict:
    """A sessions row as its readers take it: its JSON columns decoded."""
    return {"id": id_, "patient": patient, "started": started, "ended": ended, "status": status,
            "protocol": protocol, "exercises": json.loads(exercises or "[]"),
            "summary": json.loads(summary) if summary else None,
            "criteria_met": json.loads(criteria_met) if criteria_met else {}}


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

    RETRY_EVERY_S = 5.0   # while the disk is full, writing is tried again at most this often

    def __init__(self, state_dir: Path, migrate_to: int = SCHEMA_VERSION):
        self.directory = Path(state_dir)
        self.path = self.directory / DB_NAME
        # A full disk is a state, not a crash: what could not be written waits here, in memory,
        # and is written when space returns (retry()); each write is one transaction, so a write
        # that failed left nothing behind and is never doubled.
        self.full = False
        self.waiting: list[SessionRecorder] = []
        self._tried_at = float("-inf")
        self.interrupted: list[dict] = []   # the sessions a power cut or a crash cut off
        self._to_mark: list[int] = []       # of those, the ones not yet marked (a full disk)
        self.reserve = Reserve(self.directory)
        try:
            try:
                self._open(migrate_to)
            except (sqlite3.DatabaseError, OSError) as exc:
                # a full card: the space set aside is given up, and the records open in it
                if not (disk_full(exc) or measure(self.directory)[0] < 1) or not self.reserve.give_up():
                    raise
                with contextlib.suppress(Exception):
                    self.db.close()
                self._open(migrate_to)
        except (sqlite3.DatabaseError, OSError) as exc:
            if disk_full(exc) or measure(self.directory)[0] < 1:
                raise UserError(f"the disk is full ({measure(self.directory)[0]} MB free in '{self.directory}'): "
                                "the session records cannot be opened until there is space; nothing is "
                                "damaged. Free space (old exports or backups), and the coach starts by "
                                "itself", exit_code=75) from None
            if isinstance(exc, OSError):
                raise UserError(f"cannot open the session records in '{self.directory}': "
                                f"{exc.strerror}", exit_code=1) from None
            raise UserError(f"the session records '{self.path}' cannot be opened: {exc}; "
                            "keep the file and tell the supplier", exit_code=1) from None
        if not self.full:
            self.reserve.keep()

    def _open(self, migrate_to: int) -> None:
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
        """Sessions still 'running' when the box starts were cut off (power, crash): named in
        `interrupted` (the daemon says so in one line each) and marked so. On a full disk the
        mark waits (retry()); only these ids are marked, never a session begun since."""
        rows = self.db.execute(
            "SELECT id, patient, started, (SELECT count(*) FROM repetitions r WHERE r.session = s.id) "
            "FROM sessions s WHERE status = 'running' ORDER BY id").fetchall()
        self.interrupted = [{"id": r[0], "patient": r[1], "started": r[2], "repetitions": r[3]} for r in rows]
        self._to_mark = [r[0] for r in rows]
        self._mark_interrupted()

    def _mark_interrupted(self) -> bool:
        if not self._to_mark:
            return True
        try:
            with self.transaction():
                self.db.executemany("UPDATE sessions SET status = 'interrupted' WHERE id = ? AND status = 'running'",
                                    [(i,) for i in self._to_mark])
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            self._found_full("marking the interrupted sessions")
            return False
        self._to_mark = []
        return True

    # -- a full disk ----------------------------------------------------------------------
    def _found_full(self, what: str) -> None:
        if not self.full:
            self.reserve.give_up()   # room for the next tries (and the next start) on a card that is full
            log.error("the disk is full (%s MB free in %s): %s waits in memory and is written when there is "
                      "space; the session goes on", measure(self.directory)[0], self.directory, what)
        self.full = True
        self._tried_at = time.monotonic()

    def may_try(self) -> bool:
        """While full, writes are tried again only every RETRY_EVERY_S (each try costs the card)."""
        return not self.full or time.monotonic() - self._tried_at >= self.RETRY_EVERY_S

    def retry(self, force: bool = False) -> bool:
        """Write what waits (the main loop calls this between samples); True when nothing waits."""
        if not self.full and not self.waiting and not self._to_mark:
            return True
        if not force and not self.may_try():
            return False
        self._tried_at = time.monotonic()
        if not self._mark_interrupted():
            return False
        for recorder in list(self.waiting):
            if not recorder.commit_waiting():
                return False
        if self.full:
            log.info("space again (%s MB free): everything that waited is in the session records",
                     measure(self.directory)[0])
            self.full = False
        self.reserve.keep()
        return True

    def waiting_counts(self) -> dict:
        """What waits in memory for space: repetitions and samples (for the status)."""
        return {"repetitions": sum(len(r.pending_reps) for r in self.waiting),
                "samples": sum(len(r.pending_samples) for r in self.waiting),
                "sessions": len(self.waiting)}

    def drop_waiting(self, patient: str) -> None:
        """A patient forgotten: what waited of theirs is never written."""
        self.waiting = [r for r in self.waiting if r.patient != patient]

    def transaction(self):
        return transaction(self.db)

    read_only = False

    def close(self) -> None:
        if not self.read_only and not self.retry(force=True):
            counts = self.waiting_counts()
            log.error("stopping on a full disk: %d repetition(s) and %d sample(s) of %d session(s) could not "
                      "be written and are lost", counts["repetitions"], counts["samples"], counts["sessions"])
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
        """A new session's record. Its row is written at once, or, on a full disk, with the
        first write that succeeds (`id` is None until then): the session never waits for it."""
        if patient is not None:
            check_patient_id(patient)
        recorder = SessionRecorder(self, None, origin, patient=patient, protocol=protocol, exercises=exercises)
        recorder.commit_waiting()
        return recorder

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
        return [session_of(*row) for row in rows]

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
    trace starts at 0 like any other trace file. A `rep` event commits at once, with the trace
    so far and the corrections and compensations before it; the trace between repetitions is
    committed every TRACE_FLUSH_S of session time.

    Everything not yet committed waits in the pending lists: each commit is one transaction
    that writes all of them or none, so a commit refused by a full disk is simply tried again
    later (Store.retry), and nothing is lost or written twice. The trace waiting is bounded
    (MAX_PENDING_SAMPLES, the oldest samples go first); repetitions, corrections and
    compensations are few and always kept."""

    MAX_PENDING_SAMPLES = 50 * 60 * 30   # half an hour at 50 Hz: some 8 MB

    def __init__(self, store: Store, session_id: int | None, origin: float = 0.0, *, patient: str | None = None,
                 protocol: str | None = None, exercises: list[dict] | None = None):
        self.store = store
        self.id = session_id
        self.origin = origin
        self.patient = patient
        self.uid = new_session_uid()
        self._row = (patient, now_utc(), protocol, json.dumps(exercises or [], ensure_ascii=False), self.uid)
        self.pending_samples: list[tuple[float, float, str]] = []
        self._corrections: list[tuple[float, str]] = []
        self._compensations: list[tuple[float, str, float, float]] = []
        self.pending_reps: list[tuple] = []
        self._finish: tuple | None = None
        self._flushed_at = 0.0
        self.dropped_samples = 0
        self.reps: list[dict] = []
        self.breathing_not_followed: list[str] = []   # exercises whose breath holds were not judged

    def _t(self, t: float) -> float:
        return round(t - self.origin, 3)

    def hear(self, event: dict) -> None:
        kind = event["type"]
        if kind == "correction":
            self._corrections.append((self._t(event["t"]), event["kind"]))
        elif kind == "compensation":
            self._compensations.append((self._t(event["t"]), event["kind"],
                                        self._t(event["start"]), self._t(event["end"])))
        elif kind == "breathing" and not event.get("followed", True):
            self.breathing_not_followed.append(event["exercise"])   # into the summary, at the end
        elif kind == "rep":
            self.reps.append(event)
            self.pending_reps.append((self._t(event["t"]), event["exercise"], event["rep"],
                                      self._t(event["start"]), self._t(event["end"]), event["held_s"],
                                      event["change"], event["verdict"]))
            self._commit()

    def write(self, t: float, mmhg: float, cue: str = "") -> None:
        t = self._t(t)
        self.pending_samples.append((t, mmhg, cue))
        if t - self._flushed_at >= TRACE_FLUSH_S:
            self._flushed_at = t
            self._commit()

    def _commit(self) -> None:
        if self.store.may_try():
            self.commit_waiting()
        elif len(self.pending_samples) > self.MAX_PENDING_SAMPLES:
            drop = len(self.pending_samples) - self.MAX_PENDING_SAMPLES
            if not self.dropped_samples:
                log.error("the disk stays full: the oldest samples of the session's trace waiting in memory "
                          "are dropped (the repetitions are kept)")
            del self.pending_samples[:drop]
            self.dropped_samples += drop
        if self.store.full and self not in self.store.waiting:
            self.store.waiting.append(self)

    def commit_waiting(self) -> bool:
        """Everything pending in one transaction; True when it is in the records."""
        try:
            with self.store.transaction() as db:
                if self.id is None:
                    if self.patient is not None:
                        db.execute("INSERT OR IGNORE INTO patients (id, created) VALUES (?, ?)",
                                   (self.patient, self._row[1]))
                    cursor = db.execute("INSERT INTO sessions (patient, started, protocol, exercises, uid) "
                                        "VALUES (?, ?, ?, ?, ?)", self._row)
                    session_id = cursor.lastrowid
                else:
                    session_id = self.id
                if self.pending_samples:
                    db.executemany("INSERT OR REPLACE INTO trace (session, t, mmhg, cue) VALUES (?, ?, ?, ?)",
                                   [(session_id, *row) for row in self.pending_samples])
                if self._corrections:
                    db.executemany("INSERT INTO corrections (session, t, kind) VALUES (?, ?, ?)",
                                   [(session_id, *row) for row in self._corrections])
                if self._compensations:
                    db.executemany('INSERT INTO compensations (session, t, kind, start, "end") '
                                   "VALUES (?, ?, ?, ?, ?)", [(session_id, *row) for row in self._compensations])
                if self.pending_reps:
                    db.executemany('INSERT INTO repetitions (session, t, exercise, rep, start, "end", held_s, '
                                   "change, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   [(session_id, *row) for row in self.pending_reps])
                if self._finish is not None:
                    db.execute("UPDATE sessions SET ended = ?, status = ?, summary = ?, criteria_met = ? "
                               "WHERE id = ?", (*self._finish, session_id))
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            self.store._found_full("the session's record")
            if self not in self.store.waiting:
                self.store.waiting.append(self)
            return False
        self.id = session_id
        self.pending_samples, self._corrections, self._compensations, self.pending_reps = [], [], [], []
        if self in self.store.waiting:   # all written: a full card again puts it back (_commit)
            self.store.waiting.remove(self)
        return True

    def finish(self, status: str, summary: dict | None = None, criteria_met: dict | None = None) -> None:
        """Close the record: done (the session ended), stopped (SIGTERM) or interrupted."""
        self._finish = (now_utc(), status, json.dumps(summary) if summary else None,
                        json.dumps(criteria_met) if criteria_met is not None else None)
        if not self.commit_waiting() and self not in self.store.waiting:
            self.store.waiting.append(self)

    # the runner's trace interface
    def close(self) -> None:
        self._commit()
