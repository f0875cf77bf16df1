"""The analysis against labelled traces: verdicts, hold times, compensations, timeliness.

Thresholds were tuned on seeds 0-99; the goals are asserted on held-out seeds 1000-1119.
The figures are printed with every run. Precision is printed, not asserted (the issue sets
no goal for it); on traces full of faults, pelvis_moved is the weakest (about half)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from coach.core.analysis import Analyzer, replay
from coach.core.protocol import Target
from tests.tracegen import HOLD_S, START, generate

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast

HELD_OUT = range(1000, 1120)
KINDS = ("breath_hold", "pushing", "pelvis_moved", "leak", "off_pbu", "not_inflated")


def analyse(trace):
    """The trace through the very replay `rugcoach analyze` uses; when each kind was active."""
    analyzer = Analyzer(Target("change", -10.0, 5.0), HOLD_S, "gen", START, 3.0)
    first_active = defaultdict(list)

    def note_active(t):
        for kind in analyzer.compensations.active:
            if not first_active[kind] or first_active[kind][-1][1] < t - 0.5:
                first_active[kind].append([t, t])
            else:
                first_active[kind][-1][1] = t

    rows = ((t, p, trace.cues.get(i, "")) for i, (t, p) in enumerate(zip(trace.t.tolist(), trace.p.tolist())))
    events = [event.as_dict() for event in replay(analyzer, rows, note_active)]
    reps = [e for e in events if e["type"] == "rep"]
    comps = [e for e in events if e["type"] == "compensation"]
    return reps, comps, first_active


def overlaps(a, b, slack=2.0):
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def evaluate(seeds):
    verdicts = held = total = 0
    found = defaultdict(lambda: [0, 0, 0])  # kind -> [labelled, recalled, detected-correct]
    detected = defaultdict(int)
    late, timed = [], 0
    for seed in seeds:
        trace = generate(seed)
        reps, comps, active = analyse(trace)
        assert len(reps) == len(trace.reps)
        for got, want in zip(reps, trace.reps):
            total += 1
            verdicts += got["verdict"] == want.verdict
            held += abs(got["held_s"] - want.held_s) <= 2.0
        for kind, a, b in trace.compensations:
            found[kind][0] += 1
            hits = [c for c in comps if c["kind"] == kind and overlaps((c["start"], c["end"]), (a, b))]
            found[kind][1] += bool(hits)
            if kind in ("pushing", "pelvis_moved", "off_pbu", "breath_hold") and hits:
                # timeliness of what was found; what was not found counts against recall
                timed += 1
                onset = a if kind != "pushing" else a + 0.5  # pushing: when the rise passes the margin
                # in time: flagged active at some moment between the onset and onset + limit
                limit = 1.5 if kind != "breath_hold" else trace.breath_period + 2.0
                flagged = [max(s, onset) for s, e in active.get(kind, [])
                           if e >= onset and s <= onset + limit]
                if not flagged:
                    later = [s for s, e in active.get(kind, []) if s > onset]
                    late.append((seed, kind, round(later[0] - onset, 2) if later else None))
        for c in comps:
            detected[c["kind"]] += 1
            if any(k == c["kind"] and overlaps((c["start"], c["end"]), (a, b))
                   for k, a, b in trace.compensations):
                found[c["kind"]][2] += 1
    return verdicts / total, held / total, found, detected, late, total, timed


def false_per_minute(seeds):
    count = minutes = 0
    for seed in seeds:
        trace = generate(seed, clean=True)
        _, comps, _ = analyse(trace)
        count += len(comps)
        minutes += trace.minutes
    return count / minutes, minutes


def test_accuracy_on_held_out_seeds(capsys):
    verdict_acc, held_acc, found, detected, late, total, timed = evaluate(HELD_OUT)
    false_rate, minutes = false_per_minute(range(2000, 2040))
    with capsys.disabled():
        print(f"\naccuracy on {len(HELD_OUT)} held-out traces ({total} repetitions):")
        print(f"  verdict accuracy: {verdict_acc:.1%}   held_s within 2 s: {held_acc:.1%}")
        for kind in KINDS:
            labelled, recalled, correct = found[kind]
            if labelled or detected[kind]:
                precision = correct / detected[kind] if detected[kind] else float("nan")
                print(f"  {kind:13s} recall {recalled}/{labelled} = {recalled / max(labelled, 1):.0%}"
                      f"   precision {correct}/{detected[kind]} = {precision:.0%}")
        print(f"  false compensations on clean traces: {false_rate:.3f} per minute ({minutes:.0f} min)")
        print(f"  detected onsets flagged in time: {timed - len(late)}/{timed}; late: {late[:8]}")
    assert verdict_acc >= 0.95
    assert held_acc >= 0.95
    for kind in KINDS:
        labelled, recalled, _ = found[kind]
        if labelled:
            assert recalled / labelled >= 0.9, kind
    assert false_rate <= 0.2
    assert not late, "every detected pushing, pelvis_moved, off_pbu and breath_hold in time"


@pytest.mark.parametrize("seed", range(5))
def test_the_generator_labels_what_it_made(seed):
    trace = generate(seed)
    assert len(trace.reps) == 8
    assert all(r.verdict in ("ok", "too_weak", "too_strong", "pushing", "not_held") for r in trace.reps)
    assert (trace.t[1:] > trace.t[:-1]).all(), "timestamps increase"
