"""The clinic's patients and their programmes, as the console keeps them.

The console keeps them in its own file, console.db (coach/adapters/console_store.py); the daemon's
records (`patients`, `sessions`, ...) stay the daemon's: it writes a patient there when a session
of theirs starts. Forgetting a patient is the records service's (both files at once): `forget`
is not here. A programme is kept as the
text of a protocol document in the bundled format (demo.yaml: which exercises, with which doses),
validated by the very code of `rugcoach check` before it is stored, so whatever the console saves,
`rugcoach check` accepts, and the daemon validates it once more when the session is chosen.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from pathlib import Path

import yaml

from coach.adapters import console_store
from coach.adapters.store import check_patient_id
from coach.config.protocols import Library, load_text
from coach.errors import ProtocolError, UserError

DOSES = ("repetitions", "hold_s", "rest_s")
# A limb exercise's sides, as the programme editor offers them: the console's word for each, and
# the programme's `sides` and `side_change` it stands for ("" leaves the exercise's own).
SIDE_CHOICES = {
    "every": (["links", "rechts"], "every"),   # left and right in turn
    "half": (["links", "rechts"], "half"),     # all left first, then right
    "links": (["links"], None),                # one side only
    "rechts": (["rechts"], None),
}
MAX_TEXT = 500
# `programme of P-1:5: programme[0].hold_s: ...` -> the item and the field it is about
_PROBLEM = re.compile(r"^[^:]*:\d+: programme\[(\d+)\]\.(\w+): (.*)$")


class PatientError(ValueError):
    """Refused input; `field` names the form field the (Dutch) message belongs beside."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class Patients:
    def __init__(self, state_dir: Path | None = None, library: Library | None = None, db=None):
        # `db`: another connection of the same tables (the clinic store's, coach/clinic/console.py)
        self.db = db if db is not None else console_store.connect(state_dir or Path("."))
        self.lock = threading.Lock()
        self.library = library or Library()

    def close(self) -> None:
        with self.lock:   # not under a worker thread's query
            self.db.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def search(self, text: str = "") -> list[dict]:
        like = f"%{text.strip()}%"
        rows = self._rows("SELECT pseudonym, name, note, programme IS NOT NULL FROM console_patients "
                          "WHERE pseudonym LIKE ? OR coalesce(name, '') LIKE ? ORDER BY pseudonym LIMIT 200",
                          (like, like))
        return [{"pseudonym": p, "name": n, "note": note, "has_programme": bool(has)} for p, n, note, has in rows]

    def get(self, pseudonym: str) -> dict | None:
        rows = self._rows("SELECT pseudonym, name, note, programme, volume, rate_wpm FROM console_patients "
                          "WHERE pseudonym = ?",
                          (pseudonym,))
        if not rows:
            return None
        p, n, note, programme, volume, rate = rows[0]
        return {"pseudonym": p, "name": n, "note": note, "programme": programme, "volume": volume, "rate_wpm": rate,
                "exercises": [_with_side_choice(item) for item in self.items_of(programme)] if programme else []}

    def add(self, pseudonym: str, name: str = "", note: str = "") -> dict:
        pseudonym = (pseudonym or "").strip()
        try:
            check_patient_id(pseudonym)
        except UserError:
            raise PatientError("pseudonym", "Gebruik 1 tot 64 letters, cijfers of . _ - (geen naam: een "
                                            "pseudoniem, zoals P-0042).") from None
        if len(name or "") > MAX_TEXT or len(note or "") > MAX_TEXT:
            raise PatientError("note" if len(note or "") > MAX_TEXT else "name",
                               f"Hoogstens {MAX_TEXT} tekens.")
        try:
            self._rows("INSERT INTO console_patients (pseudonym, name, note, updated) VALUES (?, ?, ?, ?)",
                       (pseudonym, (name or "").strip() or None, (note or "").strip() or None, _now()))
        except sqlite3.IntegrityError:
            raise PatientError("pseudonym", "Deze patiënt bestaat al.") from None
        return {"pseudonym": pseudonym, "name": name or None, "note": note or None}

    def set_voice(self, pseudonym: str, volume, rate_wpm) -> None:
        """A patient's own volume and speaking rate (None: the box's own), checked as the box's."""
        from coach.config.box_settings import check

        values = {name: value for name, value in (("volume", volume), ("rate_wpm", rate_wpm)) if value is not None}
        problems = check(values)
        if problems:
            field = problems[0].field
            raise PatientError(field, "Kies een volume van 30 tot 100%." if field == "volume"
                               else "Kies een spreektempo van 115 tot 155 woorden per minuut.")
        if self.get(pseudonym) is None:
            raise PatientError("pseudonym", "Deze patiënt bestaat niet (meer).")
        self._rows("UPDATE console_patients SET volume = ?, rate_wpm = ?, updated = ? WHERE pseudonym = ?",
                   (volume, rate_wpm, _now(), pseudonym))

    def programmes(self) -> list[tuple[str, str]]:
        """Every patient's own programme: (pseudonym, protocol text), all of them."""
        return [(p, text) for p, text in self._rows(
            "SELECT pseudonym, programme FROM console_patients WHERE programme IS NOT NULL ORDER BY pseudonym")]

    def set_programme(self, pseudonym: str, exercises: list[dict]) -> str:
        """Validate and store a patient's programme; returns its text. PatientError names the
        first problem's field as `exercises.I.FIELD`."""
        if self.get(pseudonym) is None:
            raise PatientError("form", "Deze patiënt bestaat niet (meer).")
        text = self.programme_text(pseudonym, exercises)
        self._rows("UPDATE console_patients SET programme = ?, updated = ? WHERE pseudonym = ?",
                   (text, _now(), pseudonym))
        return text

    def programme_text(self, pseudonym: str, exercises: list[dict]) -> str:
        if not isinstance(exercises, list) or not exercises:
            raise PatientError("exercises", "Kies minstens één oefening.")
        if len(exercises) > 30:
            raise PatientError("exercises", "Hoogstens 30 oefeningen.")
        items = []
        for index, item in enumerate(exercises):
            if not isinstance(item, dict) or not isinstance(item.get("exercise"), str):
                raise PatientError(f"exercises.{index}.exercise", "Kies een oefening.")
            entry: dict = {"exercise": item["exercise"]}
            for dose in DOSES:
                value = item.get(dose)
                if value in (None, ""):
                    continue
                try:
                    entry[dose] = int(value) if dose == "repetitions" else float(value)
                except (TypeError, ValueError):
                    raise PatientError(f"exercises.{index}.{dose}", "Vul een getal in.") from None
                if not math.isfinite(entry[dose]):
                    raise PatientError(f"exercises.{index}.{dose}", "Vul een getal in.")
            choice = item.get("sides") or ""
            if choice:
                if not isinstance(choice, str) or choice not in SIDE_CHOICES:
                    raise PatientError(f"exercises.{index}.sides", "Kies welke kant.")
                sides, change = SIDE_CHOICES[choice]
                entry["sides"] = sides
                if change:
                    entry["side_change"] = change
            items.append(entry)
        text = yaml.safe_dump({"title": f"Programma van {pseudonym}", "programme": items},
                              allow_unicode=True, sort_keys=False)
        self.validate(text, pseudonym)
        return text

    def validate(self, text: str, pseudonym: str) -> None:
        """The checks of `rugcoach check`, and the programme made into a session as the daemon will."""
        try:
            own = load_text(text, Path(f"programme of {pseudonym}"))
            problems = own.programme_problems(self.library.exercises)
            if problems:
                raise ProtocolError(problems)
            self.library.session(protocol=own)
        except ProtocolError as exc:
            raise _field_error(exc.problems[0]) from None
        except UserError as exc:
            raise PatientError("exercises", str(exc)) from None

    def items_of(self, text: str) -> list[dict]:
        data = yaml.safe_load(text) or {}
        return list(data.get("programme") or [])

    def exercises(self) -> list[dict]:
        """The bundled library, for the programme editor: id, title, phase and default doses."""
        return [{"id": e.id, "title": e.title, "phase": e.phase, "uses_pbu": e.uses_pbu,
                 "repetitions": e.repetitions, "hold_s": e.hold_s, "rest_s": e.rest_s,
                 "sides": list(getattr(e, "sides", ())), "side_change": getattr(e, "side_change", None)}
                for e in self.library.exercises.values()]


_RANGE = re.compile(r"out of range \(a (whole )?number from ([\d.]+) to ([\d.]+)( s)?\)")


def _with_side_choice(item: dict) -> dict:
    """A stored programme item as the editor shows it: its sides as one of SIDE_CHOICES."""
    item = dict(item)
    sides, change = item.pop("sides", None), item.pop("side_change", None)
    if sides is not None or change is not None:
        found = [name for name, (s, c) in SIDE_CHOICES.items()
                 if s == (sides or ["links", "rechts"]) and (c == change or (c == "every" and change is None))]
        item["sides"] = found[0] if found else ""
    return item


def _field_error(problem: str) -> PatientError:
    match = _PROBLEM.match(problem)
    if match is None:
        return PatientError("exercises", problem.split(": ", 1)[-1])
    index, field, message = match.groups()
    return PatientError(f"exercises.{index}.{field}", in_dutch(message))


def in_dutch(message: str) -> str:
    """The schema's checks, said for the therapist (the schema's English stays for `check`)."""
    bounds = _RANGE.search(message)
    if bounds:
        whole, low, high, seconds = bounds.groups()
        kind = "een heel getal" if whole else "een getal"
        return f"Kies {kind} van {low} tot en met {high}{' seconden' if seconds else ''}."
    if message.startswith("unknown exercise"):
        return "Deze oefening bestaat niet."
    if "moves no limb" in message:
        return "Deze oefening heeft geen linker- en rechterkant."
    return message


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
