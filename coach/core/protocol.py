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


# A phrase may be worded per position: a seated patient does not "lie still", and a patient lying
# face down gets up by rolling onto the side first. The phrase book's variants are named in
# Dutch, as the therapist who edits it reads them; `geen` is for the exercises without the
# cushion (phases 2 and 3), `standaard` for every position a key does not name.
VARIANTS = {"prone": "buik", "supine": "rug", "sitting": "zit", "standing": "staan", "free": "geen"}
DEFAULT_VARIANT = "standaard"
VARIANT_NAMES = (*VARIANTS.values(), DEFAULT_VARIANT)


def variant_key(key: str, variant: str) -> str:
    """How a position's wording of `key` is kept in the book: `rest.measure@zit`."""
    return f"{key}@{variant}"


def base_key(key: str) -> str:
    return key.split("@", 1)[0]


def merge_phrases(book: Mapping[str, tuple[str, ...]], overrides: Mapping[str, tuple[str, ...]]
                  ) -> dict[str, tuple[str, ...]]:
    """`overrides` over `book`: a key given anew (plain or by position) replaces every wording of
    it, so an older position's wording never outlives the therapist's new one."""
    replaced = {base_key(key) for key in overrides}
    return {**{k: v for k, v in book.items() if base_key(k) not in replaced}, **overrides}


@dataclass(frozen=True)
class PhraseBook:
    """Every sentence the coach can say, by key; each key has one or more wordings, said in
    turn (so the patient does not hear the same words over and over), and may be worded per
    position (`VARIANTS`)."""

    phrases: Mapping[str, tuple[str, ...]]

    def wordings(self, key: str, position: str | None = None) -> tuple[str, ...]:
        """The wordings of `key` for a patient in `position` (prone, supine, sitting, standing,
        free): that position's own, else the default ones; () when the book has none."""
        if position is not None:
            own = self.phrases.get(variant_key(key, VARIANTS.get(position, "geen")))
            if own:
                return own
        return self.phrases.get(variant_key(key, DEFAULT_VARIANT)) or self.phrases.get(key) or ()

    def get(self, key: str, repeat: int = 0, position: str | None = None) -> str:
        wordings = self.wordings(key, position)
        if not wordings:
            raise KeyError(key)
        return wordings[repeat % len(wordings)]

    def merged(self, overrides: Mapping[str, tuple[str, ...]]) -> PhraseBook:
        return PhraseBook(merge_phrases(self.phrases, overrides))

    def all_texts(self) -> list[str]:
        return [text for wordings in self.phrases.values() for text in wordings]


@dataclass(frozen=True)
class Session:
    """What one session coaches: exercises in order, and the phrase book."""

    exercises: tuple[Exercise, ...]
    phrases: PhraseBook
