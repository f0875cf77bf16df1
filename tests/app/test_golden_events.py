"""The event contract (CONTRACT section 5) does not drift: fixed simulated sessions, through the
very runner and event writer the daemon uses, give byte-identical JSON lines to the stored ones.

A deliberate change of the contract regenerates the file (`python -m tests.app.test_golden_events`)
and says so in its commit; anything else that changes a byte is a regression."""

from __future__ import annotations

import io
from dataclasses import replace

from coach.adapters.audio import NullSink
from coach.adapters.files import EventWriter
from coach.app.runner import SessionRunner
from coach.app.simulate import SimulatedSource
from coach.config.protocols import Library
from coach.core.coach import Coach
from coach.sim.core_run import EstimatedSounds, estimated_duration
from coach.sim.patient import Behaviour, SimulatedPatient
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "events.jsonl"

# (what is coached, the patient's seed and behaviour): every kind of event of the contract
SESSIONS = [
    ("demo", None, 7, Behaviour()),
    ("demo", None, 5, Behaviour(pushes=True)),
    (None, "buiklig-b", 3, Behaviour(holds_breath=True)),
    (None, "ruglig-a", 4, Behaviour(gets_off_in_rep=2)),
    (None, "zit-b", 6, Behaviour(moves_pelvis_at=2.0)),
    (None, "halters-buigen", 1, Behaviour()),
    (None, "brug", 2, Behaviour()),
]


def session_events() -> str:
    library = Library()
    out = io.StringIO()
    for protocol, exercise, seed, behaviour in SESSIONS:
        session = library.session(protocol=protocol, exercise=exercise)
        if exercise is not None:   # short doses: every kind of sentence, a fraction of the time
            session = replace(session, exercises=tuple(
                e.with_dose(repetitions=min(e.repetitions, 4), rest_s=min(e.rest_s, 5.0)) for e in session.exercises))
        writer = EventWriter.to_stream(out)
        patient = SimulatedPatient(session, seed=seed, behaviour=behaviour)
        runner = SessionRunner(Coach(session, estimated_duration), EstimatedSounds(), NullSink(), writer,
                               listeners=[patient])
        runner.run(SimulatedSource(patient, rate_hz=25.0))
    return out.getvalue()


def test_the_events_of_fixed_sessions_are_byte_identical():
    expected = GOLDEN.read_text(encoding="utf-8")
    got = session_events()
    assert got == expected, "the event output changed: if that is meant, regenerate tests/golden/events.jsonl"
    kinds = {line.split('"type": "', 1)[1].split('"', 1)[0] for line in got.splitlines()}
    assert {"state", "cue", "say", "rep", "correction", "compensation"} <= kinds


if __name__ == "__main__":
    GOLDEN.write_text(session_events(), encoding="utf-8")
    print(f"wrote {GOLDEN}")
