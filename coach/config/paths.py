"""Where the box keeps things: one rule for the service, for the commands the therapist's guide
gives (`sudo -u rugcoach rugcoach report ...`), for calibration and for the console.

- Under systemd the unit says it: $STATE_DIRECTORY (/var/lib/rugcoach), $CACHE_DIRECTORY.
- Run as the service's own user outside the unit (`sudo -u rugcoach ...`), the same folders as the
  service, not that user's home: its home is /var/lib/rugcoach, and ~/.local/state/rugcoach there
  would be a second, empty set of records that the service never reads.
- Anyone else (a developer, a test): $XDG_STATE_HOME/rugcoach, else ~/.local/state/rugcoach;
  $XDG_CACHE_HOME/rugcoach, else ~/.cache/rugcoach.
- The control socket: $RUNTIME_DIRECTORY/rugcoach.sock under systemd (/run/rugcoach), else beside
  the records (`control_socket`).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

SERVICE_USER = "rugcoach"                       # made by scripts/install.sh
SERVICE_STATE = Path("/var/lib/rugcoach")        # the unit's StateDirectory=rugcoach
SERVICE_CACHE = Path("/var/cache/rugcoach")      # the unit's CacheDirectory=rugcoach


def _user() -> str | None:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def state_dir(env: Mapping[str, str] | None = None, user: str | None = None) -> Path:
    """The box's records, calibration and (later) certificates and voice packs."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if (user if user is not None else _user()) == SERVICE_USER:
        return SERVICE_STATE
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "rugcoach"


def cache_dir(env: Mapping[str, str] | None = None, user: str | None = None) -> Path:
    """The phrase cache (synthesised sentences): rebuilt when lost."""
    env = os.environ if env is None else env
    if env.get("CACHE_DIRECTORY"):
        return Path(env["CACHE_DIRECTORY"].split(":")[0]) / "phrases"
    if (user if user is not None else _user()) == SERVICE_USER:
        return SERVICE_CACHE / "phrases"
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "rugcoach" / "phrases"


SERVICE_RUNTIME = Path("/run/rugcoach")          # the unit's RuntimeDirectory=rugcoach
SOCKET_NAME = "rugcoach.sock"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except PermissionError:
        return True   # there, behind the service's group: connecting says what to do about it


def control_socket(env: Mapping[str, str] | None = None, user: str | None = None) -> Path:
    """The daemon's control socket (docs/api.md). The service's is $RUNTIME_DIRECTORY/rugcoach.sock;
    a client elsewhere on the box (`rugcoach status`, the console) finds the service's when it
    exists; anyone else's daemon keeps it beside its records."""
    env = os.environ if env is None else env
    if env.get("RUNTIME_DIRECTORY"):
        return Path(env["RUNTIME_DIRECTORY"].split(":")[0]) / SOCKET_NAME
    if (user if user is not None else _user()) == SERVICE_USER or \
            (not env.get("STATE_DIRECTORY") and _exists(SERVICE_RUNTIME / SOCKET_NAME)):
        return SERVICE_RUNTIME / SOCKET_NAME
    return state_dir(env, user) / SOCKET_NAME
