"""Exercises without the PBU (phases 2 and 3): a set counted to a metronome ("tempo": so many
repetitions of so many seconds) or held for a time ("timed"). Pure: the coach asks, every
sample, what to say or play now, and carries it out, as it does with CorrectionPolicy's advice.

Every set starts with a start word ("Begin maar."), said when the coach has stopped talking, and
the first beat comes when that word is over, so it never falls on a word. The first set follows
the time the coach gave to get into position; every later one is announced ("Ga weer in de
houding.") and gets READY_S to do so. A beat that cannot be said in time (the voice was busy) is
dropped, never said late: each one expires half a period after its moment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coach.core.protocol import Exercise
from coach.core.voice import Priority

WORD_PER_REP_S = 2.0     # a number per repetition only when a repetition lasts this long
TEN_LEFT_ABOVE_S = 20.0  # "Nog tien seconden" only in a timed set longer than this
TEN_LEFT_S = 10.0
SAY_WITHIN_S = 2.0       # "Nog tien seconden": now or not at all
READY_S = 5.0            # after "Ga weer in de houding.": quiet to get into position again


@dataclass(frozen=True)
class Beat:
    """Something to play (a tone) or say (a phrase key) now."""

    key: str                       # phrase key, or a tone name when `tone`
    tone: bool = False
    priority: Priority = Priority.INSTRUCTION
    expires_at: float | None = None


class MovingSet:
    """One set of an exercise without the PBU, from its first beat to its end."""

    def __init__(self, exercise: Exercise, first: bool = True):
        self.exercise = exercise
        self.ready_s = 0.0 if first else READY_S
        self.first = first
        self.quiet_since: float | None = None
        self.begun = False
        self.start: float | None = None
        self.beats = 0
        self.ten_left_said = False

    def opening(self, _t: float) -> list[Beat]:
        """What is said as the set is announced: a later set asks the patient back into position."""
        return [] if self.first else [Beat("move.again")]

    def step(self, t: float, carry_out: Callable[[list[Beat]], None], busy: Callable[[], bool]) -> bool:
        """Hand what to play or say at t to `carry_out`; True when the set is over. `busy`: the
        voice is speaking or has something queued (asked after this step's beats are queued:
        a tempo set ends when its last count has been said)."""
        exercise = self.exercise
        if not self.begun:
            if busy():
                return False
            self.quiet_since = t if self.quiet_since is None else self.quiet_since
            if t - self.quiet_since < self.ready_s:
                return False
            self.begun = True
            carry_out([Beat("move.begin")])
            return False
        if self.start is None:
            if busy():
                return False
            self.start = t
        elapsed = t - self.start
        if exercise.kind == "tempo":
            carry_out(self._tempo(elapsed))
            return elapsed >= exercise.repetitions * exercise.seconds_per_rep and not busy()
        beats, over = self._timed(t, elapsed)
        carry_out(beats)
        return over

    def _tempo(self, elapsed: float) -> list[Beat]:
        exercise, beats = self.exercise, []
        period = exercise.seconds_per_rep
        assert self.start is not None
        while self.beats < exercise.repetitions and elapsed >= self.beats * period:
            self.beats += 1
            expires = self.start + (self.beats - 1) * period + period / 2
            if exercise.metronome:
                beats.append(Beat("tick", tone=True, priority=Priority.TONE, expires_at=expires))
            if period >= WORD_PER_REP_S:
                beats.append(Beat(f"n.{self.beats}", priority=Priority.COUNTDOWN, expires_at=expires))
        return beats

    def _timed(self, t: float, elapsed: float) -> tuple[list[Beat], bool]:
        exercise, beats = self.exercise, []
        duration = exercise.duration_s
        if exercise.metronome:   # a timed exercise ticks every second, when asked to
            interval = exercise.seconds_per_rep or 1.0
            while elapsed >= self.beats * interval and elapsed < duration:
                self.beats += 1
                beats.append(Beat("tick", tone=True, priority=Priority.TONE, expires_at=t + 0.5))
        if duration > TEN_LEFT_ABOVE_S and elapsed >= duration - TEN_LEFT_S and not self.ten_left_said:
            self.ten_left_said = True
            beats.append(Beat("move.ten_left", priority=Priority.COUNTDOWN, expires_at=t + SAY_WITHIN_S))
        if elapsed >= duration:
            beats.append(Beat("move.stop"))
            return beats, True
        return beats, False
