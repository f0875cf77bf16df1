"""`python3 -m coach.adapters.upgrade_check STATE_DIR`: may this checkout be installed over the
box's records? Run by `make install` with the system's Python before anything is copied (it
needs nothing but the standard library): records from a newer RugCoach (a schema this code does
not know) are refused in one line, and the box is left as it is."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from coach.adapters import console_store, store
from coach.adapters.state_files import CONSOLE_DB, DB_NAME


def schema_of(path: Path) -> int | None:
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def refusal(state_dir: Path) -> str | None:
    """Why this code must not be installed over these records, or None."""
    for name, known, what in ((DB_NAME, store.SCHEMA_VERSION, "session records"),
                              (CONSOLE_DB, console_store.SCHEMA_VERSION, "console's data")):
        try:
            found = schema_of(state_dir / name)
        except sqlite3.Error as exc:
            return f"the {what} in {state_dir / name} cannot be read ({exc}): nothing was installed"
        if found is not None and found > known:
            return (f"the {what} in {state_dir / name} are from a newer RugCoach (schema {found}; this one "
                    f"knows {known}): installing this older version would break the box, so nothing was "
                    "installed. Install the newer version (git pull, then sudo make install).")
    return None


def main(argv: list[str]) -> int:
    problem = refusal(Path(argv[0]) if argv else Path("/var/lib/rugcoach"))
    if problem:
        print(f"install: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
