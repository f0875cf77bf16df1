"""The simulated sensor is a test double: starved of the CPU (a busy loop on the same core), it
can write nothing for longer than the coach's LOST_AFTER_S, and the coach then rightly says the
sensor is lost and pauses the repetition under way (it is recorded and done again). A real
sensor never stalls. These helpers let a test tell such a loss from a fault of the coach."""

from __future__ import annotations


def losses(told: list[dict]) -> list[tuple[float, float]]:
    """(lost, back) pairs of the coach's `sensor` events, in session time."""
    pairs, lost = [], None
    for event in told:
        if event["type"] == "sensor":
            if event["status"] == "lost":
                lost = event["t"]
            elif lost is not None:
                pairs.append((lost, event["t"]))
                lost = None
    return pairs


def reps_not_cut_by(told: list[dict], cuts: list[tuple[float, float]]) -> list[dict]:
    """The repetitions that no loss of the sensor cut into."""
    return [r for r in told if r["type"] == "rep"
            and not any(r["start"] <= back and r["end"] >= lost for lost, back in cuts)]
