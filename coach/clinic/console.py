"""The console's data on the clinic store (coach/console/data.py's protocols), failing over to the
box's own copy.

Accounts, roles, two-step secrets, the console's settings, patients and their programmes are the
clinic's: read and written in the clinic store, by the very classes that keep them in console.db
on a box alone (their SQL is the part SQLite and PostgreSQL share; `ClinicTables`, in tables.py,
speaks it to PostgreSQL). The box's console.db keeps a copy of them (`refresh`, every 3 seconds),
and while the store cannot be reached the console reads that copy: a therapist still logs in and
chooses the next patient and their programme, and this box's sessions are still reported. What
would change the clinic's data is then refused beside the form, in Dutch.

The access log is written on the box (always: NEN 7513 asks it even when the network is cut) and
uploaded by the clinic link with the box's name; the console shows the clinic's. A patient's
report is built from the sessions of every room (the clinic's, and this box's not yet uploaded).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from coach.adapters import console_store
from coach.clinic import link_state
from coach.clinic.address import ClinicAddress, StoreAway, first_line
from coach.clinic.join import upsert
from coach.clinic.schema import MIRRORED, patient_hash
from coach.clinic.sessions import (
    RecordsView,
    finished_sessions,
    records_of,
    report_record,
    session_record,
    with_rebuilt,
)
from coach.clinic.tables import ClinicTables
from coach.console.accounts import Account, AccountError, Accounts
from coach.console.data import ConsoleData, LocalRecords
from coach.console.patients import PatientError, Patients
from coach.errors import UserError
from coach.report.build import patient_page, repetitions_csv
from coach.report.export import export_patient

log = logging.getLogger("rugcoach.console")

AWAY_NL = ("De praktijkopslag is niet bereikbaar: dit kan nu niet worden bewaard. Inloggen, de volgende "
           "patiënt kiezen en sessies op deze box gaan gewoon door. Probeer het later opnieuw.")
# the console's settings that are the clinic's (the box's own markers, such as legacy_taken, stay)
_MIRROR_WHERE = {"console_settings": " WHERE key IN ('totp_required')"}
ERASED_NL = "Dit pseudoniem is eerder gewist. Kies een ander, zodat oude gegevens nooit bij een nieuwe patiënt komen."
ONLY_THIS_BOX_NL = ("De praktijkopslag is niet bereikbaar: dit verslag toont alleen de sessies van deze box, "
                    "niet die in andere kamers.")
TEMP_PREFIX = "console-tmp-clinic-"


class _FailingOver:
    """A read asks the clinic store, else the box's copy; a change asks the store, else is
    refused beside the form (`refusal`). The copy follows with the console's next round."""

    refusal: type[AccountError] | type[PatientError]
    remote: Any   # Accounts or Patients on the clinic store
    local: Any    # the same class on the box's copy (console.db)

    def _read(self, name: str, *args):
        try:
            return getattr(self.remote, name)(*args)
        except StoreAway:
            return getattr(self.local, name)(*args)

    def _write(self, name: str, *args):
        try:
            result = getattr(self.remote, name)(*args)
        except StoreAway:
            raise self.refusal("form", AWAY_NL) from None
        return result


class ClinicAccounts(_FailingOver):
    """AccountStore: the clinic's accounts, the box's copy while the store is away."""

    refusal = AccountError

    def __init__(self, tables: ClinicTables, local: Accounts):
        self.remote, self.local = Accounts(db=tables), local

    def count(self) -> int:
        return self._read("count")

    def verify(self, name: str, password: str) -> Account | None:
        return self._read("verify", name, password)

    def get(self, name: str) -> Account | None:
        return self._read("get", name)

    def all(self) -> list[Account]:
        return self._read("all")

    def add(self, name: str, password: str, role: str) -> Account:
        return self._write("add", name, password, role)

    def set_totp(self, name: str, secret: str | None, used_step: int | None = None) -> None:
        self._write("set_totp", name, secret, used_step)

    def use_totp(self, name: str, given: str, unix_time: float) -> bool:
        # away: the copy's secret, its step spent on this box only (a code is 30 s)
        return self._read("use_totp", name, given, unix_time)

    def totp_required(self) -> bool:
        return self._read("totp_required")

    def require_totp(self, required: bool) -> None:
        self._write("require_totp", required)

    def log(self, action: str, outcome: str, account: str | None = None, address: str | None = None,
            patient: str | None = None) -> None:
        self.local.log(action, outcome, account, address, patient)   # uploaded by the clinic link

    def access_log(self, limit: int = 500) -> list[dict]:
        try:
            rows = self.remote.db.execute(
                "SELECT at, account, address, action, patient, outcome, box FROM access_log "
                "ORDER BY at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        except StoreAway:
            return self.local.access_log(limit)
        return [dict(zip(("at", "account", "address", "action", "patient", "outcome", "box"), row, strict=True))
                for row in rows]

    def close(self) -> None:
        self.local.close()


class ClinicPatients(_FailingOver):
    """PatientStore: the clinic's patients and programmes, the box's copy while the store is away."""

    refusal = PatientError

    def __init__(self, tables: ClinicTables, local: Patients):
        self.tables = tables
        self.remote = Patients(library=local.library, db=tables)
        self.local = local

    def search(self, text: str = "") -> list[dict]:
        return self._read("search", text)

    def get(self, pseudonym: str) -> dict | None:
        return self._read("get", pseudonym)

    def add(self, pseudonym: str, name: str = "", note: str = "") -> dict:
        try:
            erased = self.tables.execute("SELECT 1 FROM erasures WHERE patient_hash = ?",
                                         (patient_hash((pseudonym or "").strip()),)).fetchall()
        except StoreAway:
            raise PatientError("form", AWAY_NL) from None
        if erased:   # a pseudonym once forgotten is never given again: no old record may meet a new patient
            raise PatientError("pseudonym", ERASED_NL)
        return self._write("add", pseudonym, name, note)

    def set_programme(self, pseudonym: str, exercises: list[dict]) -> str:
        return self._write("set_programme", pseudonym, exercises)

    def set_voice(self, pseudonym: str, volume: float | None, rate_wpm: int | None) -> None:
        self._write("set_voice", pseudonym, volume, rate_wpm)

    def programmes(self) -> list[tuple[str, str]]:
        return self._read("programmes")

    def exercises(self) -> list[dict]:
        return self.local.exercises()

    def close(self) -> None:
        self.local.close()


class ClinicRecords:
    """RecordReader: a patient's sessions from every room (the clinic's, and this box's own that
    wait to be uploaded); this box's alone while the store is away."""

    def __init__(self, tables: ClinicTables, state_dir: Path):
        self.tables, self.state_dir, self.local = tables, state_dir, LocalRecords(state_dir)

    def _records(self, pseudonym: str, whole: bool = False) -> tuple[list[dict], bool]:
        """Every room's sessions of the patient, and whether the store was away (this box's
        only): their report records, or with `whole` their whole records (an export). The
        store's first: it keeps each session's report record, where this box would summarise
        its own sessions' traces again; the box's own only for what the store does not have yet."""
        records: dict[str, dict] = {}
        partial = False
        column = "record" if whole else "report"
        try:
            for (record,) in self.tables.execute(f"SELECT {column} FROM sessions WHERE patient = ?",
                                                 (pseudonym,)).fetchall():
                records[record["session"]["uid"]] = record
        except StoreAway:
            partial = True
        with records_of(self.state_dir) as store:
            if store is not None:
                for session in finished_sessions(store):
                    if session["patient"] == pseudonym and session["uid"] not in records:
                        record = session_record(store, session["uid"])
                        records[session["uid"]] = record if whole else report_record(record)
        if not records:
            raise UserError(f"no sessions of {pseudonym}")
        return list(records.values()), partial

    def report_page(self, pseudonym: str, name: str | None) -> str:
        records, partial = self._records(pseudonym)
        page = patient_page(RecordsView(records), pseudonym, name)
        if partial:   # said at the top, so a short history is not read as the whole one
            page = page.replace("<body>", f'<body><p class="warning"><strong>{ONLY_THIS_BOX_NL}</strong></p>', 1)
        return page

    def repetitions_csv(self, pseudonym: str) -> str:
        return repetitions_csv(RecordsView(self._records(pseudonym)[0]), pseudonym)

    def export(self, pseudonym: str, out: Path) -> Path:
        records = self._records(pseudonym, whole=True)[0]
        return Path(str(with_rebuilt(records, self.state_dir, TEMP_PREFIX,
                                     lambda store: export_patient(store, pseudonym, out))))

    def check_backup(self, path: Path) -> dict:
        return self.local.check_backup(path)

    def knows(self, pseudonym: str) -> bool:
        if self.local.knows(pseudonym):
            return True
        try:
            return bool(self.tables.execute("SELECT 1 FROM sessions WHERE patient = ? LIMIT 1",
                                            (pseudonym,)).fetchall())
        except StoreAway:
            return False


class ClinicSide:
    """What only a console of a clinic does: keep the box's copy fresh, carry a forget to the
    store, list every box, and say whether the store is reached."""

    def __init__(self, tables: ClinicTables, state_dir: Path):
        self.tables, self.state_dir = tables, state_dir
        self.refreshed_at: float | None = None

    def refresh(self) -> bool:
        """The clinic's accounts, settings and patients copied over the box's own (one
        transaction: a login never sees half), written only when they changed (the card is
        spared a write every round). Forgets made here while the store was away go first, so a
        patient forgotten then never comes back with the copy. False when the store is away."""
        import psycopg
        if not self.tables.probe():
            return False
        try:
            send_waiting_erasures(self.tables, self.state_dir)
            with self.tables.transaction():   # one snapshot of the three
                self.tables.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                taken = {table: sorted(tuple(row) for row in self.tables.execute(
                    f"SELECT {', '.join(columns)} FROM {table}{_MIRROR_WHERE.get(table, '')}").fetchall())
                    for table, columns in MIRRORED.items()}
        except StoreAway:
            return False
        except psycopg.Error as exc:   # refused (a right, a forget it cannot send): the copy stays as it is
            log.warning("the clinic store refused the console's round: %s", first_line(exc))
            return False
        db = console_store.connect(self.state_dir)
        try:
            # compared in Python's order: the store's collation may sort otherwise than SQLite
            held = {table: sorted(tuple(row) for row in db.execute(
                f"SELECT {', '.join(columns)} FROM {table}{_MIRROR_WHERE.get(table, '')}"))
                for table, columns in MIRRORED.items()}
            if held != taken:
                with console_store.transaction(db):
                    for table, columns in MIRRORED.items():
                        db.execute(f"DELETE FROM {table}{_MIRROR_WHERE.get(table, '')}")
                        db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                       f"({', '.join('?' * len(columns))})", taken[table])
        finally:
            db.close()
        self.refreshed_at = time.time()
        return True

    def forgotten(self, pseudonym: str) -> bool:
        """Whether the practice forgot this pseudonym (it is then never used again); False when
        the store is away (the copy does not know)."""
        try:
            return bool(self.tables.execute("SELECT 1 FROM erasures WHERE patient_hash = ?",
                                            (patient_hash(pseudonym),)).fetchall())
        except StoreAway:
            return False

    def forget(self, pseudonym: str, reference: str) -> bool:
        """The patient out of the clinic store (their row, every room's sessions, the access log
        under the reference), and an erasure every box carries out. Away: kept for the clinic
        link, which sends it before anything else. True when the store was reached now."""
        try:
            with self.tables.transaction():
                erase_in_store(self.tables, pseudonym, reference)
            return True
        except StoreAway:
            link_state.queue_erasure(self.state_dir, pseudonym, reference)
            return False

    def boxes(self) -> list[dict] | None:
        try:
            rows = self.tables.execute("SELECT id, name, console, state, last_seen, now() - last_seen "
                                       "FROM boxes ORDER BY name").fetchall()
        except StoreAway:
            return None
        return [{"id": i, "name": name, "console": console, "state": state,
                 "last_seen": seen.isoformat(), "seconds_ago": round(ago.total_seconds(), 1)}
                for i, name, console, state, seen, ago in rows]

    def clashes(self) -> list[dict] | None:
        """What boxes found on joining that an admin must decide: the clinic's row and the box's."""
        try:
            rows = self.tables.execute("SELECT id, box, kind, key, box_row FROM join_clashes ORDER BY id").fetchall()
            result = []
            for number, box, kind, key, box_row in rows:
                found = self.tables.execute(f"SELECT {', '.join(MIRRORED[kind])} FROM {kind} WHERE "
                                            f"{'name' if kind == 'accounts' else 'pseudonym'} = %s", (key,)).fetchall()
                clinic = dict(zip(MIRRORED[kind], found[0], strict=True)) if found else None
                result.append({"id": number, "box": box, "kind": "account" if kind == "accounts" else "patient",
                               "key": key, "box_row": _shown(kind, box_row), "clinic_row": _shown(kind, clinic)})
            return result
        except StoreAway:
            return None

    def resolve(self, number: int, keep: str) -> tuple[str, str] | None:
        """An admin's choice for clash `number`: "clinic" (the clinic's stays) or "box" (the
        box's row replaces it). What it was about ("account" or "patient", and its name or
        pseudonym), or None when it was decided already."""
        with self.tables.transaction():
            rows = self.tables.execute("DELETE FROM join_clashes WHERE id = %s RETURNING kind, key, box_row",
                                       (number,)).fetchall()
            if not rows:
                return None
            kind, key, box_row = rows[0]
            if keep == "box":
                upsert(self.tables, kind, {k: box_row[k] for k in MIRRORED[kind] if k in box_row})
        return ("account" if kind == "accounts" else "patient"), key

    def status(self) -> dict:
        waiting = link_state.waiting(self.state_dir)
        return {"address": self.tables.address.url, "box": self.tables.address.box_name,
                "reachable": self.tables.away_since is None,
                "away_since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.tables.away_since))
                if self.tables.away_since else None,
                "reason": self.tables.away_reason or None, **waiting}


def _shown(kind: str, row: dict | None) -> dict | None:
    """What an admin compares: never a password hash or a two-step secret, only whether they differ."""
    if row is None:
        return None
    if kind == "accounts":
        return {"role": row["role"], "totp": row.get("totp_secret") is not None, "created": row["created"]}
    return {k: row.get(k) for k in ("name", "note", "programme", "volume", "rate_wpm", "updated")}


def send_waiting_erasures(db, state_dir: Path) -> int:
    """Forgets made on this box while the store was away, each in its own transaction (`db`:
    ClinicTables or a psycopg connection). The console's round and the clinic link both send
    them: whichever comes first; a second is harmless."""
    waiting = link_state.waiting_erasures(state_dir)
    for number, pseudonym, reference in waiting:
        with db.transaction():
            erase_in_store(db, pseudonym, reference)
        link_state.erasure_sent(state_dir, number)
    return len(waiting)


def erase_in_store(db, pseudonym: str, reference: str) -> None:
    """`db`: ClinicTables or a psycopg connection (the clinic link's), in a transaction. The
    store's own function does it (coach/clinic/schema.py): a box has no DELETE of its own there."""
    db.execute("SELECT rugcoach_erase(%s, %s)", (pseudonym, reference))
    db.execute("DELETE FROM join_clashes WHERE kind = 'console_patients' AND key = %s", (pseudonym,))


def open_clinic(state_dir: Path, address: ClinicAddress) -> ConsoleData:
    tables = ClinicTables(address)
    side = ClinicSide(tables, state_dir)
    local_accounts, local_patients = Accounts(state_dir), Patients(state_dir)
    data = ConsoleData(ClinicAccounts(tables, local_accounts), ClinicPatients(tables, local_patients),
                       ClinicRecords(tables, state_dir), clinic=side)
    if not side.refresh():
        log.warning("the clinic store at %s cannot be reached: the console starts on the box's own copy",
                    address.url)
    return data
