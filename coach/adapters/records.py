"""The records service: what must cover the box's two files at once, the session records
(rugcoach.db, the daemon's) and the console's data (console.db): forgetting a patient and
putting a backup back. The daemon runs it, asked over its socket (it owns the records, and
only it knows when no session writes them); `rugcoach forget` and `rugcoach restore` run it
themselves only when the daemon does not run, and say which they did.

Forgetting (the right to erasure) leaves no trace of the patient in any file of the state
directory: their session records, their row in the console (name, note, programme), the
copies a restore kept beside the records, and the files named after them (exports on their
way out, the first releases' JSON lines). Deleted rows are overwritten (`secure_delete`), both
files are rewritten without free pages (VACUUM) and their WAL emptied into them. The access
log keeps its entries (NEN 7513 asks for who did what, and when), with the pseudonym replaced
by a reference that cannot be turned back into it. Backups made before still hold the patient:
the guide says so.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from coach.adapters import console_store
from coach.adapters.state_files import DB_NAME, compact
from coach.adapters.store import Store, check_patient_id
from coach.errors import UserError

log = logging.getLogger(__name__)

KEPT_SUFFIX = ".before-restore"   # the records a restore replaced, kept beside them


@dataclass(frozen=True)
class Forgotten:
    sessions: int        # how many of the patient's sessions went
    reference: str       # what the access log names them by from now on


def new_reference(patient: str) -> str:
    return "vergeten-" + hashlib.sha256(secrets.token_bytes(16) + patient.encode()).hexdigest()[:10]


# Folders of whole copies of the box's data on their way somewhere (a backup, an upload to
# restore) that a killed command left behind: a forgotten patient is in them too.
COPY_FOLDERS = ("backup-tmp-*", "restore-tmp-*")
EXPORT_FOLDERS = "console-tmp-*"   # the console's exports on their way out


def files_named_after(state_dir: Path, patient: str) -> list[Path]:
    """What in the state directory holds the patient under their name: the first releases'
    records (patients/ID), an export left there (rugcoach-export-ID), an export or report on its
    way out of the console, and leftover copies of the whole data. Only these places: a
    pseudonym may be any name ('console', 'patients'), and the box's own files are never touched."""
    state_dir = Path(state_dir)
    found = [state_dir / "patients" / patient, state_dir / f"rugcoach-export-{patient}"]
    names = {patient, f"export-{patient}.zip", f"herhalingen-{patient}.csv"}
    for folder in state_dir.glob(EXPORT_FOLDERS):
        found += [path for path in folder.iterdir() if path.name in names]
    for pattern in COPY_FOLDERS:
        found += list(state_dir.glob(pattern))
    return [path for path in found if path.exists() or path.is_symlink()]


def forget(state_dir: Path, patient: str, store: Store | None = None, account: str | None = None,
           address: str | None = None) -> Forgotten:
    """Every trace of `patient` off the box. `store`: the daemon's open records (else they are
    opened here); `account`/`address`: who asked, for the access log. UserError when neither
    file knows the patient."""
    check_patient_id(patient)
    state_dir = Path(state_dir)
    reference = new_reference(patient)
    own_store = store is None
    records = Store(state_dir) if store is None else store
    records.drop_waiting(patient)   # what a full disk kept in memory of theirs is never written
    console = console_store.connect(state_dir)
    try:
        in_console = console_store.erase_patient(console, patient, reference)
        sessions = records.erase_patient(patient)
        if sessions is None and not in_console:
            raise UserError(f"no patient '{patient}' on this box", exit_code=2)
        for kept in sorted(state_dir.glob("*" + KEPT_SUFFIX)):
            _erase_from_copy(kept, patient, reference)
        for path in files_named_after(state_dir, patient):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        # the access log's line first: the erasure is done, whatever the rewriting below meets
        with console_store.transaction(console):
            console.execute("INSERT INTO access_log (at, account, address, action, patient, outcome) "
                            "VALUES (?, ?, ?, 'forget', ?, ?)",
                            (console_store.now(), account, address, reference, f"ok: {sessions or 0} session(s)"))
        emptied = [records.compact(), compact(console)]   # both, whatever the first one met
        if not all(emptied):   # a reader held on for 30 s: its pages go at the next checkpoint
            log.warning("forget: a reader kept part of the old data in a WAL file; it goes at the next checkpoint")
    finally:
        console.close()
        if own_store:
            records.close()
    return Forgotten(sessions or 0, reference)


def _erase_from_copy(path: Path, patient: str, reference: str) -> None:
    """The patient out of a copy kept by a restore (records or console data, any schema)."""
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    except sqlite3.Error:
        return
    try:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA foreign_keys=ON")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        db.execute("BEGIN IMMEDIATE")
        for table, column in (("sessions", "patient"), ("patients", "id"), ("console_patients", "pseudonym")):
            if table in tables:
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (patient,))
        if "access_log" in tables:
            db.execute("UPDATE access_log SET patient = ? WHERE patient = ?", (reference, patient))
        db.execute("COMMIT")
        db.execute("VACUUM")
    except sqlite3.Error as exc:
        log.warning("could not take the patient out of %s (%s): it is removed instead", path, exc)
        db.close()
        path.unlink(missing_ok=True)
        return
    db.close()


def record_files(state_dir: Path) -> list[Path]:
    """The two databases of the box (those that exist)."""
    return [p for p in (Path(state_dir) / DB_NAME, console_store.console_db_path(state_dir)) if p.exists()]
