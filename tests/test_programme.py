"""Every bundled PBU exercise, coached from start to end on simulated time."""

from __future__ import annotations

import pytest

from coach.sim.patient import Behaviour
from tests.conftest import of_type, simulate

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
    if exercise.sides:
        said = [t for t in texts if t in {exercise.phrases[f"side.{s}"][0] for s in exercise.sides}]
        expected = [exercise.phrases[f"side.{exercise.side_for(n)}"][0]
                    for n in range(1, exercise.repetitions + 1)]
        assert said == expected, "the sides in turn (or in halves), each announced"


@pytest.mark.parametrize("exercise_id", ["ruglig-a", "zit-a"])
def test_a_back_pressed_into_the_bladder_gets_the_supine_and_sitting_wording(library, exercise_id):
    session = library.session(exercise=exercise_id)
    events, _, coach = simulate(session, seed=3, behaviour=Behaviour(too_strong=True))
    corrections = of_type(events, "correction")
    assert corrections and corrections[0]["kind"] == "too_strong"
    said = [e["text"] for e in of_type(events, "say")]
    assert "Duw uw rug niet in het kussen." in said, "a rise means something else here than prone"
    assert coach.finished
