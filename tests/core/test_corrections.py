"""The correction policy: one at a time, a minimum gap, a second wording, praise when fixed."""

import pytest

from coach.core.corrections import CorrectionPolicy


@pytest.mark.parametrize("gap", [3.0, 8.0])
def test_a_lasting_fault_is_corrected_again_after_the_gap_with_the_next_wording(gap):
    policy = CorrectionPolicy(min_gap_s=gap)
    said = []
    t = 0.0
    while t < 30.0:
        advice = policy.observe(t, "pushing", can_speak=True)
        if advice:
            said.append((round(t, 2), advice.kind, advice.repeat))
        t += 0.02
    times = [s[0] for s in said]
    assert times[0] == pytest.approx(1.0, abs=0.05), "after the fault lasted persist_s, not at once"
    assert all(b - a >= gap - 1e-6 for a, b in zip(times, times[1:])), "never closer than the gap"
    assert [s[2] for s in said[:2]] == [0, 1], "the second time, the second wording"
    assert len(said) >= int(29 / gap), "never silence while something is wrong for long"


def test_a_glitch_is_not_corrected_and_a_fix_is_praised():
    policy = CorrectionPolicy()
    assert policy.observe(0.0, "breath_hold", True) is None
    assert policy.observe(0.5, None, True) is None           # half a second: not corrected
    assert policy.observe(1.0, "breath_hold", True) is None
    assert policy.observe(2.1, "breath_hold", True).kind == "breath_hold"
    assert policy.observe(2.5, None, True) is None
    assert policy.observe(3.6, None, True).kind == "praise"


def test_nothing_is_said_while_the_coach_cannot_speak():
    policy = CorrectionPolicy()
    assert policy.observe(0.0, "pushing", False) is None
    assert policy.observe(2.0, "pushing", False) is None
    assert policy.observe(2.1, "pushing", True).kind == "pushing"
