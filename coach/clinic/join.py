"""A box that was used alone joins its practice's clinic store: its accounts and its patients
with their programmes go up once (its finished sessions and its access log follow with the
clinic link, by their own ids). Where the clinic already has an account of the same name, or a
patient of the same pseudonym, with other contents, a person decides which to keep: asked one
by one at a terminal, or for all at once with `--keep clinic` / `--keep box`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from coach.adapters import console_store
from coach.clinic.schema import MIRRORED, patient_hash

# what a clash is judged on (a hash differs at every password change, so an account's role and
# password hash; a patient's name, note, programme and voice)
_KEYS = {"accounts": "name", "console_patients": "pseudonym"}


@dataclass(frozen=True)
class Clash:
    table: str
    key: str
    box: dict
    clinic: dict

    def describe(self) -> str:
        what = "account" if self.table == "accounts" else "patient"
        differs = sorted(k for k in self.box if k not in ("created", "updated", "password", "totp_last")
                         and self.box[k] != self.clinic.get(k))
        if self.table == "accounts" and self.box["password"] != self.clinic["password"]:
            differs.append("password")
        return f"{what} '{self.key}' is on this box and in the clinic store, with another {', '.join(differs)}"


@dataclass
class JoinPlan:
    new: dict[str, list[dict]]
    clashes: list[Clash]


def local_rows(state_dir: Path) -> dict[str, list[dict]]:
    with closing(console_store.connect(state_dir)) as db:
        return {table: [dict(zip(MIRRORED[table], row, strict=True)) for row in
                        db.execute(f"SELECT {', '.join(MIRRORED[table])} FROM {table}")]
                for table in _KEYS}


def plan(db, state_dir: Path) -> JoinPlan:
    new: dict[str, list[dict]] = {table: [] for table in _KEYS}
    clashes: list[Clash] = []
    erased = {digest for (digest,) in db.execute("SELECT patient_hash FROM erasures")}
    for table, rows in local_rows(state_dir).items():
        key = _KEYS[table]
        columns = MIRRORED[table]
        for row in rows:
            if table == "console_patients" and patient_hash(row[key]) in erased:
                continue   # forgotten in the clinic: never brought back (the clinic link erases them here)
            found = db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = %s", (row[key],)).fetchone()
            if found is None:
                new[table].append(row)
                continue
            clinic = dict(zip(columns, found, strict=True))
            same = all(row[c] == clinic[c] for c in columns if c not in ("created", "updated", "totp_last"))
            if not same:
                clashes.append(Clash(table, row[key], row, clinic))
    return JoinPlan(new, clashes)


def carry_out(db, joining: JoinPlan, keep: Callable[[Clash], str], settings: list[tuple[str, str]],
              box_name: str) -> dict:
    """Upload what is new, and the box's side of each clash where `keep(clash)` says "box" (or,
    with "console", leave the choice to an admin in a console: coach/clinic/console.py); the
    box's console settings (two-step login required) where the clinic has none yet."""
    from psycopg.types.json import Jsonb
    counts = {"accounts": 0, "patients": 0, "kept_from_box": 0, "kept_from_clinic": 0, "left_to_console": 0}
    with db.transaction():
        for table, rows in joining.new.items():
            for row in rows:
                upsert(db, table, row)
                counts["accounts" if table == "accounts" else "patients"] += 1
        for clash in joining.clashes:
            choice = keep(clash)
            if choice == "box":
                upsert(db, clash.table, clash.box)
                counts["kept_from_box"] += 1
            elif choice == "console":
                db.execute("INSERT INTO join_clashes (box, kind, key, box_row) VALUES (%s, %s, %s, %s)",
                           (box_name, clash.table, clash.key, Jsonb(clash.box)))
                counts["left_to_console"] += 1
            else:
                counts["kept_from_clinic"] += 1
        for key, value in settings:
            db.execute("INSERT INTO console_settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                       (key, value))
    return counts


def upsert(db, table: str, row: dict) -> None:
    """The row in force in the clinic store (`db`: a psycopg connection, or the console's
    ClinicTables, which takes psycopg's %s as well)."""
    columns = list(row)
    key = _KEYS[table]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
               f"ON CONFLICT ({key}) DO UPDATE SET {updates}", tuple(row.values()))


def box_settings(state_dir: Path) -> list[tuple[str, str]]:
    try:
        with closing(console_store.connect(state_dir)) as db:
            return db.execute("SELECT key, value FROM console_settings WHERE key = 'totp_required'").fetchall()
    except sqlite3.Error:
        return []
