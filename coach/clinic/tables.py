"""The clinic store's tables as the console's own classes (Accounts, Patients) speak to
console.db: one connection, made off the event loop, answering StoreAway at once while the store
is away, and a NUL-free text for PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time

from coach.clinic.address import ClinicAddress, StoreAway, connect, first_line
from coach.clinic.schema import check_version
from coach.errors import UserError

log = logging.getLogger("rugcoach.console")


class _Rows:
    def __init__(self, rows: list[tuple]):
        self.rows = rows

    def fetchall(self) -> list[tuple]:
        return self.rows


class ClinicTables:
    """The clinic store's tables, spoken to as the console's classes speak to console.db: `?`
    for parameters, LIKE as SQLite's (case-blind, no escape character), a broken unique key as
    sqlite3's. One connection, made only by `probe` (the console's background round, off the
    event loop and outside the lock): a click never connects. Once the connection is lost, every
    call answers StoreAway at once and the console reads the box's copy, until a probe finds the
    store again. A click waits on the lock for at most LOCK_WAIT_S (the background round may be
    in a query on a network just cut), then reads the copy too."""

    LOCK_WAIT_S = 0.5

    def __init__(self, address: ClinicAddress):
        self.address = address
        self._db = None
        self.lock = threading.RLock()
        self.away_since: float | None = time.time()   # until the first probe
        self.away_reason = "the clinic store has not been reached yet"

    def _connection(self):
        if self._db is None or self._db.closed:
            raise StoreAway(self.away_reason)
        return self._db

    def probe(self) -> bool:
        """Whether the store answers, connecting anew if needed (up to CONNECT_TIMEOUT_S), its
        schema the one this box knows."""
        import psycopg
        with self.lock:   # off the event loop: it may wait for a click's query
            db = self._db
            if db is not None and not db.closed:
                try:
                    db.execute("SELECT 1")
                    return True
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    self._lost(f"the clinic store cannot be reached: {first_line(exc)}")
        try:
            fresh = connect(self.address)   # outside the lock: the clicks meanwhile answer from the copy
        except UserError as exc:
            self._lost(str(exc))
            return False
        try:
            check_version(fresh)
            with self.lock:
                self._drop()
                self._db, fresh = fresh, None
                if self.away_since is not None:
                    log.info("the clinic store is reached")
                self.away_since, self.away_reason = None, ""
            return True
        except (UserError, psycopg.Error) as exc:   # a store of another schema, or lost at once
            self._lost(first_line(exc))
            return False
        finally:
            if fresh is not None:
                fresh.close()

    @contextlib.contextmanager
    def _locked(self):
        if not self.lock.acquire(timeout=self.LOCK_WAIT_S):
            raise StoreAway("the clinic store is slow to answer")
        try:
            yield
        finally:
            self.lock.release()

    def _lost(self, reason: str) -> None:
        if self.away_since is None:
            log.warning("%s: the console works on the box's own copy meanwhile", reason)
            self.away_since = time.time()
        self.away_reason = reason
        self._drop()

    def _drop(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:   # closing what is already broken
                pass
            self._db = None

    def execute(self, sql: str, args: tuple = ()) -> _Rows:
        import psycopg
        sql = sql.replace(" LIKE ?", " ILIKE ? ESCAPE ''").replace("?", "%s")
        with self._locked():
            db = self._connection()
            try:
                cursor = db.execute(sql, without_nul(args))   # type: ignore[arg-type]
                return _Rows(cursor.fetchall() if cursor.description else [])
            except psycopg.errors.IntegrityError as exc:
                raise sqlite3.IntegrityError(first_line(exc)) from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._lost(f"the clinic store cannot be reached: {first_line(exc)}")
                raise StoreAway(self.away_reason) from None

    @contextlib.contextmanager
    def transaction(self):
        """Statements in one transaction of the store; StoreAway when it was lost on the way."""
        import psycopg
        with self._locked():
            db = self._connection()
            try:
                with db.transaction():
                    yield self
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._lost(f"the clinic store cannot be reached: {first_line(exc)}")
                raise StoreAway(self.away_reason) from None

    def close(self) -> None:
        with self.lock:
            self._drop()


def without_nul(value):
    """PostgreSQL's text holds no NUL character (SQLite's does: a login name typed with one is
    logged on the box as typed); each becomes U+FFFD, in strings, lists, tuples and dicts."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list | tuple):
        return type(value)(without_nul(v) for v in value)
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value
