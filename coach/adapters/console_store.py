"""The console's own file, `console.db`, beside the records: personal accounts (with their two-step
secrets), the console's settings, the NEN 7513 access log, and the clinic's patients (pseudonym,
an optional name and note) with their programmes.

One writer per file: the console writes this one, the daemon writes the session records
(rugcoach.db). The only other writer here is the records service (coach/adapters/records.py),
which the daemon runs when asked to forget a patient or to put a backup back: those must cover
both files at once. Every connection has `secure_delete` on, so what is deleted is overwritten,
not left in a free page.

The schema moves forward by numbered migrations (`PRAGMA user_version`), each in its own
transaction, as the records' do. A box from before this file kept these tables inside the
records; `take_legacy_tables` moves them here once (the daemon's records migration calls it
before it drops them there; the console calls it too, so it never starts on an empty file and
offers a claimed box to be claimed again).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from coach.adapters.state_files import CONSOLE_DB, DB_NAME, private_files, transaction
from coach.errors import UserError

__all__ = ["CONSOLE_DB", "LEGACY_TABLES", "SCHEMA_VERSION", "connect", "erase_patient", "now",
           "take_legacy_tables", "transaction", "open_file", "copy_tables"]
# The tables a box before console.db kept in the records, in the order they are taken over.
LEGACY_TABLES = ("accounts", "console_settings", "access_log", "console_patients")

_V1 = """
CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'therapist')),
    password TEXT NOT NULL,                 -- an scrypt hash, never the text
    created TEXT NOT NULL,
    totp_secret TEXT,                       -- NULL: no second factor
    totp_last INTEGER                       -- the last step used (no replay)
);
CREATE TABLE access_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    account TEXT,
    address TEXT,
    action TEXT NOT NULL,
    patient TEXT,                           -- a pseudonym (a forgotten one: a reference), never a name
    outcome TEXT NOT NULL
);
CREATE INDEX access_log_by_patient ON access_log(patient, at);
CREATE TABLE console_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE console_patients (
    pseudonym TEXT PRIMARY KEY,
    name TEXT,
    note TEXT,
    programme TEXT,                         -- a protocol document (YAML), validated before it is kept
    updated TEXT NOT NULL
)
"""

_V2 = """
-- a patient who hears poorly: their own volume (0.3-1) and speaking rate (words a minute), used
-- in their sessions over the box's own (null: the box's)
ALTER TABLE console_patients ADD COLUMN volume REAL;
ALTER TABLE console_patients ADD COLUMN rate_wpm INTEGER
"""

# Each entry moves the schema one version up; never edit one that has shipped, add a new one.
MIGRATIONS: list[str] = [_V1, _V2]
SCHEMA_VERSION = len(MIGRATIONS)


def console_db_path(state_dir: Path) -> Path:
    return Path(state_dir) / CONSOLE_DB


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def connect(state_dir: Path, records: sqlite3.Connection | None = None) -> sqlite3.Connection:
    """console.db opened for writing, moved to the newest schema and holding what a box before
    it kept in the records (`records`: the records' own connection, when their migration asks).
    One connection may be shared by threads (the caller locks)."""
    with private_files():
        Path(state_dir).mkdir(parents=True, exist_ok=True)
    db = open_file(console_db_path(state_dir))
    try:
        take_legacy_tables(db, Path(state_dir), records)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise UserError(f"the console's data cannot be taken from the records: {exc}", exit_code=1) from None
    return db


def open_file(path: Path) -> sqlite3.Connection:
    """A console data file opened for writing (made if missing), at the newest schema."""
    try:
        with private_files():   # password hashes and health data: the service's user alone
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("PRAGMA synchronous=NORMAL")   # WAL: safe, and no fsync on the event loop
            db.execute("PRAGMA secure_delete=ON")
            _migrate(db, path)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"the console's data '{path}' cannot be opened: {exc}; keep the file and tell "
                        "the supplier", exit_code=1) from None
    return db


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise UserError(f"the console's data '{path}' is from a newer RugCoach (schema {current}, this "
                        f"one knows {SCHEMA_VERSION}): update RugCoach", exit_code=1)
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with transaction(db):
            for statement in filter(str.strip, MIGRATIONS[version - 1].split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")


def take_legacy_tables(db: sqlite3.Connection, state_dir: Path, records: sqlite3.Connection | None = None) -> None:
    """Copy the console's tables out of the records of a box from before console.db, once: a
    mark in console_settings says it was done, so a patient forgotten since is not brought
    back by a second copy. The records' own copies are dropped by the records' migration.
    `records`: the records' open connection (their migration's), else they are read here."""
    path = Path(state_dir) / DB_NAME
    if records is None and not path.exists():
        return
    if db.execute("SELECT 1 FROM console_settings WHERE key = 'legacy_taken'").fetchone():
        return
    source = records or sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        copy_tables(source, db)
    finally:
        if records is None:
            source.close()
    db.execute("INSERT OR IGNORE INTO console_settings (key, value) VALUES ('legacy_taken', 'yes')")


def copy_tables(source: sqlite3.Connection, db: sqlite3.Connection) -> None:
    """The console's tables that `source` has (the records of an older box, or a backup) copied
    into the console file `db`, column by column (a column `db` lacks is left out), in one
    transaction."""
    present = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    rows = {}
    for table in LEGACY_TABLES:
        if table in present:
            columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
            rows[table] = (columns, source.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall())
    with transaction(db):
        for table, (columns, values) in rows.items():
            known = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            kept = [i for i, column in enumerate(columns) if column in known]
            names = ", ".join(columns[i] for i in kept)
            marks = ", ".join("?" for _ in kept)
            db.executemany(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})",
                           [tuple(value[i] for i in kept) for value in values])
        db.execute("INSERT OR IGNORE INTO console_settings (key, value) VALUES ('legacy_taken', 'yes')")


def erase_patient(db: sqlite3.Connection, patient: str, reference: str) -> bool:
    """The patient out of the console's file: their row (name, note, programme) deleted, and in
    the access log their pseudonym replaced by `reference` (the entries stay: NEN 7513 keeps who
    did what, and when). Returns whether the console knew the patient."""
    with transaction(db):
        known = db.execute("DELETE FROM console_patients WHERE pseudonym = ?", (patient,)).rowcount
        db.execute("UPDATE access_log SET patient = ? WHERE patient = ?", (reference, patient))
    return bool(known)
