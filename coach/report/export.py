"""`rugcoach export --patient ID`: everything the box holds about one patient, in open formats.

    patient.json               the patient and a list of the sessions (with their summaries)
    herhalingen-ID.csv         every repetition (the report's CSV)
    session-N/trace.csv        the raw trace, CONTRACT section 4: `rugcoach analyze` reads it
    session-N/events.jsonl     the session's rep, correction and compensation events (section 5)

For the patient's right of access, or the therapist's own files. The folder is 0700 and the files
0600: it holds health data, and it is the only way data leaves the box.
"""

from __future__ import annotations

import json
from pathlib import Path

from coach.adapters.files import EventWriter, TraceWriter
from coach.adapters.store import Store, check_patient_id, private_files
from coach.core.events import Compensation, Correction, Repetition
from coach.errors import UserError
from coach.report.build import csv_name, repetitions_csv


def export_patient(store: Store, patient: str, out: Path) -> Path:
    check_patient_id(patient)
    known = {p["id"]: p for p in store.patients()}
    if patient not in known:
        raise UserError(f"no patient '{patient}' in the records", exit_code=2)
    sessions = store.sessions(patient)
    try:
        with private_files():
            out.mkdir(parents=True, exist_ok=True)
            (out / "patient.json").write_text(json.dumps(
                {"patient": known[patient], "sessions": sessions}, indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8")
            (out / csv_name(patient)).write_text(repetitions_csv(store, patient), encoding="utf-8")
            for number, session in enumerate(sessions, 1):
                folder = out / f"session-{number}"
                folder.mkdir(exist_ok=True)
                trace = TraceWriter(str(folder / "trace.csv"))
                for t, mmhg, cue in store.trace(session["id"]):
                    trace.write(t, mmhg, cue)
                trace.close()
                events = EventWriter(str(folder / "events.jsonl"))
                for event in session_events(store, session["id"]):
                    events.write(event)
                events.close()
    except OSError as exc:
        raise UserError(f"cannot export to '{out.resolve()}': {exc.strerror}; give a folder you can "
                        "write with --out, e.g. --out /tmp/export", exit_code=1) from None
    return out


def session_events(store: Store, session_id: int) -> list[dict]:
    """A stored session's events in the contract's form, in time order."""
    events = [Repetition(r.t, r.exercise, r.rep, r.start, r.end, r.held_s, r.change, r.verdict).as_dict()
              for r in store.repetitions(session_id)]
    events += [Correction(c["t"], c["kind"]).as_dict() for c in store.corrections(session_id)]
    events += [Compensation(c["t"], c["kind"], c["start"], c["end"]).as_dict()
               for c in store.compensations(session_id)]
    return sorted(events, key=lambda e: e["t"])
