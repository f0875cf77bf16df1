"""The clinic link (`rugcoach clinic sync`, the unit rugcoach-clinic.service): the box's one process
that talks to the clinic store on the box's behalf, apart from the console's own reading and
writing.

Why a process of its own, not the console's: the console starts on the first browser that asks
(socket activation) and may be stopped; sessions must go up whether anyone looks or not. And
not the daemon's: it keeps no network (PrivateNetwork), so a session never waits on one.

Each round, in this order:
1. forgets made on this box while the store was away go to the store;
2. the store's erasures are carried out on the box (by the daemon, which owns the records; by
   the records service itself when the daemon does not run) before anything is uploaded, so an
   old session never brings a forgotten patient back; an erasure the daemon cannot do yet (a
   session runs) holds the uploads back until it is done;
3. each finished session not yet sent is inserted by its own id (ON CONFLICT DO NOTHING, and
   never for a patient the store has erased), then marked sent here;
4. the access log's new entries, with the box's name, by their number on the box;
5. the heartbeat: the box's state (idle, in session: patient, exercise, repetition; the sensor)
   in `boxes`, with a NOTIFY, every second.
A failure ends the round; the next one waits 1, 2, 4 ... up to 30 s.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time
from pathlib import Path

from coach.clinic import link_state
from coach.clinic.address import ClinicAddress, StoreAway, connect, first_line
from coach.clinic.console import send_waiting_erasures
from coach.clinic.schema import check_version, patient_hash
from coach.clinic.sessions import records_of, report_record, session_record
from coach.clinic.tables import without_nul
from coach.errors import UserError

log = logging.getLogger("rugcoach.clinic")

HEARTBEAT_S = 1.0
MAX_BACKOFF_S = 30.0
NOTIFY_CHANNEL = "rugcoach_boxes"


class ErasureWaits(UserError):
    """An erasure the box cannot carry out yet (a session runs): nothing is uploaded meanwhile."""


class ClinicLink:
    def __init__(self, state_dir: Path, address: ClinicAddress, socket_path: Path | None,
                 console_url: str | None = None):
        self.state_dir, self.address, self.socket_path = Path(state_dir), address, socket_path
        self.console_url = console_url or f"https://{socket.getfqdn()}/"
        self.db = None
        self.state = link_state.open_state(self.state_dir)
        self.failures = 0
        self.erased: dict[str, str] = {}   # the store's erasures: hash of the pseudonym -> its reference

    # -- one round ----------------------------------------------------------------------------
    def round(self) -> dict:
        """One round; what it did. StoreAway (or another error) when it could not finish."""
        import psycopg
        done = {"erased": 0, "sent_erasures": 0, "sessions": 0, "log": 0}
        try:
            if self.db is not None and not self.db.closed:
                try:
                    self.db.execute("SELECT 1")
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    self._close()   # closed by the server (a restart): a new one, in this round
            if self.db is None or self.db.closed:
                self.db = connect(self.address)
                check_version(self.db)
            try:
                done["sent_erasures"] = send_waiting_erasures(self.db, self.state_dir)
                done["erased"] = self._carry_out_erasures()
                done["sessions"] = self._upload_sessions()
                done["log"] = self._upload_access_log()
            finally:   # the other rooms see the box, whatever waits
                self._heartbeat()
                link_state.set_fact(self.state, "last_reached", link_state.now())
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._close()
            problem = f"the clinic store cannot be reached: {first_line(exc)}"
            link_state.set_fact(self.state, "last_problem", problem)
            raise StoreAway(problem) from None
        except psycopg.Error as exc:   # refused by the store (a right, a value): said, waited out, never a crash
            self._close()
            problem = f"the clinic store refused: {first_line(exc)}"
            link_state.set_fact(self.state, "last_problem", problem)
            raise UserError(problem) from None
        except UserError as exc:   # StoreAway and ErasureWaits too
            link_state.set_fact(self.state, "last_problem", str(exc))
            raise
        link_state.set_fact(self.state, "last_problem", None)
        return done

    def _close(self) -> None:
        if self.db is not None:
            try:
                self.db.close()
            except Exception:   # already broken
                pass
            self.db = None

    def _local_patients(self) -> set[str]:
        """Every pseudonym the box holds anywhere: the records, the console's copy, the access log."""
        found: set[str] = set()
        with records_of(self.state_dir) as store:
            if store is not None:
                found |= {p["id"] for p in store.patients()}
        try:
            with link_state.console_file(self.state_dir) as console:
                found |= {p for (p,) in console.execute("SELECT pseudonym FROM console_patients")}
                found |= {p for (p,) in console.execute("SELECT DISTINCT patient FROM access_log "
                                                        "WHERE patient IS NOT NULL AND patient NOT LIKE 'vergeten-%'")}
        except sqlite3.Error:
            pass
        return found

    def _carry_out_erasures(self) -> int:
        """Every erasure the store holds, matched each round against all the box holds: one
        missed (the link was down, a backup was put back) is carried out all the same."""
        assert self.db is not None
        # all of them, each round (a row per patient ever forgotten: small): one committed after
        # a later one is never skipped
        self.erased = {digest: reference for digest, reference in self.db.execute(
            "SELECT patient_hash, reference FROM erasures ORDER BY id DESC")}
        if not self.erased:
            return 0
        erased = 0
        for pseudonym in sorted(self._local_patients()):
            if patient_hash(pseudonym) in self.erased:
                self._forget_here(pseudonym)   # ErasureWaits: nothing is uploaded this round
                erased += 1
        return erased

    def _forget_here(self, pseudonym: str) -> None:
        from coach.adapters import records
        from coach.adapters.control_client import DaemonClient, DaemonError, NotRunning, socket_answers
        from coach.api import methods as api
        from coach.api.wire import ErrorCode
        if self.socket_path is not None and socket_answers(self.socket_path):
            try:
                with DaemonClient(self.socket_path) as client:
                    client.call(api.FORGET, api.ForgetParams(pseudonym, account="clinic"))
            except DaemonError as exc:
                if exc.code is ErrorCode.NOT_FOUND:
                    return
                raise ErasureWaits(f"an erasure asked by the clinic waits: {exc}") from None
            except NotRunning as exc:
                raise ErasureWaits(f"an erasure asked by the clinic waits: {exc}") from None
        else:
            try:
                records.forget(self.state_dir, pseudonym, account="clinic")
            except UserError as exc:
                if exc.exit_code != 2:   # 2: the box does not know them (any more)
                    raise
        log.info("a patient erased in the clinic store is erased on this box too")

    def _upload_sessions(self) -> int:
        from psycopg.types.json import Jsonb
        assert self.db is not None
        sent = 0
        with records_of(self.state_dir) as store:
            if store is None:   # no session recorded yet
                return 0
            for session in link_state.unsent_sessions(self.state, store):
                record = session_record(store, session["uid"])
                patient = session["patient"]
                digest = patient_hash(patient or "")
                with self.db.transaction():   # under the patient's lock, as rugcoach_erase: never beside a forget
                    self.db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (digest,))
                    self.db.execute(
                        "INSERT INTO sessions (uid, box_id, box, patient, started, status, record, report) "
                        "SELECT %s, %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS "
                        "(SELECT 1 FROM erasures WHERE patient_hash = %s) ON CONFLICT (uid) DO NOTHING",
                        (session["uid"], self.address.box_id, self.address.box_name, patient, session["started"],
                         session["status"], Jsonb(without_nul(record)), Jsonb(without_nul(report_record(record))),
                         digest))
                # the store has it (or has erased its patient): only now is it marked sent
                self.state.execute("INSERT OR IGNORE INTO sent (uid, at) VALUES (?, ?)",
                                   (session["uid"], link_state.now()))
                sent += 1
        return sent

    def _upload_access_log(self) -> int:
        assert self.db is not None
        after = link_state.cursor(self.state, "access_log")
        try:
            with link_state.console_file(self.state_dir) as console:
                last = console.execute("SELECT at FROM access_log WHERE id = ?", (after,)).fetchone()
                if after and (last is None or last[0] != link_state.fact(self.state, "access_log_at")):
                    after = 0   # a backup was put back: numbered again (the store keeps one of each)
                rows = console.execute("SELECT id, at, account, address, action, patient, outcome FROM access_log "
                                       "WHERE id > ? ORDER BY id LIMIT 1000", (after,)).fetchall()
        except sqlite3.Error:
            return 0
        if not rows:
            return 0
        uploaded = []
        for number, at, account, address, action, patient, outcome in rows:
            if patient is not None:   # forgotten meanwhile: its reference, never the pseudonym
                patient = self.erased.get(patient_hash(patient), patient)
            uploaded.append(without_nul((self.address.box_name, self.address.box_id, number, at, account, address,
                                         action, patient, outcome)))
        with self.db.transaction():
            with self.db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO access_log (box, box_id, local_id, at, account, address, action, patient, outcome) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (box_id, local_id, at) DO NOTHING",
                    uploaded)
        link_state.set_cursor(self.state, "access_log", rows[-1][0])
        link_state.set_fact(self.state, "access_log_at", rows[-1][1])
        return len(rows)

    def box_state(self) -> dict:
        """What the other rooms see of this box."""
        from coach.adapters.control_client import DaemonClient
        if self.socket_path is None:
            return {"state": "unknown"}
        try:
            with DaemonClient(self.socket_path, timeout=2.0) as client:
                status = client.status()
        except (UserError, OSError):
            return {"state": "off"}
        shown: dict = {"state": status.state, "sensor": status.sensor.connected,
                       "version": status.version}
        if status.session is not None:
            shown["patient"] = status.session.patient
        if status.coach is not None:
            shown.update(exercise=status.coach.exercise, title=status.coach.title,
                         repetition=status.coach.repetition, repetitions=status.coach.repetitions,
                         coach_state=status.coach.state)
        return shown

    def _heartbeat(self) -> None:
        from psycopg.types.json import Jsonb
        assert self.db is not None
        state = self.box_state()
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO boxes (id, name, console, state, last_seen) VALUES (%s, %s, %s, %s, now()) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, console = excluded.console, "
                "state = excluded.state, last_seen = now()",
                (self.address.box_id, self.address.box_name, self.console_url, Jsonb(state)))
            self.db.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, json.dumps({"box": self.address.box_id})))

    # -- the loop -----------------------------------------------------------------------------
    def run(self, stop=None) -> None:
        """Rounds until `stop()` says so; a failure is logged once, and waited out with back-off."""
        problem = None
        while stop is None or not stop():
            try:
                done = self.round()
                if problem is not None:
                    log.info("the clinic store is reached again")
                    problem = None
                if any(done.values()):
                    log.info("clinic store: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
                self.failures = 0
                wait = HEARTBEAT_S
            except UserError as exc:   # StoreAway and ErasureWaits too
                if not isinstance(exc, ErasureWaits):   # waiting for a session's end: the connection stays
                    self._close()
                if str(exc) != problem:
                    log.warning("%s; the box goes on, and tries again", exc)
                    problem = str(exc)
                self.failures += 1
                wait = HEARTBEAT_S if isinstance(exc, ErasureWaits) else min(MAX_BACKOFF_S, 2.0 ** (self.failures - 1))
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and (stop is None or not stop()):
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        self._close()
        self.state.close()
