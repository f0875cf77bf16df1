"""The exercise programme as plain data: what the coach coaches. Loaded and validated in coach.config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Target:
    """What the pressure should do during a hold, relative to the baseline just before it.

    kind 'change': move by `change` mmHg (prone: about -10) and stay there, within `tolerance`.
    kind 'steady': stay at the baseline (40 mmHg positions) within `tolerance` while a limb moves.
    """

    kind: str
    change: float
    tolerance: float

    @property
    def band(self) -> tuple[float, float]:
        return (self.change - self.tolerance, self.change + self.tolerance)

    @property
    def direction(self) -> int:
        """+1 for a target rise, -1 for a target drop, 0 for keep-steady."""
        if self.kind == "steady" or self.change == 0:
            return 0
        return 1 if self.change > 0 else -1


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    phase: int
    position: str
    placement: str
    start_pressure: float
    target: Target
    hold_s: float
    repetitions: int
    rest_s: float
    setup: tuple[str, ...]
    instructions: tuple[str, ...]
    contract_timeout_s: float = 10.0
    start_tolerance: float = 3.0
    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sides: tuple[str, ...] = ()          # e.g. ("links", "rechts"): a limb moves, side by side
    side_change: str = "every"           # "every" repetition, or "half": all of one side first
    kind: str = "pbu"                    # pbu | tempo (count and metronome) | timed (by time)
    seconds_per_rep: float = 0.0         # tempo: the calm tempo of phase 3 (4-5 s)
    duration_s: float = 0.0              # timed: how long one set lasts
    sets: int = 1
    metronome: bool = False

    @property
    def uses_pbu(self) -> bool:
        return self.kind == "pbu"

    def side_for(self, rep_number: int) -> str | None:
        """The side of repetition `rep_number` (1-based), or None for exercises without sides."""
        if not self.sides:
            return None
        if self.side_change == "half":
            per_side = -(-self.repetitions // len(self.sides))
            return self.sides[min((rep_number - 1) // per_side, len(self.sides) - 1)]
        return self.sides[(rep_number - 1) % len(self.sides)]

    def with_dose(self, **dose) -> Exercise:
        """The same exercise with the therapist's doses (repetitions, hold_s, rest_s, and a limb
        exercise's sides and side_change) applied."""
        return replace(self, **{k: v for k, v in dose.items() if v is not None})


@dataclass(frozen=True)
class PhraseBook:
    """Every sentence the coach can say, by key; each key has one or more wordings.

    The second wording is used when the same correction repeats, so the patient does not hear
    the same words over and over.
    """

    phrases: Mapping[str, tuple[str, ...]]

    def get(self, key: str, repeat: int = 0) -> str:
        wordings = self.phrases[key]
        return wordings[min(repeat, len(wordings) - 1)]

    def merged(self, overrides: Mapping[str, tuple[str, ...]]) -> PhraseBook:
        return PhraseBook({**self.phrases, **overrides})

    def all_texts(self) -> list[str]:
        return [text for wordings in self.phrases.values() for text in wordings]


@dataclass(frozen=True)
class Session:
    """What one session coaches: exercises in order, and the phrase book."""

    exercises: tuple[Exercise, ...]
    phrases: PhraseBook
