"""The signal's shared values: the patient's rest profile and one repetition's running window.

Measured and kept by the analysis (coach.core.analysis), read by the compensation tracker
(coach.core.compensations): both depend on this module, neither on the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

DEFAULT_BREATH_PERIOD = 4.0  # s, used until the patient's own period is measured


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

    @property
    def breathing_visible(self) -> bool:
        """Can a stop of the ripple be seen at all? It must stand clear of the noise and span a
        few of the sensor's steps (a 0.8 mmHg ripple on a 0.5 mmHg sensor cannot)."""
        return self.breath_wave >= max(0.4, 4.0 * math.sqrt(self.noise_var), 3.0 * self.quantum)

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
    return RestProfile(float(np.mean(values)), max(noise, 0.05), period, ripple, noise_var,
                       _quantum(diffs), wave)


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
    if len(steps) < 10:
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
