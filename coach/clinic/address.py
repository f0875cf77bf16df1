"""Where the clinic store is, the box's secret for it, and one way to connect.

The address is a libpq connection URL or a service name (`service=praktijk`, from the system's
pg_service.conf). `rugcoach clinic join` keeps it in the box's own state (clinic.json, with the box's
id and never a password); a `clinic:` line in the config names it too, the joined one winning.
The box's password lives in clinic-secret (0600, the service's own file); a password written
in the URL is moved there by `join`, never kept in the config or the repository.

TLS: with a TCP host and no `sslmode` of its own, the connection asks `verify-full` (the server's
certificate checked against the system's CAs, or `sslrootcert=` in the URL, and its name against
the host). A Unix-socket host needs no TLS.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from coach.errors import UserError

JOINED = "clinic.json"
SECRET = "clinic-secret"
CONNECT_TIMEOUT_S = 3          # a practice's LAN answers in milliseconds; a cut one never
# a connection whose network is cut mid-query fails within seconds, not TCP's minutes
TCP_OPTIONS = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2,
               "tcp_user_timeout": 5000}


# A box's statement waits this long at most for a table the owner holds (`rugcoach clinic purge`
# rewriting it): then the console serves its copy and the link tries again later, as when the
# store is away, instead of a click hanging for the minutes a rewrite may take.
BOX_LOCK_TIMEOUT_MS = 3000


class StoreAway(UserError):
    """The clinic store cannot be reached (stopped, the network cut, refused)."""


@dataclass(frozen=True)
class ClinicAddress:
    url: str                   # without a password
    box_id: str                # this box's own id in the store
    box_name: str              # its room, as the consoles show it
    secret_file: Path

    def conninfo(self) -> str:
        return conninfo(self.url, read_secret(self.secret_file), lock_timeout_ms=BOX_LOCK_TIMEOUT_MS)


def conninfo(url: str, password: str | None, lock_timeout_ms: int | None = None) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    try:
        params = conninfo_to_dict(url)
    except Exception as exc:   # psycopg.ProgrammingError: an address that does not parse
        raise UserError(f"the clinic store's address does not read: {exc}", exit_code=2) from None
    host = str(params.get("host") or "")
    extra: dict = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "rugcoach"}
    # always (libpq leaves them out on a Unix socket): a host from a service file or PGHOST too
    extra.update({k: v for k, v in TCP_OPTIONS.items() if k not in params})
    if host and not host.startswith("/") and "sslmode" not in params and "service" not in params:
        extra["sslmode"] = "verify-full"
    if password:
        extra["password"] = password
    if lock_timeout_ms is not None:
        extra["options"] = f"{params.get('options') or ''} -c lock_timeout={lock_timeout_ms}".strip()
    return make_conninfo(url, **extra)


def without_password(url: str) -> tuple[str, str | None]:
    """The URL with its password taken out, and the password (None when it had none)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    if password is None:
        return url, None
    return make_conninfo("", **params), str(password)


def read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(f"the clinic store's secret in {path} cannot be read: {exc.strerror}") from None


def write_private(path: Path, text: str) -> None:
    """Whole or not at all (a rename), 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".clinic-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
        if os.geteuid() == 0:   # `sudo rugcoach clinic join`: the service's file, not root's
            owner = path.parent.stat()
            os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
    os.replace(tmp, path)


def joined(state_dir: Path) -> dict | None:
    try:
        data = json.loads((state_dir / JOINED).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError(f"the clinic settings in {state_dir / JOINED} cannot be read ({exc}): "
                        f"join again with `rugcoach clinic join`") from None
    return data if isinstance(data, dict) and data.get("url") else None


def remember(state_dir: Path, url: str, password: str | None) -> dict:
    """Keep the store's address (and the box's id: the one it had, else a new one)."""
    before = joined(state_dir) or {}
    same_role = before and _user_of(before.get("url", "")) == _user_of(url)
    # the box's id stays with its role: joined again under another, it is another box's row
    data = {"url": url, "box_id": (before.get("box_id") if same_role else None) or str(uuid.uuid4()),
            "joined": before.get("joined") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if password is not None:
        write_private(state_dir / SECRET, password + "\n")
    write_private(state_dir / JOINED, json.dumps(data, indent=2) + "\n")
    return data


def _user_of(url: str) -> str | None:
    from psycopg.conninfo import conninfo_to_dict
    try:
        return str(conninfo_to_dict(url).get("user") or "") or None
    except Exception:   # an address that does not parse has no user
        return None


def address(state_dir: Path, config_clinic: str | None, box_name: str | None) -> ClinicAddress | None:
    """The store this box uses, or None for a box on its own."""
    data = joined(state_dir)
    if data is None and not config_clinic:
        return None
    if data is None:   # the config named it: the box gets its id; a password written there goes to the secret file
        url, password = without_password(str(config_clinic))
        data = remember(state_dir, url, password)
    return ClinicAddress(url=str(data["url"]), box_id=str(data["box_id"]),
                         box_name=box_name_of(state_dir, box_name), secret_file=state_dir / SECRET)


def box_name_of(state_dir: Path, configured: str | None) -> str:
    """The box's name (its room): the config's, else the one the practice gave it in the
    console, else the host's."""
    if configured:
        return configured
    from coach.config import box_settings
    return box_settings.load(state_dir / box_settings.FILE_NAME).get("name") or socket.gethostname()


def connect(target: ClinicAddress | str, password: str | None = None, autocommit: bool = True):
    """A psycopg connection, or StoreAway in one line."""
    import psycopg
    info = target.conninfo() if isinstance(target, ClinicAddress) else conninfo(target, password)
    try:
        return psycopg.connect(info, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise StoreAway(f"the clinic store cannot be reached: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
