"""The console's data, behind one small interface: accounts (with the access log), the clinic's
patients and their programmes, and the session records, read only.

Today each box keeps all three in its own SQLite file (the records' folder), and the classes
behind these protocols are that box's: Accounts, Patients and LocalRecords. A clinic with a box
in each treatment room may later want one clinic-wide store (accounts that work on every box,
one patient list, every session in one place): a second implementation of these protocols on an
existing engine, chosen at start, without touching the pages or the API. docs/clinic-store.md
says how that would go. The web layer (web.py) uses nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from coach.adapters.backup import check
from coach.adapters.store import Store
from coach.console.accounts import Account, Accounts
from coach.console.patients import Patients
from coach.errors import UserError
from coach.report.build import patient_page, repetitions_csv
from coach.report.export import export_patient


class AccountStore(Protocol):
    """Personal accounts, their second factor, the console's settings and the access log."""

    def count(self) -> int: ...
    def add(self, name: str, password: str, role: str) -> Account: ...
    def verify(self, name: str, password: str) -> Account | None: ...
    def get(self, name: str) -> Account | None: ...
    def all(self) -> list[Account]: ...
    def set_totp(self, name: str, secret: str | None, used_step: int | None = None) -> None: ...
    def use_totp(self, name: str, given: str, unix_time: float) -> bool: ...
    def totp_required(self) -> bool: ...
    def require_totp(self, required: bool) -> None: ...
    def log(self, action: str, outcome: str, account: str | None = None, address: str | None = None,
            patient: str | None = None) -> None: ...
    def access_log(self, limit: int = 500) -> list[dict]: ...
    def close(self) -> None: ...


class PatientStore(Protocol):
    """The clinic's patients (pseudonym, optional name and note) and each one's programme."""

    def search(self, text: str = "") -> list[dict]: ...
    def get(self, pseudonym: str) -> dict | None: ...
    def add(self, pseudonym: str, name: str = "", note: str = "") -> dict: ...
    def set_programme(self, pseudonym: str, exercises: list[dict]) -> str: ...
    def set_voice(self, pseudonym: str, volume: float | None, rate_wpm: int | None) -> None: ...
    def programmes(self) -> list[tuple[str, str]]: ...
    def exercises(self) -> list[dict]: ...
    def close(self) -> None: ...


class RecordReader(Protocol):
    """The session records, read only: the daemon that coached the sessions writes them (and
    forgets, backs up and restores them, asked over its socket). Each call may block: the web layer runs
    it on a worker thread. UserError when a patient has no session stored."""

    def report_page(self, pseudonym: str, name: str | None) -> str: ...
    def repetitions_csv(self, pseudonym: str) -> str: ...
    def export(self, pseudonym: str, out: Path) -> Path: ...
    def check_backup(self, path: Path) -> dict: ...
    def knows(self, pseudonym: str) -> bool: ...


class LocalRecords:
    """This box's records, opened read-only for each question (the daemon writes meanwhile)."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    def _read(self, read: Callable[[Store], object], patient: str | None = None):
        store = Store.reader(self.state_dir)
        try:
            if patient is not None and not store.sessions(patient):
                raise UserError(f"no sessions of {patient}")
            return read(store)
        finally:
            store.close()

    def report_page(self, pseudonym: str, name: str | None) -> str:
        return str(self._read(lambda store: patient_page(store, pseudonym, name), pseudonym))

    def repetitions_csv(self, pseudonym: str) -> str:
        return str(self._read(lambda store: repetitions_csv(store, pseudonym), pseudonym))

    def export(self, pseudonym: str, out: Path) -> Path:
        return Path(str(self._read(lambda store: export_patient(store, pseudonym, out), pseudonym)))

    def check_backup(self, path: Path) -> dict:
        return check(path)

    def knows(self, pseudonym: str) -> bool:
        """Whether the records hold the patient (a forgotten one: no more)."""
        try:
            store = Store.reader(self.state_dir)
        except UserError:
            return False
        try:
            return any(p["id"] == pseudonym for p in store.patients())
        finally:
            store.close()


@dataclass
class ConsoleData:
    accounts: AccountStore
    patients: PatientStore
    records: RecordReader
    clinic: Any = None   # coach.clinic.console.ClinicSide on a box of a clinic; None on a box alone

    def close(self) -> None:
        self.accounts.close()
        self.patients.close()
        if self.clinic is not None:
            self.clinic.tables.close()


def open_local(state_dir: Path) -> ConsoleData:
    """This box's own data: the console's file (console.db) and the records, read only."""
    return ConsoleData(Accounts(state_dir), Patients(state_dir), LocalRecords(state_dir))
