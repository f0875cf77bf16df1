"""Personal accounts and the access log, in the console's own file (coach/adapters/console_store.py).

The console owns console.db; the daemon writes it only when it forgets a patient or puts a
backup back (its records service), and the console never writes the daemon's records. Passwords
are kept as scrypt hashes (hashlib, RFC 7914), never as text. NEN 7510 rules out shared
accounts, so there is none: each therapist has their own, with a role (admin or therapist).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from coach.adapters import console_store
from coach.console import totp

ROLES = ("admin", "therapist")
MIN_PASSWORD = 10            # characters: a passphrase, not a PIN
MAX_PASSWORD = 256
# scrypt: 16 MiB and some 50 ms here (0.3 s on a Raspberry Pi 4) per attempt. Stored with the
# hash, so stronger parameters later leave old hashes readable.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1

class AccountError(ValueError):
    """A refused account change; `field` is the form field the message belongs beside (Dutch)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    totp: bool = False   # logs in with a one-time code as well

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=64 * 1024 * 1024, dklen=len(digest) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(found.hex(), digest)


# A dummy hash to verify against for unknown names, so a wrong name takes as long as a wrong
# password and the answer's timing does not tell which accounts exist.
_DUMMY = hash_password(secrets.token_hex(8))


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not 2 <= len(name) <= 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise AccountError("name", "Gebruik 2 tot 64 letters, cijfers of . _ - @.")
    return name


def check_password(password: str, name: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError("password", f"Kies een wachtwoord van minstens {MIN_PASSWORD} tekens.")
    if len(password) > MAX_PASSWORD:
        raise AccountError("password", f"Een wachtwoord heeft hoogstens {MAX_PASSWORD} tekens.")
    if password.lower() == name.lower():
        raise AccountError("password", "Het wachtwoord mag niet gelijk zijn aan de naam.")
    return password


class Accounts:
    """The accounts and the access log. One connection per console process; SQLite's WAL lets
    the daemon write its own tables meanwhile."""

    def __init__(self, state_dir: Path | None = None, db=None):
        # `db`: another connection of the same tables (the clinic store's, coach/clinic/console.py)
        self.db = db if db is not None else console_store.connect(state_dir or Path("."))
        self.lock = threading.Lock()   # scrypt runs off the event loop, on a worker thread

    def close(self) -> None:
        with self.lock:   # not under a worker thread's query
            self.db.close()

    def _execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def count(self) -> int:
        return self._execute("SELECT count(*) FROM accounts")[0][0]

    def add(self, name: str, password: str, role: str) -> Account:
        name = check_name(name)
        check_password(password, name)
        if role not in ROLES:
            raise AccountError("role", "Kies beheerder of therapeut.")
        try:
            self._execute("INSERT INTO accounts (name, role, password, created) VALUES (?, ?, ?, ?)",
                            (name, role, hash_password(password), _now()))
        except sqlite3.IntegrityError:
            raise AccountError("name", "Deze naam bestaat al.") from None
        return Account(name, role)

    def verify(self, name: str, password: str) -> Account | None:
        rows = self._execute("SELECT name, role, password, totp_secret IS NOT NULL FROM accounts WHERE name = ?",
                             ((name or "").strip(),))
        row = rows[0] if rows else None
        if row is None:
            verify_password(password or "", _DUMMY)
            return None
        return Account(row[0], row[1], bool(row[3])) if verify_password(password or "", row[2]) else None

    def get(self, name: str) -> Account | None:
        rows = self._execute("SELECT name, role, totp_secret IS NOT NULL FROM accounts WHERE name = ?", (name,))
        return Account(rows[0][0], rows[0][1], bool(rows[0][2])) if rows else None

    def all(self) -> list[Account]:
        return [Account(name, role, bool(has)) for name, role, has in self._execute(
            "SELECT name, role, totp_secret IS NOT NULL FROM accounts ORDER BY name")]

    # -- the second factor (TOTP) ------------------------------------------------------------------
    def set_totp(self, name: str, secret: str | None, used_step: int | None = None) -> None:
        """Turn an account's one-time codes on (with the secret its app holds) or off (None).
        `used_step`: the step of the code that confirmed the secret, spent with it."""
        last = used_step if secret else None
        self._execute("UPDATE accounts SET totp_secret = ?, totp_last = ? WHERE name = ?", (secret, last, name))

    def use_totp(self, name: str, given: str, unix_time: float) -> bool:
        """Whether `given` is the account's right code now, spending it: the same code never
        works twice, also not from another device within its 30 seconds."""
        with self.lock:
            rows = self.db.execute("SELECT totp_secret, totp_last FROM accounts WHERE name = ?", (name,)).fetchall()
            if not rows or rows[0][0] is None:
                return False
            step = totp.matching_step(rows[0][0], given, unix_time, rows[0][1])
            if step is None:
                return False
            # spent only if no one spent it meanwhile (another box of a clinic, at the same moment)
            spent = self.db.execute("UPDATE accounts SET totp_last = ? WHERE name = ? AND "
                                    "(totp_last IS NULL OR totp_last < ?) RETURNING name", (step, name, step))
            return bool(spent.fetchall())

    # -- the console's settings ------------------------------------------------------------------
    def totp_required(self) -> bool:
        rows = self._execute("SELECT value FROM console_settings WHERE key = 'totp_required'")
        return bool(rows) and rows[0][0] == "yes"

    def require_totp(self, required: bool) -> None:
        self._execute("INSERT INTO console_settings (key, value) VALUES ('totp_required', ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", ("yes" if required else "no",))

    # -- the access log (NEN 7513: what, when, which patient, which account) ----------------------
    def log(self, action: str, outcome: str, account: str | None = None, address: str | None = None,
            patient: str | None = None) -> None:
        self._execute("INSERT INTO access_log (at, account, address, action, patient, outcome) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (_now(), account, address, action, patient, outcome))

    def access_log(self, limit: int = 500) -> list[dict]:
        rows = self._execute("SELECT at, account, address, action, patient, outcome FROM access_log "
                               "ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(("at", "account", "address", "action", "patient", "outcome"), row)) for row in rows]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
