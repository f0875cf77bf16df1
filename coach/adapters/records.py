"""A patient's session records in the box's state directory (health data: 0700 / 0600).

One JSON line per finished session, appended and flushed: the therapist's record of what the
patient did, and whether the criteria for the next phase are met. (A first store; the SQLite
records of the therapist's report replace it.)"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from coach.errors import UserError

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class PatientRecords:
    def __init__(self, state_dir: Path, patient_id: str):
        if not _SAFE_ID.match(patient_id) or patient_id in (".", ".."):
            raise UserError(f"patient id '{patient_id}' is not allowed: use 1-64 letters, digits, "
                            "'-', '_' or '.' (a pseudonym, not a name)", exit_code=2)
        self.patient_id = patient_id
        self.directory = state_dir / "patients" / patient_id
        self.path = self.directory / "sessions.jsonl"

    def history(self) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut off by a power loss: the others stand
        return records

    def append(self, record: dict) -> dict:
        record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "patient": self.patient_id, **record}
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise UserError(f"cannot write the session record '{self.path}': {exc.strerror}") from None
        return record
