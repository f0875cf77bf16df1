"""The analysis against labelled traces: verdicts, hold times, compensations, timeliness.

Thresholds were tuned on seeds 0-99 of the prone traces; the goals are asserted on held-out
seeds (1000-1119 prone, 3000-3039 for each other scenario of tests/tracegen.py: keep-steady
holds with a limb moving, a short quiet start, coarse sensors, a steady leak, getting off after
the last repetition). The per-scenario table is printed with every run. Precision is printed,
not asserted (the issue sets no goal for it); on traces full of faults, pelvis_moved is the
weakest (about 70%)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from coach.core.analysis import Analyzer, replay
from tests.tracegen import HOLD_S, PRONE, SCENARIOS, generate

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast

HELD_OUT = range(1000, 1120)
KINDS = ("breath_hold", "pushing", "pelvis_moved", "leak", "off_pbu", "not_inflated")


def analyse(trace):
    """The trace through the very replay `rugcoach analyze` uses; when each kind was active."""
    scenario = trace.scenario
    analyzer = Analyzer(scenario.target, HOLD_S, "gen", scenario.start, 3.0)
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


def evaluate(seeds, scenario=PRONE):
    verdicts = held = total = 0
    found = defaultdict(lambda: [0, 0, 0])  # kind -> [labelled, recalled, detected-correct]
    detected = defaultdict(int)
    late, timed = [], 0
    for seed in seeds:
        trace = generate(seed, scenario=scenario)
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


def false_compensations(seeds, scenario=PRONE):
    """On clean traces (a patient who does it right): the compensations reported, their minutes,
    and the count by kind. A scenario's own labelled episodes (a steady leak, getting off after
    the last repetition) are not false."""
    count = minutes = 0
    kinds = defaultdict(int)
    for seed in seeds:
        trace = generate(seed, clean=True, scenario=scenario)
        _, comps, _ = analyse(trace)
        for c in comps:
            if not any(k == c["kind"] and overlaps((c["start"], c["end"]), (a, b))
                       for k, a, b in trace.compensations):
                count += 1
                kinds[c["kind"]] += 1
        minutes += trace.minutes
    return count, minutes, kinds


SCENARIO_SEEDS = {name: (HELD_OUT if name == "prone" else range(3000, 3040)) for name in SCENARIOS}
CLEAN_SEEDS = {name: (range(2000, 2040) if name == "prone" else range(4000, 4020)) for name in SCENARIOS}
IN_TIME_SHARE = 0.95   # of the detected onsets flagged within their limit (all pushing and pelvis)


def test_accuracy_on_held_out_seeds_per_scenario(capsys):
    """The goals, prone and keep-steady together: verdicts >= 98%, hold times within 2 s >= 98%,
    every kind's recall >= 95% (breath holds on keep-steady >= 80%, where the ripple can be seen),
    false compensations on clean traces <= 0.1 a minute, none of them a push or a pelvic step."""
    rows, totals = [], defaultdict(float)
    recall_all = defaultdict(lambda: [0, 0])
    late_all, timed_all, false_kinds = [], 0, defaultdict(int)
    for name, scenario in SCENARIOS.items():
        verdict_acc, held_acc, found, detected, late, total, timed = evaluate(SCENARIO_SEEDS[name], scenario)
        false_count, minutes, kinds = false_compensations(CLEAN_SEEDS[name], scenario)
        rows.append((name, total, verdict_acc, held_acc, found, detected, false_count / minutes, minutes, late, timed))
        totals["reps"] += total
        totals["verdicts"] += verdict_acc * total
        totals["held"] += held_acc * total
        totals["false"] += false_count
        totals["minutes"] += minutes
        for kind, (labelled, recalled, _) in found.items():
            recall_all[kind][0] += labelled
            recall_all[kind][1] += recalled
        late_all += late
        timed_all += timed
        for kind, count in kinds.items():
            false_kinds[kind] += count
    with capsys.disabled():
        print(f"\n  {'scenario':21s} {'reps':>5s} {'verdict':>8s} {'held':>7s} {'false/min':>9s}   recall (precision)")
        for name, total, verdict_acc, held_acc, found, detected, false_rate, _minutes, late, timed in rows:
            recall = "  ".join(f"{kind} {found[kind][1]}/{found[kind][0]} ({found[kind][2]}/{detected[kind]})"
                               for kind in KINDS if found[kind][0] or detected[kind])
            print(f"  {name:21s} {total:5d} {verdict_acc:8.1%} {held_acc:7.1%} {false_rate:9.3f}   {recall}"
                  f"   in time {timed - len(late)}/{timed}")
        print(f"  {'all':21s} {int(totals['reps']):5d} {totals['verdicts'] / totals['reps']:8.1%} "
              f"{totals['held'] / totals['reps']:7.1%} {totals['false'] / totals['minutes']:9.3f}   "
              f"clean traces: {totals['minutes']:.0f} min; late: {late_all[:6]}")
    assert totals["verdicts"] / totals["reps"] >= 0.98
    assert totals["held"] / totals["reps"] >= 0.98
    for kind, (labelled, recalled) in recall_all.items():
        assert recalled / labelled >= 0.95, (kind, recalled, labelled)
    steady_found = next(row[4] for row in rows if row[0] == "keep-steady")
    labelled, recalled, _ = steady_found["breath_hold"]
    assert labelled >= 10 and recalled / labelled >= 0.8, "breath holds on keep-steady, where seen"
    assert totals["false"] / totals["minutes"] <= 0.1
    assert not false_kinds.get("pushing") and not false_kinds.get("pelvis_moved"), dict(false_kinds)
    assert (timed_all - len(late_all)) / timed_all >= IN_TIME_SHARE, late_all
    assert not [kind for _, kind, _ in late_all if kind in ("pushing", "pelvis_moved")], late_all


@pytest.mark.parametrize("seed", range(5))
def test_the_generator_labels_what_it_made(seed):
    trace = generate(seed)
    assert len(trace.reps) == 8
    assert all(r.verdict in ("ok", "too_weak", "too_strong", "pushing", "not_held") for r in trace.reps)
    assert (trace.t[1:] > trace.t[:-1]).all(), "timestamps increase"
