"""Streaming analysis of the PBU pressure: rest profile, levels, repetitions and their verdicts.

One code path for the live coach and for `rugcoach analyze`: both feed samples with `feed(t, mmhg)`
and mark repetitions with `begin_rep(t)` / `end_rep(t)` (the coach's contract and relax cues, or
the `cue` column of a trace). Everything is O(1) per sample except the rest profile, which runs
once per exercise on a short window with numpy.

How it judges (see README, "How the analysis decides"):
- A 3-sample median removes single-sample spikes before anything else sees them.
- Two moving means by time (not by sample count, so 10 Hz and 100 Hz and jittered clocks are
  judged alike): `fast` (about a second; follows the patient quickly) and `slow` (one breathing
  period; cancels the breathing ripple exactly).
- The rest profile (baseline, noise, breathing period and ripple) is measured on the patient at
  rest, and every margin is relative to it, never a fixed constant.
- A repetition is judged against the baseline just before it, so a slow leak does not turn
  good repetitions bad.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from coach.core.compensations import CompensationTracker
from coach.core.events import Compensation, Repetition
from coach.core.levels import MovingMean, MovingMedian
from coach.core.protocol import Target
from coach.core.signal import DEFAULT_BREATH_PERIOD, RepWindow, RestProfile, measure_rest
from coach.core.thresholds import OFF_PBU_MMHG

REST_WINDOW_S = 12.0         # s of quiet lying used for the rest profile
BAND_LEVEL_S = 1.0           # the level judged against the band: the median of this long
GRACE_S = 1.0                # a dip out of the band shorter than this does not stop the hold timer
HELD_FRACTION_OK = 0.9       # held at least 90% of the asked hold time counts as held
# A contraction that stops short of the band (too weak): judged once it has stopped rising
SETTLE_AFTER_CUE_S = 2.0     # not before the patient can have reacted and drawn in
SETTLE_WINDOW_S = 1.5        # over this long ...
SETTLE_RISE_MMHG = 0.8       # ... it went on by less than this (a breath's ripple is about this)
REAL_MOVE_MMHG = 1.0         # and its level over a breath moved at least this far the right way
# A repetition's baseline: the slow level over the last two breaths (whole breaths cancel the
# ripple), at least 4 s of it, and none of the 2 s after the previous repetition (the muscle
# still letting go would pull the baseline towards the contraction).
BASELINE_BREATHS = 2
BASELINE_MIN_S = 4.0
SETTLE_AFTER_REP_S = 2.0


class Analyzer:
    """Feed samples in time order; mark repetitions; read the running judgement."""

    def __init__(self, target: Target, hold_s: float, exercise_id: str = "",
                 start_pressure: float | None = None, start_tolerance: float = 3.0):
        self.target = target
        self.hold_s = hold_s
        self.exercise_id = exercise_id
        self.compensations = CompensationTracker(target.direction, start_pressure, start_tolerance)
        self.profile: RestProfile | None = None
        self._median3: deque[float] = deque(maxlen=3)
        self._fast = MovingMean(1.0)
        self._band_level = MovingMedian(BAND_LEVEL_S)
        self._slow = MovingMean(DEFAULT_BREATH_PERIOD)
        self._history: deque[tuple[float, float]] = deque()  # despiked samples, last ~30 s
        self.t: float | None = None
        self.raw = 0.0
        self.fast = 0.0
        self.slow = 0.0
        self.band_level = 0.0
        self.rep: RepWindow | None = None
        self.reps_done = 0
        self._last_rep_end: float | None = None

    # -- samples -------------------------------------------------------------------------
    def feed(self, t: float, mmhg: float) -> None:
        self._median3.append(mmhg)
        value = sorted(self._median3)[len(self._median3) // 2] if len(self._median3) == 3 else mmhg
        previous_t = self.t
        self.t, self.raw = t, value
        self.fast = self._fast.push(t, value)
        self.slow = self._slow.push(t, value)
        self.band_level = self._band_level.push(t, value)
        self._history.append((t, value))
        while self._history[0][0] < t - 30.0:
            self._history.popleft()
        if self.rep is not None and previous_t is not None:
            self._update_rep(self.rep, t, t - previous_t)
        self.compensations.update(t, self.raw, self.rep, self.profile)

    @classmethod
    def for_exercise(cls, exercise) -> Analyzer:
        """The analysis of one exercise: its target, hold time and start pressure."""
        return cls(exercise.target, exercise.hold_s, exercise.id, exercise.start_pressure,
                   exercise.start_tolerance)

    def take_events(self) -> list[Compensation]:
        """The compensation events that ended since the last call (drain once per step, after
        the step's cues, so live and `analyze` give them in the same order)."""
        return self.compensations.take_events()

    def finish(self, t: float) -> list[Compensation]:
        """The exercise ends (or the trace): the episodes still under way, ended now."""
        rest_level = None
        if self.rep is None and self._last_rep_end is not None and self.profile is not None:
            since = self._last_rep_end + SETTLE_AFTER_REP_S
            # a whole breath of rest after the last repetition, with the patient on the bladder
            if t - since >= self.profile.breath_period and self.compensations.on_since(self._last_rep_end):
                rest_level = self._slow.mean_since(since)
        self.compensations.finish(t, rest_level, self.profile)
        return self.compensations.take_events()

    # -- the rest profile ----------------------------------------------------------------
    def rest_profile_now(self, since: float | None = None) -> RestProfile:
        """The rest profile of the last REST_WINDOW_S seconds (or since `since`), not kept."""
        end = self.t if self.t is not None else 0.0
        start = max(end - REST_WINDOW_S, since if since is not None else -math.inf)
        picked = [(t, x) for t, x in self._history if t >= start]
        return measure_rest(np.array([t for t, _ in picked]), np.array([x for _, x in picked]))

    def measure_rest(self) -> RestProfile:
        """Take the last REST_WINDOW_S seconds as this exercise's rest profile: done once, at the
        first repetition, at the same moment live and in `analyze`."""
        self.profile = self.rest_profile_now()
        self._slow.window = self.profile.breath_period
        return self.profile

    @property
    def breath_holds_judged(self) -> bool | None:
        """Are breath holds judged on this exercise? None until the rest profile is taken; False
        where the patient's breathing at rest could not be followed (too small against the
        sensor's noise or step, or not one whole breath in the rest): then no breath-hold
        correction means nothing, and the report says 'ademhaling niet te volgen' (issue 31).
        Keep-steady exercises follow the breath turn by turn (RestProfile.breathing_followable),
        the others by its wave (RestProfile.breathing_visible)."""
        if self.profile is None:
            return None
        if self.target.direction == 0:
            return self.profile.breathing_followable
        return self.profile.breathing_visible

    # -- repetitions ---------------------------------------------------------------------
    def begin_rep(self, t: float) -> RepWindow:
        profile = self.profile if self.profile is not None else self.measure_rest()
        period = profile.breath_period
        since = t - max(BASELINE_BREATHS * period, BASELINE_MIN_S)
        if self._last_rep_end is not None:
            since = max(since, self._last_rep_end + SETTLE_AFTER_REP_S)
        baseline = self._slow.mean_since(since)
        if baseline is None:
            baseline = self.slow
        self.reps_done += 1
        lo, hi = self.target.band
        self.rep = RepWindow(self.reps_done, t, baseline, (lo, hi), changes=[])
        self.compensations.rep_begins(t, baseline, profile)
        return self.rep

    def _update_rep(self, rep: RepWindow, t: float, dt: float) -> None:
        change = rep.change_now(self.fast)
        rep.changes.append((t, change))
        # in the band or not on the 1 s median: as calm as the mean, but a step out (off the
        # bladder, a pelvic tilt) and back costs its own length, not a second more
        # (nobody on the bladder holds nothing: that is out at once, not half a window later)
        inside = rep.band[0] <= rep.change_now(self.band_level) <= rep.band[1] and self.raw >= OFF_PBU_MMHG
        if self.raw < OFF_PBU_MMHG:
            rep.last_off = t
        if inside:
            if rep.out_of_band_s > 0 and rep.last_off is not None:
                # back on the bladder: the median came back into the band half its window after
                # the pressure did (it left at once: see above)
                rep.held_s += min(BAND_LEVEL_S / 2, t - rep.last_off)
                rep.last_off = None
            if rep.reached_at is None:
                rep.reached_at = t
                # the trailing median enters the band half its window after the pressure did
                # (and it leaves and re-enters equally late, so only this first entry is owed)
                rep.held_s += min(BAND_LEVEL_S / 2, t - rep.start)
            rep.held_s += dt + (rep.pending_s if rep.out_of_band_s > 0 else 0.0)
            rep.out_of_band_s = rep.pending_s = 0.0
            rep.in_band = True
        elif rep.reached_at is not None:
            rep.out_of_band_s += dt
            rep.pending_s += dt
            if rep.out_of_band_s > GRACE_S:
                rep.pending_s = 0.0  # a real excursion, not a glitch: that time is not held
                rep.in_band = False
            else:
                rep.in_band = True  # within the grace period the hold still counts as going on

    def fault_now(self) -> str | None:
        """What is wrong right now in the running repetition (for corrections), or None."""
        rep = self.rep
        if rep is None or self.profile is None:
            return None
        if self.raw < OFF_PBU_MMHG:
            return None   # nobody on the bladder: no word about a level (the coach pauses for it)
        active = self.compensations.active
        for kind in ("pelvis_moved", "pushing", "breath_hold"):
            if kind in active:
                return kind
        if self.compensations.pelvis_suspected:
            # a fast step that also left the band: its persistence counts as a pelvic step from
            # the start, so the patient hears "Houd uw bekken stil", not a word about the level
            # (if the step is not confirmed, the fault changes and its persistence restarts)
            return "pelvis_moved"
        change = rep.change_now(self.fast)
        lo, hi = rep.band
        direction = self.target.direction
        margin = self.profile.margin
        # bearing down on the 0.3 s level: a rise past the margin is no breath (the margin is
        # over half the ripple's peak to peak) and no noise (four times it), and this level
        # shows it half a second before the 1 s one does
        quick = rep.change_now(self.compensations.quick)
        if direction != 0 and quick * direction < -margin:
            return "pushing"
        if direction == 0 and self.far_out_of_band():
            # a keep-steady level clearly past its band on the 0.3 s level: the back pressed
            # down or lifted, shown half a second before the 1 s level shows it
            return "too_strong" if quick > hi else "too_weak"
        if lo <= change <= hi:
            return None
        if direction == 0:
            return "too_strong" if change > hi else "too_weak"
        near_edge_short = change > hi if direction < 0 else change < lo
        return "too_weak" if near_edge_short else "too_strong"

    def far_out_of_band(self) -> bool:
        """The 0.3 s level past the band by more than breathing and noise swing it (over half
        the ripple's peak to peak, four times the noise): the coach tells a keep-steady level
        fault sooner then (as the urgent ones)."""
        rep, profile = self.rep, self.profile
        if rep is None or profile is None:
            return False
        lo, hi = rep.band
        quick = rep.change_now(self.compensations.quick)
        return quick > hi + profile.swing or quick < lo - profile.swing

    def settled_short(self, now: float) -> bool:
        """A contraction that went the right way, by more than breathing and noise, and stopped rising
        short of the band: too weak, and worth a word now (a therapist says "a bit further" a
        few seconds after it settles). A patient who does nothing at all is not this: they are
        shown how again (contract.help) when the cue's time runs out."""
        rep, profile = self.rep, self.profile
        if rep is None or profile is None or not rep.changes or self.target.direction == 0:
            return False
        if now - rep.start < SETTLE_AFTER_CUE_S:
            return False
        direction = self.target.direction
        toward = rep.changes[-1][1] * direction
        near_edge = min(abs(rep.band[0]), abs(rep.band[1]))
        # real: the level over a whole breath (the ripple averaged out) moved the right way
        moved = (self.slow - rep.baseline) * direction
        if not (moved > max(REAL_MOVE_MMHG, 4.0 * profile.noise) and toward < near_edge):
            return False
        earlier = [c for t, c in rep.changes if t <= now - SETTLE_WINDOW_S]
        if not earlier:
            return False
        return toward - earlier[-1] * direction < SETTLE_RISE_MMHG

    def end_rep(self, t: float) -> Repetition:
        """Close the repetition and return its `rep` event (CONTRACT section 5)."""
        rep = self.rep
        if rep is None:
            raise ValueError("end_rep() without begin_rep(): no repetition is running")
        off_at_end = self.compensations.off_pbu_active
        self.compensations.rep_ends(t)
        self.rep = None
        self._last_rep_end = t
        verdict, change = self._verdict(rep)
        if off_at_end and verdict == "ok":
            verdict = "not_held"  # it ended with nobody on the bladder: the hold was not finished
        return Repetition(round(t, 3), self.exercise_id, rep.number, round(rep.start, 3), round(t, 3),
                          round(rep.held_s, 2), round(change, 2), verdict)

    def _verdict(self, rep: RepWindow) -> tuple[str, float]:
        changes = rep.changes or [(rep.start, 0.0)]
        duration = changes[-1][0] - rep.start
        if rep.reached_at is not None:
            plateau = [c for t, c in changes if t >= rep.reached_at]
        else:
            plateau = [c for t, c in changes if t >= rep.start + min(3.0, duration / 2)]
        change = float(np.median(plateau or [c for _, c in changes]))
        if rep.held_s >= HELD_FRACTION_OK * self.hold_s:
            return "ok", change
        lo, hi = rep.band
        direction = self.target.direction
        margin = self.profile.margin if self.profile else 2.0
        if direction == 0:
            if change > hi:
                return "too_strong", change
            if change < lo:
                return "too_weak", change
            return "not_held", change
        toward = change * direction  # positive = the intended way
        far_edge = max(abs(lo), abs(hi))
        near_edge = min(abs(lo), abs(hi))
        if rep.reached_at is not None:
            beyond = sum(1 for _, c in changes if c * direction > far_edge)
            return ("too_strong" if beyond > len(changes) / 2 else "not_held"), change
        if toward < -margin:
            return "pushing", change
        return ("too_strong" if toward > far_edge else "too_weak" if toward < near_edge else "not_held"), change


def replay(analyzer: Analyzer, rows: Iterable[tuple[float, float, str]],
           after_sample: Callable[[float], None] | None = None) -> Iterator[Repetition | Compensation]:
    """A trace with cues (t, mmHg, cue: contract, relax or empty) through the analysis, as the live
    coach feeds it: its repetition and compensation events in the order the coach gives them.
    A `contract` while a repetition is open ends that one first (a relax mark that got lost).
    One replay for `rugcoach analyze`, the accuracy suite and the benchmark; `after_sample(t)`
    lets a caller look at the running state after each sample."""
    t = None
    for t, mmhg, cue in rows:
        analyzer.feed(t, mmhg)
        if cue == "contract":
            if analyzer.rep is not None:
                yield analyzer.end_rep(t)
            analyzer.begin_rep(t)
        elif cue == "relax" and analyzer.rep is not None:
            yield analyzer.end_rep(t)
        yield from analyzer.take_events()
        if after_sample is not None:
            after_sample(t)
    if t is not None:
        yield from analyzer.finish(t)
