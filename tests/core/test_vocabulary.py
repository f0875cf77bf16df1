"""The coach's vocabulary: every key it says is known to `check`, and the phrase book has it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coach.core.coach import Coach
from coach.core.vocabulary import COUNT_WORDS, FIXED, KNOWN
from coach.sim.patient import Behaviour
from tests.conftest import simulate

BEHAVIOURS = [Behaviour(), Behaviour(pushes=True), Behaviour(too_strong=True), Behaviour(depth=-2.0),
              Behaviour(holds_breath=True), Behaviour(moves_pelvis_at=3.0), Behaviour(gets_off_in_rep=2)]


def short(library, exercise_id):
    """The exercise with 3 short repetitions: every kind of sentence, in a fraction of the time."""
    session = library.session(exercise=exercise_id)
    return replace(session, exercises=tuple(e.with_dose(repetitions=3, hold_s=6.0, rest_s=4.0)
                                            for e in session.exercises))


@pytest.mark.slow
def test_every_key_the_coach_says_is_in_the_vocabulary(library, monkeypatch):
    said: set[str] = set()
    original = Coach._wording   # every key the coach says or times is resolved here

    def recording(self, key, repeat=0):
        said.add(key)
        return original(self, key, repeat)

    monkeypatch.setattr(Coach, "_wording", recording)
    for exercise_id in ("buiklig-a", "buiklig-b", "ruglig-b", "zit-a"):
        for seed, behaviour in enumerate(BEHAVIOURS):
            simulate(short(library, exercise_id), seed=seed, behaviour=behaviour)
    for exercise_id in ("rugstrekkers", "trampoline"):
        simulate(library.session(exercise=exercise_id), seed=1)
    assert said - KNOWN == set()
    assert {"welcome", "contract", "correction.pushing", "n.1", "side.links", "move.stop"} <= said


def test_the_phrase_book_has_every_fixed_key_and_every_count_word_for_every_position(library):
    from coach.core.protocol import VARIANTS, PhraseBook
    book = PhraseBook(library.phrases)
    keys = list(FIXED) + [f"n.{n}" for n in range(1, COUNT_WORDS + 1)]
    keys += [f"correction.{kind}" for kind in ("too_weak", "too_strong", "pushing", "breath_hold",
                                               "pelvis_moved", "off_pbu", "leak")]
    missing = [f"{key} ({position})" for key in keys for position in VARIANTS if not book.wordings(key, position)]
    assert missing == []


@pytest.mark.parametrize("exercise_id", ["buiklig-b", "buiklig-c", "zit-b", "zit-c", "staan-b"])
def test_an_exercise_with_sides_words_every_side(library, exercise_id):
    exercise = library.exercise(exercise_id)
    assert all(f"side.{side}" in exercise.phrases for side in exercise.sides)
