"""Pressures and margins that more than one part of the box uses, each named once, with its
reason. The coach's own timing constants stay beside the code that uses them (coach.core.coach)."""

from __future__ import annotations

# Nobody is on the bladder below this (or the tube came loose): an empty bladder with nobody on
# it reads 0-3 mmHg, a patient lying on an uninflated one 3-5. After a session the daemon waits
# for the bladder to read below it (let down) before the next patient may start.
OFF_PBU_MMHG = 10.0

# Somebody is on an inflated bladder at or above this: pumping passes it within a squeeze or two,
# and a patient lying on an empty bladder never reaches it. It starts a session (the daemon's
# idle watch), and says a patient who got off is back (the coach).
ON_PBU_MMHG = 20.0

# The start pressure is off only beyond its tolerance plus this: the pump moves the pressure in
# squeezes of several mmHg, and air settles in a new bladder and its tube at first (DOMAIN.md), so
# a level just outside the tolerance after the rest measurement is not worth pumping again.
START_SLACK_MMHG = 2.0


def start_is_off(level: float, start_pressure: float, tolerance: float) -> bool:
    return abs(level - start_pressure) > tolerance + START_SLACK_MMHG


def leak_level(start_pressure: float, tolerance: float, change: float) -> float:
    """Between repetitions, a level below this means the bladder lost air: re-pump. It lies the
    tolerance and twice the larger of 2 mmHg and half the target change under the start
    pressure: below anywhere a relaxed patient's level sits (a contraction's after-effect is at
    most half its change), so only air that has gone brings the patient the sentence."""
    return start_pressure - tolerance - 2 * max(2.0, abs(change) / 2)
