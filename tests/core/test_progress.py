"""Progress over sessions: kept per patient, told to the therapist in the records."""

from __future__ import annotations

from coach.core.progress import PhaseCriteria, criteria_met, summarise


def session(fraction, reps=10):
    ok = round(fraction * reps)
    return summarise([{"exercise": "buiklig-a", "verdict": "ok" if i < ok else "too_weak"}
                      for i in range(reps)], {"buiklig-a": 1})


def test_three_good_sessions_in_a_row_meet_the_criteria():
    criteria = PhaseCriteria(0.8, 3)
    assert not criteria_met([session(0.9), session(0.9)], 1, criteria)
    assert criteria_met([session(0.5), session(0.8), session(0.9), session(1.0)], 1, criteria)
    assert not criteria_met([session(0.9), session(0.7), session(0.9), session(0.9)], 1, criteria)
    assert criteria_met([session(0.9), session(0.7), session(0.9), session(0.9)], 1, PhaseCriteria(0.8, 2))


