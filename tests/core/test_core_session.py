"""The pure core on simulated time: whole sessions in well under a second, deterministic."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from coach.core.coach import STATES, TRANSITIONS
from coach.sim.patient import Behaviour
from tests.conftest import of_type, simulate


def test_buiklig_a_is_coached_as_the_seed_describes(library):
    session = library.session(exercise="buiklig-a")
    started = time.perf_counter()
    events, plays, coach = simulate(session, seed=1)
    elapsed = time.perf_counter() - started

    assert coach.finished
    reps = of_type(events, "rep")
    assert [r["rep"] for r in reps] == list(range(1, 16)), "15 repetitions, as the seed asks"
    assert all(r["verdict"] == "ok" for r in reps)
    assert all(abs(r["held_s"] - 15.0) < 0.5 for r in reps), "15 s holds"
    assert all(-15 <= r["change"] <= -5 for r in reps), "a drop of about 10 mmHg"
    assert not of_type(events, "correction"), "a patient who does it right is not corrected"

    cues = [e["cue"] for e in of_type(events, "cue")]
    assert cues[0] == "inflate" and cues[-1] == "done"
    assert cues.count("contract") == 15 and cues.count("relax") == 15
    states = [e["state"] for e in of_type(events, "state")]
    for expected in ("positioning", "inflating", "measuring_rest", "instructing", "contracting",
                     "holding", "relaxing", "resting", "done"):
        assert expected in states
    texts = [e["text"] for e in of_type(events, "say")]
    assert "Pomp het kussen op." in texts and "Span nu aan." in texts
    # tones mark the start and end of every hold
    tones = [p.sound for p in plays if p.sound.startswith("tone:")]
    assert tones.count("tone:hold_start") == 15 and tones.count("tone:hold_end") == 15
    # the whole exercise is about 8 minutes of session time, simulated in well under a second
    assert 400 < events[-1]["t"] < 700
    print(f"\nbuiklig-a: {events[-1]['t']:.0f} s of session simulated in {elapsed * 1000:.0f} ms")


def test_the_start_pressure_is_reached_before_the_rest_is_measured(library):
    session = library.session(exercise="buiklig-a")
    events, _, coach = simulate(session, seed=4)
    start = next(e["t"] for e in events if e.get("state") == "measuring_rest")
    first = of_type(events, "rep")[0]
    assert first["start"] > start + 12, "12 s of rest are measured before the first repetition"
    assert coach.analyzer.profile is not None
    assert abs(coach.analyzer.profile.baseline - 70) <= 3


def test_utterances_never_overlap(library):
    session = library.session(exercise="buiklig-a")
    _, plays, _ = simulate(session, seed=2)
    from tests.conftest import estimated_duration
    for before, after in zip(plays, plays[1:]):
        assert after.t >= before.t + estimated_duration(before.sound) - 1e-9


def test_same_seed_same_session(library):
    session = library.session(protocol="demo")
    first, _, _ = simulate(session, seed=7)
    second, _, _ = simulate(session, seed=7)
    assert first == second


@pytest.mark.parametrize("rate_hz", [10.0, 100.0])
def test_sample_rate_does_not_change_the_outcome(library, rate_hz):
    session = library.session(protocol="demo")
    events, _, coach = simulate(session, seed=3, rate_hz=rate_hz)
    assert coach.finished
    assert [r["verdict"] for r in of_type(events, "rep")] == ["ok"] * 2


def test_a_pushing_patient_is_corrected_and_the_session_ends(library):
    session = library.session(protocol="demo")
    events, _, coach = simulate(session, seed=5, behaviour=Behaviour(pushes=True))
    corrections = of_type(events, "correction")
    assert corrections and corrections[0]["kind"] == "pushing"
    first_rep_start = of_type(events, "rep")[0]["start"]
    assert corrections[0]["t"] - first_rep_start < 6.0
    assert coach.finished


def test_a_patient_who_gets_off_the_bladder_is_paused_and_resumed(library):
    session = library.session(exercise="buiklig-a")
    session = replace(session, exercises=(session.exercises[0].with_dose(repetitions=3, hold_s=5, rest_s=4),))
    events, _, coach = simulate(session, seed=6, behaviour=Behaviour(gets_off_in_rep=2))
    cues = [e["cue"] for e in of_type(events, "cue")]
    assert "pause" in cues and "resume" in cues
    assert coach.finished
    reps = of_type(events, "rep")
    assert sum(r["verdict"] == "ok" for r in reps) == 3, "the interrupted repetition is done again"


def test_the_state_machine_is_declared_in_one_table():
    declared = {state for _, sources, dest in TRANSITIONS
                for state in ([sources] if isinstance(sources, str) else sources) + [dest]}
    assert declared == set(STATES)


def test_every_trigger_of_the_table_is_declared_on_the_coach():
    from coach.core.coach import Coach
    triggers = {trigger for trigger, _, _ in TRANSITIONS}
    declared = {name for name, kind in Coach.__annotations__.items() if "Callable" in str(kind)}
    assert declared == triggers


def test_the_state_machine_picture_matches_the_code():
    from coach.app.diagram import document
    from tests.conftest import ROOT
    assert (ROOT / "docs" / "state-machine.md").read_text() == document()


def test_the_demo_session_fits_in_two_minutes(library):
    """`make demo` must finish within 2 minutes, start-up included."""
    session = library.session(protocol="demo")
    for seed in range(10):
        events, _, coach = simulate(session, seed=seed)
        assert coach.finished and events[-1]["t"] < 112, (seed, events[-1]["t"])


def test_the_coach_says_what_it_is_doing_without_changing_anything(library):
    """status(): the state, exercise i of n, repetition k of N, the hold time left; asking every
    sample changes nothing of the session (the same events as without asking)."""
    from coach.core.coach import Coach
    from coach.sim.patient import SimulatedPatient
    from tests.conftest import estimated_duration

    session = library.session(protocol="demo")
    plain, _, _ = simulate(session, seed=9)
    coach = Coach(session, estimated_duration)
    patient = SimulatedPatient(session, seed=9)
    events, seen = [], []
    for output in coach.begin(0.0):
        if not hasattr(output, "sound"):
            events.append(output.as_dict())
            patient.hear(events[-1])
    k = 0
    while not coach.finished:
        k += 1
        t = round(k * 0.02, 3)
        for output in coach.feed(t, round(patient.pressure(t), 2)):
            if not hasattr(output, "sound"):
                events.append(output.as_dict())
                patient.hear(events[-1])
        seen.append(coach.status())
    assert events == plain, "asking for the status changed the session"
    holding = [s for s in seen if s.state == "holding" and s.hold_left_s is not None]
    assert holding and holding[0].hold_left_s <= 5.0 and min(s.hold_left_s for s in holding) == 0.0
    assert {s.repetition for s in holding} == {1, 2} and {s.repetitions for s in seen} == {2}
    assert seen[-1].finished and seen[-1].exercise == "buiklig-a" and seen[-1].exercises == 1
