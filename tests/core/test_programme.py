"""Every bundled PBU exercise, coached from start to end on simulated time."""

from __future__ import annotations

import pytest

from coach.core.signal import GAP_MIN_S
from coach.core.voice import sentences
from coach.sim.patient import Behaviour
from tests.conftest import estimated_duration, of_type, simulate

PBU_EXERCISES = ["buiklig-a", "buiklig-b", "buiklig-c", "ruglig-a", "ruglig-b",
                 "zit-a", "zit-b", "zit-c", "staan-a", "staan-b"]


def test_the_bundled_protocols_have_every_pbu_exercise_of_the_contract(library):
    assert set(PBU_EXERCISES) <= set(library.exercises)


@pytest.mark.parametrize("exercise_id", PBU_EXERCISES)
def test_a_patient_who_does_it_right_is_never_corrected(library, exercise_id):
    session = library.session(exercise=exercise_id)
    exercise = session.exercises[0]
    events, _, coach = simulate(session, seed=PBU_EXERCISES.index(exercise_id) + 11)
    assert coach.finished
    reps = of_type(events, "rep")
    assert len(reps) == exercise.repetitions
    assert all(r["verdict"] == "ok" for r in reps), [r["verdict"] for r in reps]
    assert not of_type(events, "correction")
    assert not of_type(events, "compensation")
    texts = [e["text"] for e in of_type(events, "say")]
    if exercise.sides:   # each side's words in turn: any of its wordings names it
        side_of = {text: side for side in exercise.sides for text in exercise.phrases[f"side.{side}"]}
        said = [side_of[t] for t in texts if t in side_of]
        expected = [exercise.side_for(n) for n in range(1, exercise.repetitions + 1)]
        assert said == expected, "the sides in turn (or in halves), each announced"


@pytest.mark.parametrize("exercise_id", ["ruglig-a", "zit-a"])
def test_a_back_pressed_into_the_bladder_gets_the_supine_and_sitting_wording(library, exercise_id):
    session = library.session(exercise=exercise_id)
    events, _, coach = simulate(session, seed=3, behaviour=Behaviour(too_strong=True))
    corrections = of_type(events, "correction")
    assert corrections and corrections[0]["kind"] == "too_strong"
    said = [e["text"] for e in of_type(events, "say")]
    position = session.exercises[0].position
    steady = {sentences(w)[0] for w in session.phrases.wordings("correction.steady.too_strong", position)}
    assert steady & set(said), "a rise means something else here than prone: the back, worded for the position"
    assert coach.finished


STEADY = {"ruglig-a", "ruglig-b", "zit-a", "zit-b", "zit-c", "staan-a", "staan-b"}
CHANGE = sorted(set(PBU_EXERCISES) - STEADY)

# The faults of the seeds, on every PBU exercise where the pressure can show them. Too weak a
# contraction shows only where the target is a change (prone): in the 40 mmHg positions the
# bladder sees the back stay still, not how hard the belly is drawn in.
FAULTS = {
    "too_weak": Behaviour(depth=-2.5, depth_sd=0.2),
    "too_strong": Behaviour(too_strong=True),
    "pushing": Behaviour(pushes=True),
    "breath_hold": Behaviour(holds_breath=True),
    "pelvis_moved": Behaviour(moves_pelvis_at=4.0),
}
CASES = [(fault, e) for fault in FAULTS for e in PBU_EXERCISES if fault != "too_weak" or e in CHANGE]


@pytest.mark.slow   # the whole matrix: 43 sessions
@pytest.mark.parametrize("fault,exercise_id", CASES)
def test_a_patient_who_errs_is_corrected_in_time_and_the_session_ends(library, fault, exercise_id):
    session = library.session(exercise=exercise_id)
    exercise = session.exercises[0]
    events, _, coach = simulate(session, seed=5, behaviour=FAULTS[fault])
    assert coach.finished and of_type(events, "cue")[-1]["cue"] == "done"
    reps = of_type(events, "rep")
    assert len(reps) == exercise.repetitions
    corrections = of_type(events, "correction")
    kinds = [c["kind"] for c in corrections]
    said = [e["text"] for e in of_type(events, "say")]
    if fault == "too_weak":
        # a patient who barely draws in first gets help ("Trek uw navel zachtjes naar binnen")
        assert "too_weak" in kinds or "Trek uw navel zachtjes naar binnen." in said
        return
    if fault == "too_strong":
        # the first correction is about the level (never taken for a pelvic step), and it helps
        assert kinds[:1] == ["too_strong"], kinds
        assert sum(r["verdict"] == "ok" for r in reps) >= exercise.repetitions - 1, "heard and fixed"
        return
    if fault == "pushing" and exercise_id in STEADY:
        # bearing down presses the back into the bladder: the keep-steady wording, which says so
        assert kinds[:1] == ["too_strong"], kinds
        first_sentences = {sentences(w)[0] for w in
                           session.phrases.wordings("correction.steady.too_strong", exercise.position)}
        assert first_sentences & set(said), "the keep-steady wording"
        assert sum(r["verdict"] == "ok" for r in reps) >= exercise.repetitions - 1, "heard and fixed"
        return
    if fault == "breath_hold" and exercise_id in STEADY and exercise.hold_s < GAP_MIN_S:
        # held from 2 s into a 5 s hold until the relax: 4-6 s without a breath, within a
        # breathing patient's own pauses on a keep-steady exercise, where breathing is followed
        # breath by breath (issue 31: holds of 7 s or more). Told or not; never anything else.
        assert set(kinds) <= {"breath_hold"}, kinds
        return
    assert fault in kinds, kinds
    comp = next(c for c in of_type(events, "compensation") if c["kind"] == fault)
    first = next(c for c in corrections if c["kind"] == fault)
    # the correction is spoken while the fault is still there, or just after
    assert comp["start"] <= first["t"] <= comp["end"] + 1.0, (comp, first)


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", PBU_EXERCISES)
def test_a_patient_who_gets_off_mid_hold_pauses_the_session_and_it_ends_properly(library, exercise_id):
    session = library.session(exercise=exercise_id)
    events, _, coach = simulate(session, seed=4, behaviour=Behaviour(gets_off_in_rep=3))
    cues = [e["cue"] for e in of_type(events, "cue")]
    assert "pause" in cues and "resume" in cues and cues[-1] == "done"
    assert "off_pbu" in [c["kind"] for c in of_type(events, "compensation")]
    said = [e["text"] for e in of_type(events, "say")]
    assert "Ik meet geen druk meer." in said, "the patient hears why the coach waits"
    assert sum(r["verdict"] == "ok" for r in of_type(events, "rep")) == session.exercises[0].repetitions


@pytest.mark.parametrize("exercise_id", ["zit-b", "buiklig-b"])
def test_a_limb_hold_lasts_its_time_after_the_limb_was_told_to_move(library, exercise_id):
    """ "Til nu uw linkerbeen op." comes before the hold is over, and the hold lasts hold_s after it."""
    session = library.session(exercise=exercise_id)
    exercise = session.exercises[0]
    events, plays, _ = simulate(session, seed=2)
    sides = {text for s in exercise.sides for text in exercise.phrases[f"side.{s}"]}
    ends = [e["t"] for e in of_type(events, "cue") if e["cue"] == "relax"]
    told = [e["t"] for e in of_type(events, "say") if e["text"] in sides]
    assert len(told) == len(ends) == exercise.repetitions
    for said_at, end in zip(told, ends):
        moved_at = said_at + sum(estimated_duration(part) for part in sentences(
            next(p.sound for p in plays if p.t == said_at and p.sound in sides)))
        assert moved_at + exercise.hold_s - 0.1 <= end <= moved_at + exercise.hold_s + 2.0, (said_at, end)


def move_exercises(library):
    return [e for e in library.exercises.values() if not e.uses_pbu]


def test_the_seed_programme_without_the_pbu_is_bundled(library):
    ids = {e.id for e in move_exercises(library)}
    assert {"halters-buigen", "bal-armen", "brug", "tenen", "een-been", "trampoline", "oefentol",
            "rugstrekkers", "schuine-buikspieren"} <= ids
    slow = [e for e in move_exercises(library) if e.id in ("rugstrekkers", "schuine-buikspieren")]
    assert all(4.0 <= e.seconds_per_rep <= 5.0 and 15 <= e.repetitions <= 20 for e in slow)


@pytest.mark.parametrize("exercise_id", ["halters-buigen", "bal-been-heffen", "rugstrekkers",
                                         "brug", "trampoline", "een-been"])
def test_a_time_guided_exercise_runs_to_the_end_with_its_counts_and_tempo(library, exercise_id):
    session = library.session(exercise=exercise_id)
    exercise = session.exercises[0]
    events, plays, coach = simulate(session, seed=2)
    assert coach.finished and [e["cue"] for e in of_type(events, "cue")][-1] == "done"
    assert not of_type(events, "rep") and not of_type(events, "correction")
    states = [e["state"] for e in of_type(events, "state")]
    assert "inflating" not in states, "no PBU: nothing to pump"
    assert states.count("moving") == exercise.sets
    says = of_type(events, "say")
    if exercise.kind == "tempo":
        ticks = [p.t for p in plays if p.sound == "tone:tick"]
        assert len(ticks) == exercise.repetitions * exercise.sets
        per_set = [ticks[i:i + exercise.repetitions] for i in range(0, len(ticks), exercise.repetitions)]
        for beats in per_set:
            gaps = [b - a for a, b in zip(beats, beats[1:])]
            assert all(abs(g - exercise.seconds_per_rep) < 0.3 for g in gaps), gaps
        if exercise.seconds_per_rep >= 2:
            words = [s["text"] for s in says if s["text"] in
                     {session.phrases.get(f"n.{n}") for n in range(1, 31)}]
            one_set = [session.phrases.get(f"n.{n}") for n in range(1, exercise.repetitions + 1)]
            assert words == one_set * exercise.sets, "counted 1..N in every set"
    else:   # the start and stop words are worded in turn
        begins = [s["t"] for s in says if s.get("key") == "move.begin"]
        stops = [s["t"] for s in says if s.get("key") == "move.stop"]
        assert len(begins) == len(stops) == exercise.sets
        for begin, stop in zip(begins, stops):
            # the set's time runs from the end of the start word (about 1.5 to 2.5 s with its pause)
            assert 0.0 <= stop - begin - exercise.duration_s < 3.0
        if exercise.duration_s > 20:
            assert sum(s.get("key") == "move.ten_left" for s in says) == exercise.sets
        texts = [s["text"] for s in says]
        assert not any(a == b for a, b in zip(texts, texts[1:])), "no sentence twice in a row"
    begins = [s["t"] for s in says if s.get("key") == "move.begin"]
    assert len(begins) == exercise.sets, "every set has a start word"
    quiet = [s["t"] for s in says if s.get("key", "").startswith("setup.")]
    assert begins[0] - quiet[-1] >= 8.0, "time to get into position before the first set"


def test_a_timed_exercise_with_a_metronome_ticks_every_second(library):
    from dataclasses import replace

    from coach.core.protocol import Session
    brug = replace(library.exercise("brug"), metronome=True, sets=1)
    events, plays, coach = simulate(Session((brug,), library.session(exercise="brug").phrases), seed=1)
    ticks = [p.t for p in plays if p.sound == "tone:tick"]
    assert coach.finished and len(ticks) == int(brug.duration_s)
    assert all(abs((b - a) - 1.0) < 0.1 for a, b in zip(ticks, ticks[1:]))
