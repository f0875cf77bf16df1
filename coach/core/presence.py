"""Is somebody starting? The daemon's idle watch, pure: fed samples, it says when a session starts.

The box is idle and quiet until a patient inflates the bladder. A bladder being pumped (or a
patient lying on one that is already inflated) reads well above what an empty bladder under a
patient reads (a few mmHg); a single spike or a hand pressing on it briefly is not a patient.
So: the pressure at or above START_MMHG for START_HOLD_S in a row starts a session.
"""

from __future__ import annotations

from coach.core.thresholds import ON_PBU_MMHG

START_MMHG = ON_PBU_MMHG   # an empty bladder under a patient reads 0-5 mmHg; pumping passes this at once
START_HOLD_S = 1.0  # a bump or a spike is shorter


class PresenceWatch:
    def __init__(self, start_mmhg: float = START_MMHG, hold_s: float = START_HOLD_S):
        self.start_mmhg = start_mmhg
        self.hold_s = hold_s
        self._above_since: float | None = None

    def reset(self) -> None:
        self._above_since = None

    def feed(self, t: float, mmhg: float) -> bool:
        """True once the pressure has stayed up long enough: a patient is starting."""
        if mmhg < self.start_mmhg:
            self._above_since = None
            return False
        if self._above_since is None:
            self._above_since = t
        return t - self._above_since >= self.hold_s
