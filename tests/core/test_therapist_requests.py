"""The therapist's pause, resume and stop (the console, through the daemon), on the pure core:
what the patient hears, and that nothing the pause cut off is lost or done twice."""

from __future__ import annotations

from coach.core.coach import Coach
from coach.sim.core_run import estimated_duration
from coach.sim.patient import Behaviour, SimulatedPatient


class Run:
    """A session fed sample by sample, so a test can step in when it likes."""

    def __init__(self, session, seed=1):
        self.coach = Coach(session, estimated_duration)
        self.patient = SimulatedPatient(session, seed=seed, behaviour=Behaviour())
        self.events: list[dict] = []
        self.k = 0
        self.take(self.coach.begin(0.0))

    def take(self, outputs):
        for output in outputs:
            if hasattr(output, "as_dict"):
                event = output.as_dict()
                self.events.append(event)
                self.patient.hear(event)

    @property
    def t(self):
        return round(self.k * 0.02, 3)

    def step(self, pressure=None):
        self.k += 1
        mmhg = self.patient.pressure(self.t) if pressure is None else pressure
        self.take(self.coach.feed(self.t, round(mmhg, 2)))

    def until(self, predicate, limit_s=900.0):
        while not predicate() and self.t < limit_s and not self.coach.finished:
            self.step()
        assert predicate(), f"not reached by t={self.t}"

    def for_s(self, seconds, pressure=None):
        end = self.t + seconds
        while self.t < end:
            self.step(pressure)

    def said(self):
        return [e["text"] for e in self.events if e["type"] == "say"]


def test_a_pause_during_the_setup_says_the_setup_again(library):
    session = library.session(exercise="buiklig-a")
    run = Run(session)
    run.until(lambda: run.coach.state == "positioning" and len(run.said()) >= 1)
    run.take(run.coach.pause(run.t))
    run.for_s(8.0)
    run.take(run.coach.resume(run.t))
    run.until(lambda: run.coach.state == "inflating")
    setup = [s for s in session.exercises[0].setup]
    for sentence in setup:
        assert sentence in run.said(), f"the starting position was told whole after the pause: {sentence}"
    assert run.said().count("Goedendag.") == 1, "welcomed once"


def test_a_pause_after_the_last_repetition_adds_no_repetition(library):
    session = library.session(protocol="demo")
    run = Run(session)
    last = session.exercises[0].repetitions
    run.until(lambda: sum(e["type"] == "rep" for e in run.events) == last)
    run.take(run.coach.pause(run.t))
    run.for_s(5.0, pressure=20.0)       # meanwhile the bladder lost air
    run.take(run.coach.resume(run.t))
    run.until(lambda: run.coach.finished, limit_s=2000)
    assert sum(e["type"] == "rep" for e in run.events) == last


def test_resume_while_the_sensor_is_away_keeps_waiting_for_it(library):
    run = Run(library.session(exercise="buiklig-a"))
    run.until(lambda: run.coach.state == "contracting")
    run.take(run.coach.pause(run.t))
    run.take(run.coach.sensor_lost(run.t + 0.5))
    run.take(run.coach.resume(run.t + 1.0))
    assert run.coach.state == "paused" and run.coach.status().paused == "sensor"
    run.take(run.coach.sensor_back(run.t + 2.0))
    run.k += 100
    run.until(lambda: run.coach.state not in ("paused", "checking"))


def test_asked_twice_the_pause_is_said_once_and_stop_ends_kindly(library):
    run = Run(library.session(exercise="buiklig-a"))
    run.until(lambda: run.coach.state == "holding")
    run.take(run.coach.pause(run.t))
    run.take(run.coach.pause(run.t))
    run.for_s(6.0)
    assert run.said().count("Uw therapeut zet de oefening even stil.") == 1
    assert [e for e in run.events if e["type"] == "rep"], "the interrupted repetition was recorded"
    run.take(run.coach.stop(run.t))
    run.until(lambda: run.coach.finished)
    assert run.said()[-3:] == ["Uw therapeut stopt de oefening nu.", "Dank u wel.", "Rol eerst op uw zij."]
    assert run.coach.stopped and run.coach.state == "done"
