"""Fill a session store with simulated sessions, through the very runner and recorder the daemon
uses (no audio, estimated speech lengths): for the report's tests and the report benchmark."""

from __future__ import annotations

from coach.adapters.audio import NullSink
from coach.app.runner import SessionRunner
from coach.app.simulate import SimulatedSource
from coach.app.wiring import exercises_for_record
from coach.core.coach import Coach
from coach.sim.patient import Behaviour, SimulatedPatient


def estimated_duration(sound: str) -> float:
    """Speech lengths close to espeak-ng's at 135 wpm."""
    return 0.4 if sound.startswith("tone:") else 0.25 + 0.065 * len(sound)


class EstimatedSounds:
    duration = staticmethod(estimated_duration)

    def samples(self, sound):
        return None


def record_session(store, patient, session, seed=0, behaviour=None, rate_hz=25.0):
    """One simulated session into `store`; returns its recorder (with .reps)."""
    from coach.core.progress import summarise

    recorder = store.begin_session(patient, "test", exercises_for_record(session))
    runner = SessionRunner(Coach(session, estimated_duration), EstimatedSounds(), NullSink(),
                           recorder=recorder)
    patient_model = SimulatedPatient(session, seed=seed, behaviour=behaviour or Behaviour())
    runner.listeners.append(patient_model)
    runner.run(SimulatedSource(patient_model, rate_hz=rate_hz))
    summary = summarise(recorder.reps, {e.id: e.phase for e in session.exercises})
    recorder.finish("done", summary, {"1": summary["good_fraction"].get("1", 0) >= 0.8})
    return recorder
