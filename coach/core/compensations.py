"""Compensations with a start and an end (CONTRACT section 5), found while the samples stream.

Each kind is a condition on the analysis' running state, debounced so that a single sample or a
moment's wobble never starts an episode. An episode is reported as one `compensation` event when
it ends; `active` tells the coach at once, so it can correct while it still matters.

- off_pbu:      the pressure near zero (the patient got off, or the tube came loose)
- pushing:      during a repetition, the pressure moves against the intended direction
- pelvis_moved: during a hold, a fast step of several mmHg
- breath_hold:  during a repetition, the breathing ripple stops (relative to the patient's own)
- leak:         the baseline before the repetitions creeps down
- not_inflated: the rest baseline is not within reach of the exercise's start pressure
"""

from __future__ import annotations

from collections import deque

import numpy as np

from coach.core.events import Compensation
from coach.core.levels import MovingMean
from coach.core.signal import TURN_SHARE, BreathTurns, RepWindow, RestProfile, breath_wave
from coach.core.thresholds import OFF_PBU_MMHG, ON_PBU_MMHG, start_is_off

PUSH_ON_S, PUSH_OFF_S = 0.4, 0.5
STEP_WINDOW_S = 0.6          # a pelvis step happens within this time
STEADY_BEFORE_S = 1.0        # ... after the level was held steady this long
PELVIS_CONFIRM_S = 0.5       # ... and is confirmed when it has landed (not at the baseline)
QUICK_S = 0.3                # steps are seen on a 0.3 s mean: whole within the step window
UPDATE_EVERY_S = 0.019       # the tracker runs at most at ~50 Hz
RIPPLE_EVERY_S = 0.25        # the ripple is re-measured this often
BREATH_HOLD_BELOW = 0.35     # ripple under this share of the patient's own: not breathing
BREATH_BACK_ABOVE = 0.6
SETTLED_S = 1.0              # breathing is judged on windows that start this long after the band
MOVED_BY_S = 3.0             # ... and after the patient has moved: a keep-steady hold starts in its
                             # band, and a level that leaves it still curves for a few seconds
PUT_S = 3.0                  # a held breath's level stays put: judged over this long
LEAK_SLOPE = 0.02            # mmHg/s (1.2 mmHg a minute) of baseline drift between repetitions


class Debounced:
    """A condition that must hold `on_s` to start an episode and fail `off_s` to end it."""

    def __init__(self, on_s: float, off_s: float):
        self.on_s, self.off_s = on_s, off_s
        self.since: float | None = None      # condition true since
        self.start: float | None = None      # episode start (None: no episode)
        self.false_since: float | None = None

    def update(self, t: float, condition: bool) -> tuple[float, float] | None:
        """Returns (start, end) when an episode ends."""
        if condition:
            self.false_since = None
            if self.since is None:
                self.since = t
            if self.start is None and t - self.since >= self.on_s:
                self.start = self.since
            return None
        self.since = None
        if self.start is None:
            return None
        if self.false_since is None:
            self.false_since = t
        if t - self.false_since >= self.off_s:
            episode = (self.start, self.false_since)
            self.start = self.false_since = None
            return episode
        return None

    def start_now(self, start: float) -> None:
        """Start an episode at `start` at once (the condition was seen over a whole window)."""
        self.since = self.start = start
        self.false_since = None

    @property
    def active(self) -> bool:
        return self.start is not None

    def close(self, t: float) -> tuple[float, float] | None:
        episode = (self.start, self.false_since or t) if self.start is not None else None
        self.start = self.since = self.false_since = None
        return episode


class CompensationTracker:
    """Fed the analysis' running values every sample (`update`), and the repetitions' begin and
    end; keeps the episodes. It reads nothing of the analysis but what it is given."""

    def __init__(self, direction: int, start_pressure: float | None = None, start_tolerance: float = 3.0):
        self.direction = direction          # of the exercise's target: +1, -1, or 0 (keep steady)
        self.start_pressure = start_pressure
        self.start_tolerance = start_tolerance
        self.off_pbu = Debounced(0.3, 0.5)
        self.pushing = Debounced(PUSH_ON_S, PUSH_OFF_S)
        self.breath = Debounced(0.0, 0.5)
        self.pelvis_start: float | None = None
        self.pelvis_level: float | None = None
        self._candidate: tuple[float, float, float] | None = None
        self._steady_history: deque[tuple[float, float]] = deque()
        self._off_last_true = float("-inf")
        self._last_update = float("-inf")
        self._quick = MovingMean(QUICK_S)
        self.quick = 0.0
        self.was_on_pbu = False
        self._fast_history: deque[tuple[float, float]] = deque()
        self._win_t: deque[float] = deque()    # the last breathing period of samples
        self._win_v: deque[float] = deque()
        self._next_ripple = 0.0
        self.ripple_now: float | None = None
        self._baselines: list[tuple[float, float]] = []
        self._turns_of: RestProfile | None = None   # the profile the breath's turns are followed with
        self._turns: BreathTurns | None = None
        self._turns_level: MovingMean | None = None
        self._recent_levels: deque[tuple[float, float]] = deque()   # the smoothed level, last PUT_S
        self.events: list[Compensation] = []

    @property
    def active(self) -> set[str]:
        kinds = set()
        if self.off_pbu.start is not None:
            kinds.add("off_pbu")
        if self.pushing.start is not None:
            kinds.add("pushing")
        if self.breath.start is not None:
            kinds.add("breath_hold")
        if self.pelvis_start is not None:
            kinds.add("pelvis_moved")
        return kinds

    @property
    def off_pbu_active(self) -> bool:
        return self.off_pbu.active

    @property
    def pelvis_suspected(self) -> bool:
        """A fast step was seen and waits to be confirmed (has it landed away from the baseline?)."""
        return self._candidate is not None

    def _emit(self, kind: str, episode: tuple[float, float] | None, t: float) -> None:
        if episode is not None:
            self.events.append(Compensation(round(t, 3), kind, round(episode[0], 3), round(episode[1], 3)))

    def update(self, t: float, raw: float, rep: RepWindow | None, profile: RestProfile | None) -> None:
        """One sample: the despiked value, the running repetition and the rest profile (None
        before they exist). The tracker keeps its own 0.3 s level (`quick`)."""
        # At most 50 Hz: 20 ms steps are plenty against onset goals of 1.5 s, and a 100 Hz
        # sensor then costs no more than a 50 Hz one.
        if t - self._last_update < UPDATE_EVERY_S:
            return
        self._last_update = t
        if raw > ON_PBU_MMHG:
            self.was_on_pbu = True
        if raw < OFF_PBU_MMHG:
            self._off_last_true = t
        if self.was_on_pbu:
            self._emit("off_pbu", self.off_pbu.update(t, raw < OFF_PBU_MMHG), t)
        self.quick = quick = self._quick.push(t, raw)
        self._fast_history.append((t, quick))
        while self._fast_history[0][0] < t - STEP_WINDOW_S:
            self._fast_history.popleft()
        self._steady_history.append((t, quick))
        while self._steady_history[0][0] < t - STEP_WINDOW_S - STEADY_BEFORE_S:
            self._steady_history.popleft()
        if profile is not None and self.direction == 0:
            self._follow_turns(t, raw, profile)
        if rep is None or profile is None:
            return
        direction = self.direction
        if direction != 0:
            # on the 0.3 s level, as the coach's correction (Analyzer.fault_now): the episode
            # starts where the patient hears about it, not half a second after
            against = (quick - rep.baseline) * direction < -profile.margin
            self._emit("pushing", self.pushing.update(t, against), t)
        self._pelvis(t, self.quick, profile, rep)
        if direction == 0:
            self._breath_turns(t, profile, rep)
        else:
            self._breathing(t, raw, profile, rep)

    def _pelvis(self, t, fast, profile, rep) -> None:
        """A fast step of several mmHg away from a level held steady in the band. Not a pelvic
        step: letting go (the step lands at the baseline: a candidate is confirmed only once it
        has landed elsewhere), the ramp of a too strong contraction (not steady before), getting
        back on the bladder (nothing is judged for 2 s after)."""
        margin = profile.margin
        threshold = max(4.0, 2.0 * margin)
        if self.pelvis_start is not None:
            if abs(fast - self.pelvis_level) < threshold / 2:  # back where it was
                self._emit("pelvis_moved", (self.pelvis_start, t), t)
                self.pelvis_start = None
            return
        if self._candidate is not None:
            start, level, seen = self._candidate
            if t - seen >= PELVIS_CONFIRM_S:
                self._candidate = None
                if abs(fast - rep.baseline) >= max(2.5, margin) and abs(fast - level) > threshold / 2:
                    self.pelvis_start, self.pelvis_level = start, level
            return
        if rep.reached_at is None or t - self._off_last_true < 2.0 or len(self._fast_history) < 3:
            return
        before_t, before = self._fast_history[0]
        if abs(fast - before) <= threshold:
            return  # no step: the common case, decided cheaply
        lo, hi = rep.band
        if not lo - margin <= before - rep.baseline <= hi + margin:
            return
        if self._steady_history[0][0] > before_t - STEADY_BEFORE_S + 0.1:
            return
        earlier = [v for s, v in self._steady_history if s <= before_t]
        if not earlier or max(earlier) - min(earlier) >= threshold / 2 + profile.ripple:
            return
        # held in the band, not just still: the slow first part of a contraction's ramp from the
        # baseline is still, too, and a too strong contraction would then pass for a pelvic step
        if lo - margin <= min(earlier) - rep.baseline and max(earlier) - rep.baseline <= hi + margin:
            self._candidate = (before_t, before, t)

    def _breathing(self, t, raw, profile, rep) -> None:
        """The breath wave over the last breathing period (coach.core.signal.breath_wave),
        re-measured every RIPPLE_EVERY_S, against the patient's own at rest."""
        window = profile.breath_period
        self._win_t.append(t)
        self._win_v.append(raw)
        while self._win_t[0] < t - window:
            self._win_t.popleft()
            self._win_v.popleft()
        detectable = profile.breathing_visible
        if not detectable or t < self._next_ripple or t - self._win_t[0] < 0.9 * window:
            return
        if rep.reached_at is None or self._win_t[0] < max(rep.reached_at, rep.start + MOVED_BY_S) + SETTLED_S:
            return  # the contraction still settling in the window would hide or fake a ripple
        if self._off_last_true >= self._win_t[0]:
            return  # off the bladder in the window: a flat line there is nobody, not a held breath
        self._next_ripple = t + RIPPLE_EVERY_S
        times = np.fromiter(self._win_t, float, len(self._win_t))
        values = np.fromiter(self._win_v, float, len(self._win_v))
        fifth = max(1, len(values) // 5)
        # One breath moves the first and last fifth's means apart by at most about half its
        # peak to peak; more is the level moving (a contraction settling, a let-go's tail), whose
        # curve the fit's straight line cannot take, and whose rest could cancel the breath's wave.
        if abs(values[-fifth:].mean() - values[:fifth].mean()) > max(0.5, 0.75 * profile.ripple):
            return
        self.ripple_now = breath_wave(times, values, profile.breath_period)
        own = profile.breath_wave
        holding = self.breath.start is not None
        condition = self.ripple_now < (BREATH_BACK_ABOVE if holding else BREATH_HOLD_BELOW) * own
        if not holding and condition:
            self.breath.start_now(self._win_t[0])  # the flat window's start
            return
        self._emit("breath_hold", self.breath.update(t, condition), t)

    def _follow_turns(self, t: float, raw: float, profile: RestProfile) -> None:
        """The breath's turns, followed all the time once the rest profile is known (so the last
        one before a repetition is known when the repetition's judging starts)."""
        if self._turns_of is not profile:
            self._turns_of = profile
            self._turns = BreathTurns(profile=profile) if profile.breathing_followable else None
            self._turns_level = MovingMean(profile.breath_smooth_s)
        if self._turns is not None and self._turns_level is not None:
            level = self._turns_level.push(t, raw)
            self._turns.push(t, level)
            self._recent_levels.append((t, level))
            while self._recent_levels[0][0] < t - PUT_S:
                self._recent_levels.popleft()

    def _breath_turns(self, t, profile, rep) -> None:
        """Keep steady: a breath is a rise and a fall of about the patient's own size, whatever
        its length (coach.core.signal.BreathTurns); a breath held is no turn for longer than a
        breathing patient ever goes without one (BreathTurns.gap). Not judged where the
        breathing cannot be followed (RestProfile.breathing_followable)."""
        turns = self._turns
        if turns is None or rep.reached_at is None:
            return
        judged_from = max(rep.reached_at, rep.start + MOVED_BY_S) + SETTLED_S
        since = max(turns.last_turn if turns.last_turn is not None else judged_from, judged_from)
        if self._off_last_true >= since:
            self._emit("breath_hold", self.breath.close(t), t)
            return
        condition = t - since > turns.gap
        if self.breath.start is None:
            if condition and self._level_put(TURN_SHARE * profile.breath_rise):
                self.breath.start_now(since)
            return
        self._emit("breath_hold", self.breath.update(t, condition), t)

    def _level_put(self, within: float) -> bool:
        """Has the smoothed level stayed put over the last PUT_S (moved less than `within`)? A
        held breath leaves the level where the breath stopped; a level still going one way (a
        limb moving the bladder, with a breath riding on it) has not stopped breathing for sure.
        O(n) in PUT_S of samples, only when a hold is about to start."""
        if len(self._recent_levels) < 2:
            return False
        (t0, v0), (t1, v1) = self._recent_levels[0], self._recent_levels[-1]
        slope = (v1 - v0) / max(t1 - t0, 1e-6)
        # about a straight line: a leak's or a settling level's slow drift is no movement
        return max(abs(v - v0 - slope * (t - t0)) for t, v in self._recent_levels) < within

    def rep_begins(self, t: float, baseline: float, profile: RestProfile | None) -> None:
        if self.start_pressure is not None and not self._baselines:
            if start_is_off(baseline, self.start_pressure, self.start_tolerance):
                start = max(t - 12.0, 0.0)
                self._emit("not_inflated", (start, t), t)
        self._baselines.append((t, baseline))
        self._check_leak(t, profile)

    def _check_leak(self, t: float, profile: RestProfile | None) -> None:
        if len(self._baselines) < 3:
            return
        times = np.array([b[0] for b in self._baselines])
        levels = np.array([b[1] for b in self._baselines])
        slope = float(np.polyfit(times, levels, 1)[0])
        # the drop along the fitted line, not between two single baselines: each of those is
        # off by a few tenths (a breath's ripple), and a 2.5 mmHg a minute leak through four
        # repetitions drops only about 3 mmHg in all
        drop = -slope * float(times[-1] - times[0])
        if slope < -LEAK_SLOPE and drop > (profile.margin if profile else 2.0):
            self._emit("leak", (float(times[0]), t), t)
            self._baselines = [(t, float(levels[-1]))]  # judged anew after it is re-inflated

    def rep_ends(self, t: float) -> None:
        self._emit("pushing", self.pushing.close(t), t)
        self._emit("breath_hold", self.breath.close(t), t)
        if self.pelvis_start is not None:
            self._emit("pelvis_moved", (self.pelvis_start, t), t)
            self.pelvis_start = None
        self._candidate = None
        self._win_t.clear()
        self._win_v.clear()
        self.ripple_now = None

    def finish(self, t: float, rest_level: float | None, profile: RestProfile | None) -> None:
        """The exercise (or the trace) ends: an episode still under way ends with it, so a
        patient who got off the bladder after the last repetition is reported all the same.
        `rest_level`, the level after the last repetition, is one more point for the leak: a
        slow leak shows over the whole exercise, not only between its first and last repetition."""
        if rest_level is not None and self._baselines:
            self._baselines.append((t, rest_level))
            self._check_leak(t, profile)
        self._emit("off_pbu", self.off_pbu.close(t), t)

    def on_since(self, t: float) -> bool:
        """Was the patient on the bladder the whole time since `t`?"""
        return self._off_last_true < t and not self.off_pbu.active

    def take_events(self) -> list[Compensation]:
        events, self.events = self.events, []
        return events
