"""How soon the patient hears that the pelvis moved or that they bear down: the simulated patient
tilts or pushes, and the time from its onset to the correction's first word is measured on
every PBU exercise (issue: a therapist watching the dial says it within about a second).

The onset is when the fault begins in the patient: the step of the pelvis, the first moment of
bearing down. On a keep-steady exercise bearing down shows only as a rise past the band (a
rise of 0-2 mmHg is the contraction itself there), so it is measured from the moment the rise
leaves the band, and corrected with the keep-steady wording ("Duw uw rug niet in het kussen.").
That level fault waits 0.5 s, not the 0.2 s of a detected step or push: a keep-steady level
hovering at its band's edge with the breathing would otherwise be told at every breath. Once
the 0.3 s level is past the band by more than breathing and noise swing it, the rise is real and
it waits 0.2 s too (Analyzer.far_out_of_band)."""

from __future__ import annotations

import math
import statistics

import pytest

from coach.sim.core_run import simulate
from coach.sim.patient import Behaviour, Physiology

pytestmark = pytest.mark.slow   # 60 whole simulated exercises, 120 up to their first fault, 28 at 25 Hz

SEEDS = range(6)


TOLD_WITHIN_S = 10.0   # an onset not corrected by then counts as missed


def told_or_missed(patient, t: float) -> bool:
    """The rest of the session adds nothing once its first fault was told or missed: the fault
    comes once (a patient stops it when told; one never told repeats it, and is missed already)."""
    return bool(patient.onsets) and t > patient.onsets[0][1] + TOLD_WITHIN_S + 5.0


def latencies(library, kind):
    """(latency, exercise, seed) of every onset of `kind`; the onsets never corrected apart."""
    found, missed = [], []
    for exercise in (e for e in library.exercises.values() if e.uses_pbu):
        steady = exercise.target.kind == "steady"
        for seed in SEEDS:
            behaviour = Behaviour(moves_pelvis_at=2.0 + 0.5 * seed) if kind == "pelvis_moved" \
                else Behaviour(pushes=True)
            patients = []
            events, _, _ = simulate(library.session(exercise=exercise.id), seed=seed, behaviour=behaviour,
                                    patients=patients, until=told_or_missed)
            told_as = {kind} | ({"too_strong"} if kind == "pushing" and steady else set())
            told = [e["t"] for e in events if e["type"] == "correction" and e["kind"] in told_as]
            for fault, onset, size in patients[0].onsets:
                if fault != kind:
                    continue
                if kind == "pushing" and steady:   # from leaving the band (+3 mmHg)
                    onset += -behaviour.contract_tau_s * math.log(1 - exercise.target.tolerance / size)
                after = [t - onset for t in told if t >= onset]
                (found if after and after[0] < TOLD_WITHIN_S else missed).append(
                    (round(after[0], 2) if after else None, exercise.id, seed, steady))
    return found, missed


def summary(found):
    values = sorted(f[0] for f in found)
    return statistics.median(values), values[-1]


@pytest.mark.parametrize("kind", ["pelvis_moved", "pushing"])
def test_the_pelvis_and_bearing_down_are_told_within_a_second(library, kind, capsys):
    found, missed = latencies(library, kind)
    prone = [f for f in found if not f[3]]
    steady = [f for f in found if f[3]]
    with capsys.disabled():
        for name, part in (("prone", prone), ("keep-steady", steady)):
            median, worst = summary(part)
            print(f"\n  {kind} {name}: {len(part)} onsets, correction after median {median:.2f} s, "
                  f"worst {worst:.2f} s")
        if missed:
            print(f"  {kind}: {len(missed)} onsets not told as such (first: {missed[:3]})")
    for part, (median_goal, worst_goal) in ((prone, (1.0, 1.5)), (steady, (1.0, 1.5))):
        median, worst = summary(part)
        assert median <= median_goal and worst <= worst_goal, (kind, median, worst, sorted(part)[-3:])
    assert not missed, missed


def test_a_patient_who_does_it_right_is_never_told_about_the_pelvis_or_bearing_down(library):
    for exercise in (e for e in library.exercises.values() if e.uses_pbu):
        for seed in SEEDS:
            events, _, _ = simulate(library.session(exercise=exercise.id), seed=seed)
            told = [e for e in events if e["type"] in ("correction", "compensation")
                    and e["kind"] in ("pelvis_moved", "pushing")]
            assert not told, (exercise.id, seed, told)


@pytest.mark.parametrize("body", [Physiology(breath_period=3.0, ripple=1.5, noise=0.5, quantum=0.5),
                                  Physiology(breath_period=6.0, ripple=2.0, noise=0.3)],
                         ids=["fast-breath-coarse-sensor", "deep-breath"])
def test_a_steady_patient_breathing_deeply_is_never_told_the_level(library, body):
    """The sooner word for a keep-steady level clearly past its band must not come from the
    breathing: a ripple up to 2 mmHg on a coarse, noisy sensor is no rise of the back."""
    for exercise in (e for e in library.exercises.values() if e.uses_pbu and e.target.kind == "steady"):
        for seed in range(2):
            events, _, _ = simulate(library.session(exercise=exercise.id), seed=seed, body=body, rate_hz=25.0)
            told = [e for e in events if e["type"] == "correction"]
            assert not told, (exercise.id, seed, told)
