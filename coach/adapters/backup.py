"""A consistent copy of the box's records, and putting one back.

An SD card dies without warning, and with it every patient's history. `backup` uses SQLite's
online backup API, so it can run while the daemon writes (a file copy could catch a page
half-written, and would miss what is still in the WAL): the copy is one consistent moment,
every repetition finished before it included. `restore` checks the file before it replaces
anything (an SQLite database, intact, with the records' tables, from this or an older RugCoach),
builds the new records beside the old ones and swaps them in one rename: a box is never left
half-restored. The records replaced are kept beside them (rugcoach.db.before-restore).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from coach.adapters.store import DB_NAME, SCHEMA_VERSION, private_files
from coach.errors import UserError

NEEDED_TABLES = {"sessions", "repetitions", "patients", "trace"}


class NoBackup(UserError):
    """A file refused as a backup; `kind` says why, for a message in the console's language:
    unreadable, not_sqlite, damaged, not_ours or newer."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def backup(state_dir: Path, out: Path) -> dict:
    """Write a consistent copy of the records to `out` (0600). Returns what it holds."""
    source = Path(state_dir) / DB_NAME
    if not source.exists():
        raise UserError(f"there are no records to back up in {state_dir}")
    out = Path(out)
    if out.is_dir():
        out = out / f"rugcoach-backup-{time.strftime('%Y%m%d-%H%M%S')}.db"
    if not out.parent.exists():
        raise UserError(f"cannot write the backup '{out}': folder '{out.parent}' does not exist")
    tmp = out.with_name(out.name + ".partial")
    with private_files():
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10.0)
            dst = sqlite3.connect(tmp)
            try:
                # In one step: one read transaction, a single moment of the records. (In steps,
                # SQLite starts over whenever the daemon commits, every 2 s in a session, and
                # never finishes.) A WAL reader does not hold the writer up.
                src.backup(dst)
            finally:
                src.close()
            dst.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
            summary = _summary(dst)
            dst.close()
            _fsync(tmp)
            os.replace(tmp, out)
        except sqlite3.Error as exc:
            tmp.unlink(missing_ok=True)
            raise UserError(f"the backup failed: {exc}") from None
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UserError(f"cannot write the backup '{out}': {exc.strerror}") from None
    return dict(summary, path=str(out))


def check(path: Path) -> dict:
    """What a backup file holds; a one-line UserError when it is no usable backup."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            header = file.read(16)
    except OSError as exc:
        raise NoBackup("unreadable", f"cannot read '{path}': {exc.strerror}") from None
    if header != b"SQLite format 3\x00":
        raise NoBackup("not_sqlite", f"'{path}' is no RugCoach backup (not an SQLite database)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise NoBackup("damaged", f"'{path}' is damaged (SQLite's integrity check fails): nothing was restored")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not NEEDED_TABLES <= tables:
                raise NoBackup("not_ours", f"'{path}' is an SQLite database, but no RugCoach records "
                                f"(missing: {', '.join(sorted(NEEDED_TABLES - tables))})")
            if version > SCHEMA_VERSION:
                raise NoBackup("newer", f"'{path}' comes from a newer RugCoach (schema {version}, this one "
                                f"knows {SCHEMA_VERSION}): update RugCoach first")
            return _summary(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise NoBackup("damaged", f"'{path}' cannot be read as RugCoach records: {exc}") from None


def restore(state_dir: Path, backup_file: Path) -> dict:
    """Replace the records in `state_dir` by the backup, all at once. The daemon and the console
    must be stopped: refused while any process has the records open. The replaced records are
    kept beside them."""
    summary = check(backup_file)
    state_dir = Path(state_dir)
    target = state_dir / DB_NAME
    holders = processes_holding(target)
    if holders:
        raise UserError(f"the records are open in process {', '.join(map(str, holders))} (the coach or the "
                        "console): stop them first (sudo systemctl stop rugcoach rugcoach-console)")
    with private_files():
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / (DB_NAME + ".restoring")
        tmp.unlink(missing_ok=True)
        try:
            src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
            finally:
                src.close()
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise UserError("the restored copy fails SQLite's integrity check: nothing was replaced")
            dst.close()
            _fsync(tmp)
            if target.exists():
                # the old records' WAL into their file first, so nothing of them is left in a
                # -wal file that SQLite would replay onto the restored ones (or that the copy
                # kept of them would miss)
                old = sqlite3.connect(target)
                try:
                    busy = old.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                finally:
                    old.close()
                if busy:
                    raise UserError("the records are in use (the coach or the console is running): "
                                    "stop both first; nothing was replaced")
                kept = state_dir / (DB_NAME + ".before-restore")
                kept.unlink(missing_ok=True)
                os.link(target, kept)   # the old records stay, and rugcoach.db is never missing
            for leftover in (DB_NAME + "-wal", DB_NAME + "-shm"):
                (state_dir / leftover).unlink(missing_ok=True)
            os.replace(tmp, target)
            _fsync_dir(state_dir)
        except sqlite3.Error as exc:
            tmp.unlink(missing_ok=True)
            raise UserError(f"the restore failed, nothing was replaced: {exc}") from None
    return summary


def processes_holding(path: Path) -> list[int]:
    """The processes that have `path` (or its -wal) open, as far as this user may see."""
    wanted = {str(path), str(path) + "-wal"}
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in wanted for fd in fd_dir.iterdir()):
                found.append(int(fd_dir.parent.name))
        except OSError:   # gone meanwhile, or not ours to see
            continue
    return sorted(pid for pid in found if pid != os.getpid())


def _summary(db: sqlite3.Connection) -> dict:
    count = lambda table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]   # noqa: E731
    return {"patients": count("patients"), "sessions": count("sessions"), "repetitions": count("repetitions")}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync(path)
