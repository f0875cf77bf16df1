"""The box's two databases in its state directory, and how files there are made private.

- rugcoach.db: the session records, written by the daemon (coach/adapters/store.py);
- console.db: the console's accounts, patients, programmes, settings and access log, written by
  the console (coach/adapters/console_store.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time

DB_NAME = "rugcoach.db"
CONSOLE_DB = "console.db"


@contextlib.contextmanager
def transaction(db: sqlite3.Connection):
    """One write transaction on `db` (an autocommit connection), taken at once (IMMEDIATE)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        # a COMMIT refused (a full disk) may have been rolled back by SQLite already
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def disk_full(exc: BaseException) -> bool:
    """SQLite's (or the OS's) 'no space left': a state to wait out, not a broken file."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def private_files():
    """Files created inside are 0600 and folders 0700, whatever the caller's umask."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def compact(db: sqlite3.Connection, patience_s: float = 30.0) -> bool:
    """Rewrite the file without its free pages and empty the WAL into it: after this, nothing
    deleted is left in the file or its -wal. A reader in the middle of a query holds the WAL's
    last frames back: waited for up to `patience_s`. Returns whether the WAL was emptied."""
    checkpoint(db, patience_s)
    db.execute("VACUUM")
    return checkpoint(db, patience_s)


def checkpoint(db: sqlite3.Connection, patience_s: float = 30.0) -> bool:
    """The WAL copied into the file and truncated; False when readers kept it busy throughout."""
    deadline = time.monotonic() + patience_s
    while True:
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not busy:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)

