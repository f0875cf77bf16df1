"""A patient who is stuck calls the therapist instead of hearing the same hint for minutes: no
step forward for about two minutes, or the same correction unheeded three times. The patient
hears kindly that the therapist is called and to stay as they are; the session waits for the
therapist (the console alerts), who goes on or stops."""

from __future__ import annotations

from coach.core.coach import STUCK_S, UNANSWERED
from tests.core.test_therapist_requests import Run


def helps(run):
    return [e for e in run.events if e["type"] == "help"]


def test_a_patient_who_never_reaches_the_start_pressure_calls_the_therapist(library):
    session = library.session(exercise="buiklig-a")   # prone, pumped up to 70 mmHg
    run = Run(session)
    run.until(lambda: run.coach.state == "inflating")
    began = run.t
    while not helps(run) and run.t < began + STUCK_S + 30:
        run.step(pressure=95.0)   # far too much air, and the valve never opened
    [called] = helps(run)
    assert called["reason"] == "stuck" and STUCK_S <= called["t"] - began <= STUCK_S + 5
    too_much = [e for e in run.events if e["type"] == "say" and "lucht" in e["text"] and e["t"] < called["t"]]
    assert len(too_much) >= 3, "it was hinted first, several times"
    run.for_s(20.0, pressure=95.0)
    after = [e["text"] for e in run.events if e["type"] == "say" and e["t"] >= called["t"]]
    assert after == ["Ik roep uw therapeut erbij.", "Blijf rustig liggen tot die er is."], after
    assert run.coach.state == "paused" and run.coach.status().paused == "help"
    # the therapist comes, lets some air out, and goes on
    run.take(run.coach.resume(run.t))
    run.until(lambda: run.coach.state in ("contracting", "holding", "instructing"))
    assert len(helps(run)) == 1


def test_a_correction_unheeded_three_times_calls_the_therapist(library):
    session = library.session(exercise="buiklig-a")
    run = Run(session)
    run.until(lambda: run.coach.state == "contracting")
    corrections = lambda: [e for e in run.events if e["type"] == "correction"]  # noqa: E731
    base = run.coach.analyzer.fast
    # bears down (the pressure rises where it should drop) every repetition, whatever is said
    while not helps(run) and run.t < 900:
        state = run.coach.state
        run.step(pressure=base + 8.0 if state in ("contracting", "holding") else base)
    [called] = helps(run)
    kinds = [c["kind"] for c in corrections()]
    assert called["reason"] == "no_reaction" and called["kind"] == kinds[-1]
    assert kinds[-UNANSWERED:] == [kinds[-1]] * UNANSWERED, kinds
    assert run.coach.status().paused == "help"


def test_a_patient_who_gets_it_right_after_a_correction_never_calls(library):
    session = library.session(exercise="buiklig-a")
    run = Run(session, seed=3)
    run.until(lambda: run.coach.finished, limit_s=1800)
    assert helps(run) == []


def test_a_long_hold_or_rest_done_right_never_calls(library):
    """The coach waits there, not the patient: a hold and a rest of two minutes call no one."""
    from dataclasses import replace

    base = library.session(exercise="buiklig-a")
    long = replace(base, exercises=tuple(e.with_dose(repetitions=2, hold_s=125.0, rest_s=125.0)
                                          for e in base.exercises))
    run = Run(long, seed=3)
    run.until(lambda: run.coach.finished, limit_s=1800)
    assert helps(run) == [] and sum(e["type"] == "rep" for e in run.events) == 2
