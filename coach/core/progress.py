"""Progress over sessions: when may a patient move on to the next phase?

Pure: a session is summarised from its `rep` events; the criteria look at the last sessions.
The therapist decides; the box only records that the criteria are met (never tells the patient).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhaseCriteria:
    good_fraction: float = 0.8     # at least this share of `ok` repetitions ...
    sessions_in_a_row: int = 3     # ... in this many sessions in a row


def summarise(rep_events: list[dict], phases: dict[str, int]) -> dict:
    """Per exercise: repetitions and `ok` ones; per phase: the share of `ok` repetitions."""
    exercises: dict[str, dict] = {}
    for rep in rep_events:
        counts = exercises.setdefault(rep["exercise"], {"reps": 0, "ok": 0})
        counts["reps"] += 1
        counts["ok"] += rep["verdict"] == "ok"
    by_phase: dict[int, list[int]] = {}
    for exercise_id, counts in exercises.items():
        totals = by_phase.setdefault(phases.get(exercise_id, 1), [0, 0])
        totals[0] += counts["ok"]
        totals[1] += counts["reps"]
    return {"exercises": exercises,
            "good_fraction": {str(phase): round(ok / reps, 3) for phase, (ok, reps) in by_phase.items() if reps}}


def criteria_met(history: list[dict], phase: int, criteria: PhaseCriteria) -> bool:
    """True when the last `sessions_in_a_row` sessions with this phase's exercises each reached
    `good_fraction` of good repetitions."""
    key = str(phase)
    relevant = [s for s in history if key in s.get("good_fraction", {})]
    if len(relevant) < criteria.sessions_in_a_row:
        return False
    return all(s["good_fraction"][key] >= criteria.good_fraction
               for s in relevant[-criteria.sessions_in_a_row:])
