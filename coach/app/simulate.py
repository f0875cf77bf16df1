"""`rugcoach run --simulate` (and `rugcoach demo`): one session with the built-in simulated patient,
on the session clock of its samples; paced to the wall clock only for a real sound device."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from coach.adapters.audio import open_sink
from coach.adapters.files import EventWriter, TraceWriter
from coach.app.options import RunOptions
from coach.app.runner import SessionRunner
from coach.app.wiring import Setup, finish_record, make_sounds, open_store
from coach.sim.patient import SimulatedPatient

log = logging.getLogger("rugcoach")


@dataclass
class SimulatedSource:
    """Samples from the simulated patient at `rate_hz`; paced to the wall clock when `realtime`."""

    patient: SimulatedPatient
    rate_hz: float = 50.0
    realtime: bool = False
    max_s: float = 4 * 3600.0

    def __iter__(self) -> Iterator[tuple[float, float] | None]:
        step = 1.0 / self.rate_hz
        wall0 = time.monotonic()
        k = 0
        while k * step < self.max_s:
            k += 1
            t = k * step
            if self.realtime:
                delay = wall0 + t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield t, self.patient.pressure(t)


def on_sigterm(stop: Callable[[], None]) -> None:
    """SIGTERM finishes the sentence being spoken and stops the session (a flag, no more)."""
    def handler(_signum, _frame):
        stop()   # no logging here: a handler may interrupt a log line being written
    signal.signal(signal.SIGTERM, handler)


def run_simulated(options: RunOptions, setup: Setup, audio=None) -> int:
    """One session with the built-in simulated patient. Recorded when a patient is named."""
    store = open_store() if setup.patient is not None else None
    events = trace = recorder = None
    try:
        # A device asked for on the command line must be there; the configured one is waited for.
        audio = audio or open_sink(options.audio or setup.config.audio, required=options.audio is not None)
        events_path = options.events or setup.config.events
        events = EventWriter(events_path) if events_path else None
        trace = TraceWriter(options.trace) if options.trace else None
        started = time.monotonic()
        sounds = make_sounds(setup.config)
        new = sounds.prepare(setup.sentences())
        log.info("speech ready: %d sentence(s) synthesised, the rest from the cache (%.1f s)",
                 new, time.monotonic() - started)
        runner = SessionRunner(setup.coach(sounds), sounds, audio, events, trace)
        on_sigterm(lambda: setattr(runner, "stop_requested", True))
        if store is not None:
            runner.recorder = recorder = store.begin_session(setup.patient, setup.protocol, setup.exercises())
        seed = options.seed if options.seed is not None else int(time.time())
        patient = SimulatedPatient(setup.session, seed=seed)
        runner.listeners.append(patient)
        runner.run(SimulatedSource(patient, rate_hz=options.rate, realtime=audio.realtime))
        if recorder is not None:
            finish_record(store, recorder, setup, "done" if runner.coach.finished else "stopped", runner.voices)
    finally:
        for part in (audio, events, trace, store):
            if part is not None:
                part.close()
    return 0


def record_simulated_session(store, patient, session, seed=0, behaviour=None, rate_hz=25.0):
    """One simulated session into `store`, through the very runner and recorder the daemon uses
    (no audio, estimated speech lengths): for the report's tests and benchmark. Returns the
    recorder (with .reps)."""
    from coach.adapters.audio import NullSink
    from coach.app.wiring import exercises_for_record
    from coach.core.coach import Coach
    from coach.core.progress import summarise
    from coach.sim.core_run import EstimatedSounds, estimated_duration
    from coach.sim.patient import Behaviour

    recorder = store.begin_session(patient, "test", exercises_for_record(session))
    runner = SessionRunner(Coach(session, estimated_duration), EstimatedSounds(), NullSink(),
                           recorder=recorder)
    patient_model = SimulatedPatient(session, seed=seed, behaviour=behaviour or Behaviour())
    runner.listeners.append(patient_model)
    runner.run(SimulatedSource(patient_model, rate_hz=rate_hz))
    summary = summarise(recorder.reps, {e.id: e.phase for e in session.exercises})
    recorder.finish("done", summary, {"1": summary["good_fraction"].get("1", 0) >= 0.8})
    return recorder
