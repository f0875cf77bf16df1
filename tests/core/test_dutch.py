"""The coach's Dutch, as a good therapist speaks it, kept so by the suite: every sentence a
simulated session of every bundled exercise says fits the patient's position; no correction's
meaning hangs on "niet" (a patient who misses it would hear the opposite); no sentence is over
12 words; what is said every repetition is worded in turn (nothing the same three times in a
row); and pain means stop is said at the start and at every new position."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from coach.core.protocol import VARIANTS, PhraseBook
from coach.core.voice import sentences
from coach.sim.patient import Behaviour
from tests.conftest import simulate

MOST_WORDS = 12
MOST_IN_A_ROW = 2
# Sentences that only fit some positions. Lying ("lig", "liggen") is wrong sitting or standing;
# sitting wrong lying or standing; standing still wrong lying or sitting; and the cushion and its
# pump mean nothing in the exercises without it.
WRONG_FOR = {
    "sitting": re.compile(r"\b(lig|liggen|staan)\b", re.I),
    "standing": re.compile(r"\b(lig|liggen|zitten)\b", re.I),
    "prone": re.compile(r"\b(zitten|staan)\b|op uw rug", re.I),
    "supine": re.compile(r"\b(zitten|staan)\b|op uw buik", re.I),
    "free": re.compile(r"\b(kussen|pomp)\b", re.I),
}
BEHAVIOURS = [Behaviour(), Behaviour(pushes=True), Behaviour(too_strong=True), Behaviour(holds_breath=True),
              Behaviour(moves_pelvis_at=3.0), Behaviour(gets_off_in_rep=2)]
# the same words on purpose: numbers, the count-down, a side that is named (worded in turn too)
SAME_ON_PURPOSE = re.compile(r"^(n\.\d+|count\.\d|rest\.remaining)$")


def doses(library, exercise_id: str):
    session = library.session(exercise=exercise_id)
    return replace(session, exercises=tuple(e.with_dose(repetitions=min(e.repetitions, 6), rest_s=min(e.rest_s, 6.0))
                                            for e in session.exercises))


def said_in(library, exercise_id: str, behaviour: Behaviour, seed: int = 3) -> list[dict]:
    events, _, coach = simulate(doses(library, exercise_id), seed=seed, behaviour=behaviour)
    assert coach.finished
    return [e for e in events if e["type"] == "say"]


def every_text(library) -> list[tuple[str, str]]:
    """(where, text) for every wording the bundled library can say."""
    texts = [(key, text) for key, wordings in library.phrases.items() for text in wordings]
    for exercise in library.exercises.values():
        texts += [(f"{exercise.id}.setup", t) for t in exercise.setup]
        texts += [(f"{exercise.id}.instructions", t) for t in exercise.instructions]
        texts += [(f"{exercise.id}.{key}", t) for key, wordings in exercise.phrases.items() for t in wordings]
    return texts


@pytest.mark.slow
def test_every_sentence_a_session_says_fits_the_patients_position(library):
    wrong = []
    for exercise in library.exercises.values():
        behaviours = BEHAVIOURS if exercise.uses_pbu else [Behaviour()]
        for behaviour in behaviours:
            for event in said_in(library, exercise.id, behaviour):
                if WRONG_FOR[exercise.position].search(event["text"]):
                    wrong.append(f"{exercise.id} ({exercise.position}): {event['text']!r} ({event.get('key')})")
    assert sorted(set(wrong)) == []


def test_every_key_has_words_for_every_position_that_fit_it(library):
    book = PhraseBook(library.phrases)
    keys = {key.split("@")[0] for key in library.phrases}
    # without the cushion nothing is pumped or corrected, and calibrating is no exercise
    cushion_only = ("calibrate.", "inflate.", "correction.")
    wrong = [f"{key} ({position}): {text!r}" for key in sorted(keys) for position in VARIANTS
             for text in book.wordings(key, position)
             if WRONG_FOR[position].search(text) and not (position == "free" and key.startswith(cushion_only))]
    assert wrong == []


def test_no_correction_hangs_on_niet(library):
    """Say what to do: "Adem rustig door.", never "Vergeet niet te ademen." or "Niet persen."."""
    hanging = [(key, text) for key, text in every_text(library)
               if key.split("@")[0].split(".", 1)[-1].startswith("correction") or ".correction" in key
               or key.startswith("correction")
               if re.search(r"\bniet\b", text, re.I)]
    assert hanging == []


def test_no_sentence_is_over_twelve_words(library):
    long = [(where, sentence) for where, text in every_text(library) for sentence in sentences(text)
            if len(sentence.split()) > MOST_WORDS]
    assert long == []


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", ["buiklig-a", "buiklig-b", "ruglig-a", "zit-b", "staan-a", "bal-steun",
                                         "tenen"])
def test_nothing_is_said_the_same_way_three_times_in_a_row(library, exercise_id):
    """What comes every repetition comes in turn: a 15-repetition buiklig-a is no litany of
    "Mooi zo. Blijf zo." (and the praise after a good repetition is worded in turn too)."""
    for behaviour in (Behaviour(), Behaviour(pushes=True), Behaviour(holds_breath=True)):
        session = library.session(exercise=exercise_id)   # the whole dose
        events, _, _ = simulate(session, seed=4, behaviour=behaviour)
        by_key: dict[str, list[str]] = {}
        for event in events:
            if event["type"] == "say" and not SAME_ON_PURPOSE.match(event.get("key") or ""):
                by_key.setdefault(event.get("key") or "", []).append(event["text"])
        for key, texts in by_key.items():
            runs = [len(list(group)) for _, group in __import__("itertools").groupby(texts)]
            assert max(runs) <= MOST_IN_A_ROW, (key, texts)


def test_pain_means_stop_at_the_start_and_at_every_new_position(library):
    session = library.session(protocol="fase1")
    session = replace(session, exercises=tuple(e.with_dose(repetitions=1, rest_s=2.0) for e in session.exercises))
    events, _, _ = simulate(session, seed=1)
    pain = set(library.phrases["safety.pain"])
    positions, said = [], []
    exercise = -1
    for event in events:
        if event["type"] == "cue" and event["cue"] == "next" or exercise < 0:
            exercise += 1
            positions.append(session.exercises[min(exercise, len(session.exercises) - 1)].position)
            said.append(False)
        if event["type"] == "say" and any(event["text"] in sentences(p) for p in pain):
            said[-1] = True
    new_position = [i == 0 or positions[i] != positions[i - 1] for i in range(len(positions))]
    assert said[0], "pain means stop: said at the start"
    assert said == new_position, "and at every new position, only there"


def test_what_comes_every_repetition_has_three_wordings_or_more(library):
    every_rep = ("contract", "hold.start", "hold.encourage", "relax", "rest", "rest.good", "move.begin",
                 "move.set_done")
    few = [key for key in every_rep if len(library.phrases[key]) < 3]
    for exercise in library.exercises.values():
        few += [f"{exercise.id}.{key}" for key, wordings in exercise.phrases.items()
                if key.split("@")[0] in (*every_rep, "side.links", "side.rechts") and len(wordings) < 3]
    assert few == []
