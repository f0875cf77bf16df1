"""A consistent copy of the box's data, and putting one back: part of the records service
(coach/adapters/records.py), covering both files.

An SD card dies without warning, and with it every patient's history. A backup is one SQLite
file: the session records (rugcoach.db) with the console's tables (accounts, access log,
settings, patients and programmes, from console.db) beside them, as a box kept them before the
console had a file of its own, so backups of every release restore alike. `backup` uses
SQLite's online backup API, so it runs while the daemon writes (a file copy could catch a page
half-written, and would miss what is still in the WAL): the records are one consistent moment,
every repetition finished before it included. It only reads, so it runs in the process that asks
(the console, `rugcoach backup`) and never holds up a session. `restore` checks the file before
it replaces anything (an SQLite database, intact, with the records' tables, from this or an
older RugCoach), builds both new files beside the old ones and swaps them in by rename. The
files replaced are kept beside them (*.before-restore) until the next restore.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from coach.adapters import console_store
from coach.adapters.state_files import CONSOLE_DB, DB_NAME, private_files
from coach.adapters.store import SCHEMA_VERSION
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
                try:
                    # In one step: one read transaction, a single moment of the records. (In steps,
                    # SQLite starts over whenever the daemon commits, every 2 s in a session, and
                    # never finishes.) A WAL reader does not hold the writer up.
                    src.backup(dst)
                finally:
                    src.close()
                _add_console_tables(Path(state_dir), dst)
                dst.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
                summary = _summary(dst)
            finally:
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


def _add_console_tables(state_dir: Path, dst: sqlite3.Connection) -> None:
    """The console's tables copied into the backup beside the records, as they are in console.db."""
    path = state_dir / CONSOLE_DB
    if not path.exists():
        return
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        src.execute("BEGIN")   # one moment of the console's data too
        for table in console_store.LEGACY_TABLES:
            row = src.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
            if row is None:
                continue
            dst.execute(f"DROP TABLE IF EXISTS {table}")
            dst.execute(row[0])
            columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            marks = ", ".join("?" for _ in columns)
            dst.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                            src.execute(f"SELECT {', '.join(columns)} FROM {table}"))
        dst.commit()
    finally:
        src.close()


def restore(state_dir: Path, backup_file: Path) -> dict:
    """Replace the box's data in `state_dir` (the records and the console's file) by the backup's.
    Whoever wrote them must have closed them (the daemon asks for it between sessions, with the
    console's connections closed; from the shell, both units stopped): refused while any process
    has them open. The replaced files are kept beside them."""
    summary = check(backup_file)
    state_dir = Path(state_dir)
    targets = [state_dir / DB_NAME, state_dir / CONSOLE_DB]
    holders = sorted({pid for target in targets for pid in processes_holding(target)})
    if holders:
        raise UserError(f"the records are open in process {', '.join(map(str, holders))} (the coach or the "
                        "console): stop them first (sudo systemctl stop rugcoach rugcoach-console)")
    with private_files():
        state_dir.mkdir(parents=True, exist_ok=True)
        new_records = state_dir / (DB_NAME + ".restoring")
        new_console = state_dir / (CONSOLE_DB + ".restoring")
        for tmp in (new_records, new_console):
            tmp.unlink(missing_ok=True)
        try:
            src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
            try:
                _build_records(src, new_records)
                _build_console(src, new_console)
            finally:
                src.close()
            for target in targets:
                _checkpoint_old(target)
            for target, new in zip(targets, (new_records, new_console)):
                _swap(state_dir, target, new)
            _fsync_dir(state_dir)
        except sqlite3.Error as exc:
            raise UserError(f"the restore failed, nothing was replaced: {exc}") from None
        finally:
            for tmp in (new_records, new_console):
                tmp.unlink(missing_ok=True)
    return summary


def _build_records(src: sqlite3.Connection, path: Path) -> None:
    """The backup's records, without the console's tables, as a file of their own."""
    dst = sqlite3.connect(path, isolation_level=None)
    try:
        src.backup(dst)
        dst.execute("PRAGMA secure_delete=ON")
        for table in console_store.LEGACY_TABLES:
            dst.execute(f"DROP TABLE IF EXISTS {table}")
        dst.execute("VACUUM")
        if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise UserError("the restored copy fails SQLite's integrity check: nothing was replaced")
    finally:
        dst.close()
    _fsync(path)


def _build_console(src: sqlite3.Connection, path: Path) -> None:
    """The backup's console tables in a new console.db (none in a backup from before the console:
    the box is then claimed anew)."""
    dst = console_store.open_file(path)
    try:
        console_store.copy_tables(src, dst)
        dst.execute("PRAGMA journal_mode=DELETE")   # one file to swap in, no WAL beside it
    finally:
        dst.close()
    _fsync(path)


def _checkpoint_old(target: Path) -> None:
    """The old file's WAL into it first, so nothing of it is left in a -wal file that SQLite would
    replay onto the restored one (or that the copy kept of it would miss)."""
    if not target.exists():
        return
    old = sqlite3.connect(target)
    try:
        busy = old.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        old.close()
    if busy:
        raise UserError("the records are in use (the coach or the console is running): "
                        "stop both first; nothing was replaced")


def _swap(state_dir: Path, target: Path, new: Path) -> None:
    if target.exists():
        kept = state_dir / (target.name + ".before-restore")
        kept.unlink(missing_ok=True)
        os.link(target, kept)   # the old file stays, and the live one is never missing
    for leftover in (target.name + "-wal", target.name + "-shm"):
        (state_dir / leftover).unlink(missing_ok=True)
    os.replace(new, target)


def put_back(state_dir: Path) -> None:
    """Undo a restore: the files it replaced (kept as *.before-restore) back in their place."""
    state_dir = Path(state_dir)
    for name in (DB_NAME, CONSOLE_DB):
        kept = state_dir / (name + ".before-restore")
        if kept.exists():
            for leftover in (name + "-wal", name + "-shm"):
                (state_dir / leftover).unlink(missing_ok=True)
            os.replace(kept, state_dir / name)
    _fsync_dir(state_dir)


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
