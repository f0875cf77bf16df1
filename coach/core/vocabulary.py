"""Every phrase key the coach can say: the vocabulary a protocol's `phrases:` sections may define.

A key outside it is never said, so a misspelt key (`inflate.morex`) would leave the therapist's
new wording silently unused; `rugcoach check` refuses it with a suggestion instead. The coach
builds a few keys from data (a count word, a side, a correction kind): those families are
listed here too, so this module and `coach.core.coach` change together (a test checks that every
key the coach says is in the vocabulary and in the bundled phrase book).
"""

from __future__ import annotations

from coach.core.protocol import PhraseBook, Session
from coach.core.voice import Line, sentences

FIXED = (
    "welcome", "safety.pain",
    "inflate.start", "inflate.more", "inflate.little", "inflate.too_much", "inflate.good",
    "rest.measure", "explain.tones", "explain.breathe",
    "contract", "contract.help", "hold.start", "hold.encourage", "relax",
    "rest", "rest.good", "rest.remaining", "rest.last", "exercise.done", "session.done", "praise",
    "session.paused", "session.help", "session.resumed", "session.stopped",
    "sensor.lost", "sensor.back",
    "calibrate.zero", "calibrate.span", "calibrate.done", "calibrate.failed",
    "move.begin", "move.again", "move.ten_left", "move.stop", "move.set_done",
)
SIDES = ("links", "rechts")
COUNT_DOWN = (1, 2, 3)          # count.1 .. count.3 at the end of a hold
COUNT_WORDS = 30                # n.1 .. n.30: a tempo exercise counts up to 30 repetitions
CORRECTION_KINDS = ("too_weak", "too_strong", "not_held", "pushing", "breath_hold",
                    "pelvis_moved", "off_pbu", "leak")


def phrase_keys() -> tuple[str, ...]:
    """The whole vocabulary, in a stable order (for "did you mean ...?")."""
    return (FIXED
            + tuple(f"side.{side}" for side in SIDES)
            + tuple(f"count.{n}" for n in COUNT_DOWN)
            + tuple(f"n.{n}" for n in range(1, COUNT_WORDS + 1))
            + tuple(f"correction.{kind}" for kind in CORRECTION_KINDS)
            + tuple(f"correction.steady.{kind}" for kind in CORRECTION_KINDS))


KNOWN = frozenset(phrase_keys())


MAX_COUNT = 50  # numbers the coach may say ("Nog {n} keer."): pre-rendered up to the dose


def session_sentences(session: Session) -> list[str]:
    """Every sentence this session can say, so all of them are synthesised before it starts."""
    texts: list[str] = []
    books = [session.phrases.phrases] + [exercise.phrases for exercise in session.exercises]
    most = max(exercise.repetitions for exercise in session.exercises)
    for book in books:
        for wordings in book.values():
            for text in wordings:
                if "{n}" in text:
                    texts += [text.format(n=n) for n in range(1, min(most, MAX_COUNT) + 1)]
                else:
                    texts.append(text)
    for exercise in session.exercises:
        texts += list(exercise.setup) + list(exercise.instructions)
    return [part for text in texts for part in sentences(text)]


def library_sentences(library) -> list[str]:
    """Every sentence any loaded protocol can say: the cache is filled for all of them at start,
    so nothing is synthesised while a patient waits, whichever programme comes next."""
    exercises = tuple(library.exercises.values())
    if not exercises:
        return []
    return session_sentences(Session(exercises, PhraseBook(dict(library.phrases))))


def session_lines(session: Session) -> list[Line]:
    """Every sentence this session can say with its phrase key, once each: what a voice pack
    records (a sentence with a number once per number up to the largest dose, as said)."""
    lines: dict[tuple[str | None, str], Line] = {}
    books = [session.phrases.phrases] + [exercise.phrases for exercise in session.exercises]
    most = max((exercise.repetitions for exercise in session.exercises), default=1)
    for book in books:
        for key, wordings in book.items():
            for wording, text in enumerate(wordings):
                said = [text.format(n=n) for n in range(1, min(most, MAX_COUNT) + 1)] if "{n}" in text else [text]
                for each in said:
                    for part, sentence in enumerate(sentences(each)):
                        lines.setdefault((key, sentence), Line(sentence, key, wording, part))
    for exercise in session.exercises:
        for key, entries in ((f"setup.{exercise.id}", exercise.setup),
                             (f"instruction.{exercise.id}", exercise.instructions)):
            for wording, text in enumerate(entries):
                for part, sentence in enumerate(sentences(text)):
                    lines.setdefault((key, sentence), Line(sentence, key, wording, part))
    return list(lines.values())
