"""When to correct the patient: a policy an elderly patient can live with.

- one correction at a time, and at least `min_gap_s` between corrections;
- a fault must last `persist_s` before it is corrected (no nagging about a moment's wobble);
  the coach may ask for less for an urgent one (the pelvis moving, bearing down: their
  detectors have already debounced them, and a therapist watching the dial says it within
  about a second);
- the same fault again gets the second wording;
- when a corrected fault is fixed, a word of praise;
- while a fault lasts, it is corrected again after the gap: never silence when something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Advice:
    kind: str          # a correction kind (too_weak, pushing, ...) or "praise"
    repeat: int = 0    # how often this kind was said before: picks the wording


@dataclass
class CorrectionPolicy:
    min_gap_s: float = 5.0
    persist_s: float = 1.0
    praise_after_s: float = 1.0
    _fault: str | None = None
    _fault_since: float = 0.0
    _last_correction: float = float("-inf")
    _corrected: str | None = None
    _counts: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        """A new repetition: forget the running fault, keep the counts (for the wording)."""
        self._fault, self._corrected = None, None

    def observe(self, t: float, fault: str | None, can_speak: bool,
                persist_s: float | None = None) -> Advice | None:
        if fault != self._fault:
            self._fault, self._fault_since = fault, t
        if not can_speak:
            return None
        if fault is None:
            if self._corrected is not None and t - self._fault_since >= self.praise_after_s:
                self._corrected = None
                return Advice("praise", self._bump("praise"))
            return None
        persist = self.persist_s if persist_s is None else persist_s
        if t - self._fault_since >= persist and t - self._last_correction >= self.min_gap_s:
            self._last_correction = t
            self._corrected = fault
            return Advice(fault, self._bump(fault))
        return None

    def _bump(self, kind: str) -> int:
        count = self._counts.get(kind, 0)
        self._counts[kind] = count + 1
        return count
