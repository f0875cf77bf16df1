"""The signal's shared values: the patient's rest profile and one repetition's running window.

Measured and kept by the analysis (coach.core.analysis), read by the compensation tracker
(coach.core.compensations): both depend on this module, neither on the other.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from coach.core.levels import MovingMean

DEFAULT_BREATH_PERIOD = 4.0  # s, used until the patient's own period is measured
SMOOTH_BREATH = 0.3          # the breath-by-breath level: a moving mean over this share of a breath ...
SMOOTH_KEEPS = math.sin(math.pi * SMOOTH_BREATH) / (math.pi * SMOOTH_BREATH)   # ... keeps this of it


@dataclass(frozen=True)
class RestProfile:
    """The patient's own signal at rest: every threshold is relative to these."""

    baseline: float      # mmHg
    noise: float         # mmHg, sample-to-sample noise (rms)
    breath_period: float  # s
    ripple: float        # mmHg, peak to peak of the breathing ripple
    noise_var: float = 0.0  # mmHg^2, the variance that is not breathing (noise, quantisation)
    quantum: float = 0.0    # mmHg, the sensor's step (0: no visible steps)
    breath_wave: float = 0.0  # mmHg, peak to peak of the breathing wave one breath shows (breath_wave())
    breath_rise: float = 0.0  # mmHg, a breath's typical rise or fall at rest (BreathTurns; 0: none seen)
    sample_rate: float = 0.0  # Hz, of the sensor at rest

    @property
    def breathing_visible(self) -> bool:
        """Can a stop of the ripple be seen at all? It must stand clear of the noise and span a
        few of the sensor's steps (a 0.8 mmHg ripple on a 0.5 mmHg sensor cannot)."""
        return self.breath_wave >= max(0.4, 4.0 * math.sqrt(self.noise_var), 3.0 * self.quantum)

    @property
    def sensor_noise(self) -> float:
        """The sensor's own noise (rms) as the issue states it: the median of three the analysis
        takes against spikes keeps about 0.45 of white noise's variance (noise_var is measured
        after it; `noise`, from the despiked samples' differences, comes out far too low)."""
        return math.sqrt(self.noise_var / 0.45)

    @property
    def breathing_followable(self) -> bool:
        """Can this patient's breathing be followed breath by breath at all? Their breath at rest
        must rise and fall by at least three times the sensor's noise and its step (issue 31):
        below that a breath cannot be told from the sensor's own wobble, and a missing breath
        from a held one even less. Where it cannot, breath holds are not judged on a keep-steady
        exercise (the report says so: 'ademhaling niet te volgen')."""
        # the rise is taken on a level smoothed over 0.3 of a breath, which keeps sinc(0.3) = 0.86
        # of a breath's peak to peak, and on the sensor's steps, which round each extreme inwards
        # by up to half a step (half a step off the peak to peak on average)
        ripple = self.breath_rise / SMOOTH_KEEPS + 0.5 * self.quantum
        return self.breath_rise > 0.0 and ripple >= 3.0 * max(self.sensor_noise, self.quantum)

    @property
    def breath_smooth_s(self) -> float:
        """The window over which the breath-by-breath level is smoothed: three tenths of a breath
        (keeps 85% of the breath's rise and fall, averages the sensor's noise over many samples)."""
        return min(1.5, max(0.5, SMOOTH_BREATH * self.breath_period))

    @property
    def turn_floor(self) -> float:
        """The least rise or fall that is surely not the sensor: 5 times the smoothed level's
        noise (a swing of 5 sigma after an extreme hardly ever comes in a 10 s hold of a dozen
        independent smoothed values), and a whole step of the sensor."""
        samples = max(1.0, self.breath_smooth_s * self.sample_rate)
        # a mean of N despiked samples has the sensor's noise over sqrt(N) (the median of three
        # takes out single samples, not the slow part of the noise a mean keeps)
        return max(5.0 * self.sensor_noise / math.sqrt(samples), self.quantum)

    @property
    def margin(self) -> float:
        """The smallest change that is surely not breathing or noise (repeatability is ~1.6 mmHg)."""
        return max(2.0, 4.0 * self.noise, 0.6 * self.ripple)

    @property
    def swing(self) -> float:
        """The most breathing, noise and the sensor's steps move a level past where it was: a
        level farther than this past a band has left it (without the margin's 2 mmHg floor, which
        is there for a change's size, not a level's swing)."""
        return max(0.5, 4.0 * self.noise, 0.6 * self.ripple, self.quantum)


def measure_rest(times: np.ndarray, values: np.ndarray) -> RestProfile:
    """Baseline, noise, breathing period and ripple from samples of a patient lying still."""
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if len(values) < 8 or times[-1] - times[0] < 3.0:
        level = float(np.median(values)) if len(values) else 0.0
        return RestProfile(level, 0.2, DEFAULT_BREATH_PERIOD, 0.0, 0.04)
    diffs = np.diff(values)
    # Median absolute deviation of successive differences: robust to the ripple and to spikes.
    noise = float(np.median(np.abs(diffs - np.median(diffs))) * 1.4826 / math.sqrt(2))
    # A uniform 10 Hz grid makes the breathing analysis independent of the sensor's rate and jitter.
    grid = np.arange(times[0], times[-1], 0.1)
    uniform = np.interp(grid, times, values)
    trend = np.polyval(np.polyfit(grid, uniform, 1), grid)
    smooth = np.convolve(uniform - trend, np.ones(5) / 5, mode="same")  # 0.5 s: keeps the ripple
    period = _breath_period(smooth, 0.1)
    ripple = 2.0 * math.sqrt(2.0) * float(np.std(smooth[5:-5])) if len(smooth) > 10 else 0.0
    found = period is not None
    if period is None:
        period, ripple = DEFAULT_BREATH_PERIOD, min(ripple, 2 * noise)
    # Noise and quantisation as the breath-hold detector sees them: the variance left around a
    # 0.5 s moving mean (breathing, 3.5 s a breath or slower, hardly shows in it). Measured on
    # the despiked samples, whose noise is correlated: second differences would underestimate it.
    width = max(3, int(round(0.5 * len(values) / (times[-1] - times[0]))))
    local = np.convolve(values, np.ones(width) / width, mode="valid")
    centre = values[width // 2: width // 2 + len(local)]
    noise_var = float(np.var(centre - local)) * width / max(width - 1, 1)
    wave = _rest_breath_wave(times, values, period)
    if not found:   # no breathing seen: no wave either, or breath holds would be judged on a guess
        wave = min(wave, 2 * noise)
    quantum = _quantum(diffs)
    rate = (len(values) - 1) / float(times[-1] - times[0])
    rise = _rest_breath_rise(times, values, period, noise_var, rate, quantum)
    return RestProfile(float(np.mean(values)), max(noise, 0.05), period, ripple, noise_var,
                       quantum, wave, rise, rate)


def _rest_breath_rise(times, values, period, noise_var, rate, quantum) -> float:
    """The patient's typical rise (or fall) of one breath at rest, as BreathTurns sees it: the
    median excursion between turns of the smoothed level, the turns taken at a quarter of the
    ripple's own size (from the smoothed level's spread) or the noise's floor. 0: not one whole
    rise or fall in the rest window (nothing to follow)."""
    probe = RestProfile(0.0, 0.0, period, 0.0, noise_var, quantum, sample_rate=rate)
    mean = MovingMean(probe.breath_smooth_s)
    smoothed = np.array([mean.push(t, x) for t, x in zip(times.tolist(), values.tolist())])
    first = int(np.searchsorted(times, times[0] + probe.breath_smooth_s))
    level, at = smoothed[first:], times[first:]
    if len(level) < 8:
        return 0.0
    detrended = level - np.polyval(np.polyfit(at, level, 1), at)
    guess = 2.0 * math.sqrt(2.0) * float(np.std(detrended))
    turns = BreathTurns(max(0.25 * guess, probe.turn_floor))
    for t, y in zip(at.tolist(), level.tolist()):
        turns.push(t, y)
    return float(np.median(turns.excursions)) if turns.excursions else 0.0


def breath_wave(times: np.ndarray, values: np.ndarray, period: float) -> float:
    """The breathing wave's peak to peak in a window of about one breath: the samples fitted with
    a level, a slope and a sine and cosine of the patient's breathing period (a lock-in at the
    one frequency breathing has). The slope takes a settling level or a leak; noise, a sensor's
    steps and a limb's slower wobble hardly project onto the breath's own frequency. Taking the
    variance after a straight line instead (the first way) let the line take up to 60% of one
    breath's variance, depending on where in the breath the window began, and normal breathing
    then looked like a breath held."""
    x = times - times[0]
    omega = 2.0 * math.pi / period
    design = np.column_stack([np.ones_like(x), x, np.sin(omega * x), np.cos(omega * x)])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return 2.0 * math.hypot(float(coef[2]), float(coef[3]))


def _rest_breath_wave(times: np.ndarray, values: np.ndarray, period: float) -> float:
    """The patient's own breath_wave at rest: the median over the one-breath windows of the rest
    window (a window every half second), as the breath-hold detector will measure it."""
    if len(times) < 8 or times[-1] - times[0] < period:
        return 0.0
    waves = []
    start = times[0]
    while start + period <= times[-1] + 1e-9:
        inside = (times >= start) & (times < start + period)
        if inside.sum() >= 8:
            waves.append(breath_wave(times[inside], values[inside], period))
        start += 0.5
    return float(np.median(waves)) if waves else 0.0


def _quantum(diffs: np.ndarray) -> float:
    """The sensor's step: the smallest change, when (nearly) all changes are multiples of it."""
    steps = np.abs(diffs[np.abs(diffs) > 1e-9])
    if len(steps) < 3:
        return 0.0
    step = float(steps.min())
    multiples = steps / step
    return step if np.mean(np.abs(multiples - np.round(multiples)) < 1e-3) > 0.9 else 0.0


def _breath_period(signal: np.ndarray, dt: float) -> float | None:
    """The breathing period from the first autocorrelation peak between 2 and 10 s that is nearly
    as high as the highest (a multiple of the period must not win).

    The autocorrelation is unbiased (each lag divided by its overlap), so a slow breather, with
    fewer than two breaths in the window, is found as surely as a fast one."""
    signal = signal - signal.mean()
    n = len(signal)
    energy = float(np.dot(signal, signal)) / n
    if energy <= 0:
        return None
    lags = np.arange(n)
    corr = np.correlate(signal, signal, mode="full")[n - 1:] / (n - lags) / energy
    lo, hi = int(2.0 / dt), min(int(10.0 / dt), int(0.75 * n))
    if hi <= lo + 2:
        return None
    window = corr[lo:hi]
    peaks = [i for i in range(1, len(window) - 1) if window[i - 1] <= window[i] >= window[i + 1]]
    if not peaks:
        return None
    highest = max(window[i] for i in peaks)
    if highest < 0.3:  # no periodic breathing visible above the noise
        return None
    # the first peak nearly as high as the highest: a multiple of the period (two breaths) can
    # come out a little higher at long lags, where the estimate rests on less overlap
    best = next(i for i in peaks if window[i] >= 0.8 * highest)
    return (lo + best) * dt


# A breath is a rise and a fall. Its turns are counted with a hysteresis of this share of the
# patient's breath (of the recent breaths, between half and all of the rest's): depth changes by
# up to a quarter from one breath to the next, so a breath a quarter of the usual is rare, and a
# breath partly cancelled by a limb's wobble still turns; a limb's wobble smaller than this is no turn.
TURN_SHARE = 0.25
RECENT_TURNS = 7        # the patient's breath as it is now: the median of the last turns
# The longest a breathing patient goes without a turn: the exhale (60% of a breath) of a breath a
# third longer than the usual is 0.8 of a usual breath; 1.2 breaths leaves room for the rest
# period's error (2-3 breaths in 12 s). At least 8 s: on the tuning seeds, 7 s let a limb that
# moves in step with a fast breather, and cancels it, pass for a held breath (~0.1 a minute).
GAP_BREATHS = 1.2
GAP_MIN_S = 8.0


class BreathTurns:
    """The turns of the breath on a smoothed level: a high is a turn once the level has fallen
    `turn` below it, a low once it has risen `turn` above it (a zigzag with hysteresis). Each
    breath is a rise and a fall, whatever its length or shape; a slow drift of the level (a leak,
    a settling contraction) makes no turn.

    Fixed (`turn` given: the rest profile's own measurement) or following the patient (`profile`
    given): the turn is then TURN_SHARE of the recent breaths' median rise (between half and all
    of the rest's), never below the sensor's floor (RestProfile.turn_floor), and `gap` is the
    longest a breathing patient goes without a turn. O(1) a sample (a median of RECENT_TURNS
    values at each turn)."""

    def __init__(self, turn: float = 0.0, profile: RestProfile | None = None):
        self.profile = profile
        self.turn = turn
        self.direction = 0            # +1 rising (tracking a high), -1 falling, 0 not yet known
        self.high: tuple[float, float] | None = None   # the running extremes (value, time)
        self.low: tuple[float, float] | None = None
        self.last_turn: float | None = None    # the time of the last turn's extreme
        self.last_value: float | None = None
        self.excursions: deque[float] = deque(maxlen=RECENT_TURNS if profile else 64)
        self.gap = 0.0
        if profile is not None:
            self.excursions.append(profile.breath_rise)
            self.gap = max(GAP_MIN_S, GAP_BREATHS * profile.breath_period)
            self._adapt()

    def _adapt(self) -> None:
        profile = self.profile
        if profile is None:
            return
        rise = min(max(float(np.median(self.excursions)), 0.5 * profile.breath_rise), profile.breath_rise)
        self.turn = max(TURN_SHARE * rise, profile.turn_floor)

    def push(self, t: float, y: float) -> bool:
        """One smoothed sample; True when it confirms a turn."""
        high, low = self.high, self.low
        if high is None or y > high[0]:
            self.high = high = (y, t)
        if low is None or y < low[0]:
            self.low = low = (y, t)
        if self.direction >= 0 and high[0] - y >= self.turn:      # a high, confirmed
            self._turned(high, -1, (y, t))
            return True
        if self.direction <= 0 and y - low[0] >= self.turn:       # a low, confirmed
            self._turned(low, +1, (y, t))
            return True
        return False

    def _turned(self, extreme: tuple[float, float], direction: int, now: tuple[float, float]) -> None:
        if self.last_value is not None:
            self.excursions.append(abs(extreme[0] - self.last_value))
            self._adapt()
        self.last_value, self.last_turn = extreme
        self.direction = direction
        self.high = self.low = now     # the next turn is measured from here


@dataclass
class RepWindow:
    """The running judgement of one repetition, from its contract cue to its relax cue."""

    number: int
    start: float
    baseline: float
    band: tuple[float, float]
    held_s: float = 0.0
    in_band: bool = False
    reached_at: float | None = None
    last_t: float | None = None
    out_of_band_s: float = 0.0      # length of the current excursion out of the band
    pending_s: float = 0.0          # in-band time that may be forgiven as a glitch
    last_off: float | None = None   # when the pressure was last off the bladder (None: not since back)
    changes: list[tuple[float, float]] = field(default_factory=list)  # (t, change) of the fast level

    def change_now(self, level: float) -> float:
        return level - self.baseline
