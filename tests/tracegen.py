"""A labelled trace generator: traces with known verdicts, hold times and compensations.

A patient model of its own (open loop, driven by cues it is given, unlike coach.sim's patient
that listens to the coach), so the analysis is judged against answers it did not produce:
- 10-100 Hz, jittered timestamps, quantisation (0, 0.1 or 0.5 mmHg), noise, single-sample spikes;
- the patient's own breathing period (3.5-7.5 s, varying breath to breath) and ripple;
- per repetition an intended outcome (ok, too_weak, too_strong, pushing, not_held) and, in some,
  a breath hold, a pelvic step or getting off the bladder; whole-trace leaks and not_inflated.
The verdict and held_s labels come from the clean (noise- and ripple-free) signal.

Scenarios (SCENARIOS) vary the patient and the sensor: `prone` is the mixed prone trace the
thresholds were first tuned on; the others are the cases a review found the analysis had not
seen: keep-steady holds at 40 mmHg with a limb moving and a small ripple, a short quiet start,
coarse sensors, a steady leak through good repetitions, and getting off after the last one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BAND = (-15.0, -5.0)
HOLD_S = 15.0
START = 70.0


@dataclass(frozen=True)
class Scenario:
    name: str
    position: str = "prone"               # prone: draw in 10 mmHg; steady: keep it within 3
    start: float = START
    band: tuple[float, float] = BAND
    rates: tuple[float, ...] = (10.0, 20.0, 50.0, 100.0)
    noise: tuple[float, float] = (0.05, 0.3)
    quanta: tuple[float, ...] = (0.0, 0.1, 0.5)
    ripple: tuple[float, float] = (0.6, 2.0)
    first_cue: tuple[float, float] | None = None   # None: at 15 s
    leak: float | None = None             # mmHg/s through the whole trace (None: drawn, faulty only)
    good_only: bool = False               # every repetition ok, no episode (but the leak)
    off_after_last: bool = False          # the patient gets off the bladder after the last relax
    reps: int = 8

    @property
    def target(self):
        from coach.core.protocol import Target
        if self.position == "steady":
            return Target("steady", 0.0, (self.band[1] - self.band[0]) / 2)
        return Target("change", (self.band[0] + self.band[1]) / 2, (self.band[1] - self.band[0]) / 2)


PRONE = Scenario("prone")
SCENARIOS = {
    "prone": PRONE,
    # supine/sitting/standing at 40 mmHg: a 0.5-1.5 mmHg ripple, a limb's slow wobble, 10-50 Hz
    "keep-steady": Scenario("keep-steady", "steady", 40.0, (-3.0, 3.0), (10.0, 20.0, 25.0, 50.0),
                            (0.05, 0.25), (0.0, 0.1, 0.5), (0.5, 1.5), reps=6),
    "prone-quiet-start": Scenario("prone-quiet-start", first_cue=(8.0, 14.0)),
    "prone-coarse-sensor": Scenario("prone-coarse-sensor", rates=(10.0, 12.5, 20.0, 25.0),
                                    noise=(0.3, 0.5), quanta=(0.0, 0.5)),
    "prone-steady-leak": Scenario("prone-steady-leak", leak=2.5 / 60, good_only=True, reps=4),
    "prone-off-after-last": Scenario("prone-off-after-last", off_after_last=True, reps=4),
}


@dataclass
class Rep:
    cue: float
    relax: float
    outcome: str
    depth: float
    reach: float                     # when the clean signal entered the band (or the attempt peaked)
    let_go: float | None = None
    verdict: str = ""
    held_s: float = 0.0


@dataclass
class Trace:
    seed: int
    rate: float
    t: np.ndarray
    p: np.ndarray
    cues: dict                       # sample index -> cue
    reps: list[Rep]
    compensations: list[tuple[str, float, float]] = field(default_factory=list)
    clean_pressure: np.ndarray | None = None
    breath_period: float = 5.0
    minutes: float = 0.0
    scenario: Scenario = PRONE
    ripple: float = 0.0              # the breaths' peak to peak at rest (generate_breathing: the median)
    noise: float = 0.0
    quantum: float = 0.0


def _depths(rng, scenario: Scenario) -> dict[str, float]:
    if scenario.position == "steady":
        # keep steady: a TrA contraction lifts a supine back 0-2 mmHg (Park & Lee); +5 is the
        # pelvis tilting back (too strong), -5 the back arching (too weak, as the analysis says)
        return {"ok": rng.uniform(-1.0, 2.0), "too_weak": rng.uniform(-8.0, -5.0),
                "too_strong": rng.uniform(5.0, 8.0), "pushing": 0.0, "not_held": rng.uniform(-1.0, 2.0)}
    return {"ok": rng.uniform(-12.0, -7.0), "too_weak": rng.uniform(-2.5, -0.5),
            "too_strong": rng.uniform(-26.0, -20.0), "pushing": rng.uniform(4.0, 8.0),
            "not_held": rng.uniform(-12.0, -7.0)}


def generate(seed: int, clean: bool = False, reps: int | None = None,
             scenario: Scenario = PRONE) -> Trace:
    """One labelled trace. `clean`: a patient who does it right (no faults, no leak)."""
    rng = np.random.default_rng(seed)
    reps = scenario.reps if reps is None else reps
    steady = scenario.position == "steady"
    rate = float(rng.choice(list(scenario.rates)))
    noise = float(rng.uniform(*scenario.noise))
    quantum = float(rng.choice(list(scenario.quanta)))
    period = float(rng.uniform(3.5, 7.5))
    ripple = float(rng.uniform(*scenario.ripple))
    if scenario.leak is not None:
        leak = scenario.leak
    else:
        leak = 0.0 if clean or rng.random() > 0.3 else float(rng.uniform(0.03, 0.08))
    not_inflated = not clean and not scenario.good_only and rng.random() < 0.1
    base = (scenario.start - 12.0 if not_inflated else scenario.start) + float(rng.uniform(-1.5, 1.5))
    # a breath hold is only inserted where it can be seen: clear of noise and quantisation
    breath_detectable = ripple >= max(0.6 if not steady else 0.5,
                                      4 * math.sqrt(noise ** 2 + quantum ** 2 / 12), 3 * quantum)
    faulty = not clean and not scenario.good_only
    first_cue = 15.0 if scenario.first_cue is None else float(rng.uniform(*scenario.first_cue))
    # ... and where the breathing can be known at all: a period needs about 1.5 breaths of rest
    breath_detectable = breath_detectable and first_cue >= 1.5 * period

    # the plan: rest, then repetitions with cues
    plan: list[Rep] = []
    comps: list[tuple[str, float, float]] = []
    t = first_cue
    outcomes = ["ok"] * 12 + (["too_weak", "too_strong"] * 3 if steady
                              else ["too_weak", "too_strong", "pushing", "not_held"] * 2)
    for _ in range(reps):
        outcome = str(rng.choice(outcomes)) if faulty else "ok"
        depth = _depths(rng, scenario)[outcome]
        reaction = float(rng.uniform(0.5, 1.5))
        reach = t + reaction + 2.0
        relax = reach + HOLD_S + 0.5
        rep = Rep(cue=t, relax=relax, outcome=outcome, depth=float(depth), reach=reach)
        if outcome == "not_held":
            rep.let_go = reach + float(rng.uniform(2.0, 5.0))
        plan.append(rep)
        if outcome == "ok" and faulty and rng.random() < 0.35:
            kind = str(rng.choice(["breath_hold", "pelvis_moved", "off_pbu"] if breath_detectable
                                  else ["pelvis_moved", "off_pbu"]))
            start = reach + float(rng.uniform(1.5, 3.0))
            length = {"breath_hold": rng.uniform(max(6.0, 1.3 * period), 12.0),
                      "pelvis_moved": rng.uniform(2.0, 4.0), "off_pbu": rng.uniform(3.0, 5.0)}[kind]
            comps.append((kind, start, min(start + float(length), relax - 0.3)))
        if outcome == "pushing":
            comps.append(("pushing", t + reaction, relax + 0.5))
        t = relax + float(rng.uniform(6.0, 9.0))
    end = t
    if scenario.off_after_last:
        off_from = plan[-1].relax + float(rng.uniform(2.0, 4.0))
        end = off_from + float(rng.uniform(5.0, 8.0))
        comps.append(("off_pbu", off_from, end))
    if leak:
        comps.append(("leak", plan[0].cue, end))
    if not_inflated:
        comps.append(("not_inflated", 0.0, plan[0].cue))

    # sample times: jittered, increasing
    n = int(end * rate)
    times = np.arange(1, n + 1) / rate + rng.normal(0, 0.15 / rate, n)
    times = np.maximum.accumulate(times)
    times[1:] = np.maximum(times[1:], times[:-1] + 0.2 / rate)

    clean_offset = np.zeros(n)
    for rep in plan:
        tau = 0.7
        on = times >= rep.cue + (rep.reach - rep.cue - 2.0)
        start_c = rep.reach - 2.0
        shape = rep.depth * (1 - np.exp(-np.clip(times - start_c, 0, None) / tau))
        release = rep.let_go if rep.let_go is not None else rep.relax + 0.5
        shape = np.where(times >= release, shape * np.exp(-(times - release) / tau), shape)
        clean_offset += np.where(on, shape, 0.0)
    pelvis = np.zeros(n)
    breathing = np.ones(n)
    off = np.zeros(n, dtype=bool)
    for kind, a, b in comps:
        inside = (times >= a) & (times < b)
        if kind == "pelvis_moved":
            # away from the held level, never landing at the baseline (that would look exactly
            # like letting go): prone down by 6-9 mmHg, or up past the baseline; keep steady
            # 5-8 mmHg either way (2.5 mmHg a degree of tilt)
            held = next(r.depth for r in plan if r.cue <= a <= r.relax)
            if steady:
                step = float(rng.uniform(5.0, 8.0) * rng.choice([-1.0, 1.0]))
            else:
                step = float(-rng.uniform(6.0, 9.0) if rng.random() < 0.5 else -held + rng.uniform(4.0, 7.0))
            ramp = np.clip((times - a) / 0.3, 0, 1) * np.clip((b + 0.3 - times) / 0.3, 0, 1)
            pelvis += step * ramp
        elif kind == "breath_hold":
            breathing[inside] = 0.0
        elif kind == "off_pbu":
            off |= inside
    if steady:
        clean_offset += _limb_wobble(rng, plan, times)
    phase = np.cumsum(np.r_[0, np.diff(times)] * 2 * math.pi / (period * (1 + 0.08 * np.sin(times / 17.0))))
    smooth_breath = np.convolve(breathing, np.ones(max(1, int(rate))) / max(1, int(rate)), mode="same")
    wave = 0.5 * ripple * np.sin(phase) * smooth_breath + 0.4 * (1 - smooth_breath)
    clean_pressure = base - leak * times + clean_offset + pelvis
    p = clean_pressure + wave + rng.normal(0, noise, n)
    p = np.where(off, rng.uniform(0.5, 3.0, n), p)
    spikes = rng.random(n) < 0.002
    p[spikes] += rng.choice([-1, 1], spikes.sum()) * rng.uniform(10, 40, spikes.sum())
    if quantum:
        p = np.round(p / quantum) * quantum

    cues = {}
    for rep in plan:
        cues[int(np.searchsorted(times, rep.cue))] = "contract"
        cues[int(np.searchsorted(times, rep.relax))] = "relax"
        _label(rep, times, clean_pressure - (base - leak * times), off, scenario.band)
    return Trace(seed, rate, np.round(times, 3), np.round(p, 2), cues, plan, comps, clean_pressure,
                 period, end / 60.0, scenario)


def _limb_wobble(rng, plan: list[Rep], times: np.ndarray) -> np.ndarray:
    """A heel sliding out and back, or a leg lifted and lowered, during each hold: a slow swell
    of a few tenths of a mmHg (0.2-0.6), one movement every 8-16 s (slower than any breath: a
    slide out over some seconds and back), not quite regular."""
    wobble = np.zeros(len(times))
    for rep in plan:
        size, cycle = float(rng.uniform(0.2, 0.6)), float(rng.uniform(8.0, 16.0))
        inside = (times >= rep.reach) & (times < rep.relax)
        local = times[inside] - rep.reach
        envelope = np.clip(local / 1.0, 0, 1) * np.clip((rep.relax - rep.reach - local) / 1.0, 0, 1)
        wobble[inside] = size * envelope * (0.5 - 0.5 * np.cos(2 * math.pi * local / cycle
                                                                + 0.3 * np.sin(local / 2.3)))
    return wobble


def _label(rep: Rep, times: np.ndarray, change: np.ndarray, off: np.ndarray,
           band: tuple[float, float] = BAND) -> None:
    """held_s and verdict from the clean change against the baseline."""
    window = (times >= rep.cue) & (times < rep.relax)
    inside = window & (change >= band[0]) & (change <= band[1]) & ~off
    dt = np.r_[np.diff(times), 0.0]
    rep.held_s = float(np.sum(dt[inside]))
    if rep.outcome in ("too_weak", "too_strong", "pushing"):
        rep.verdict = rep.outcome
    else:
        rep.verdict = "ok" if rep.held_s >= 0.9 * HOLD_S else "not_held"


# -- breathing as it really is, on the keep-steady exercises (issue 31) -----------------------
#
# The keep-steady scenario above breathes like a metronome (8% drift, a sine) with a limb's wobble
# slower than any breath. Real patients do not: each breath's length and depth differ by up to 25%
# from the last, inhaling is shorter than exhaling, the rate is anywhere from 7 to 20 a minute,
# the ripple under the low back is 0.3-2 mmHg, and the moving limb wobbles within the breathing
# band (5-8 s, up to +-0.9 mmHg). A hold stops the breath where it is: the level stays put there
# (with at most a small rise), and the limb, if it moves, goes on moving.

STEADY = Scenario("steady-breathing", "steady", 40.0, (-3.0, 3.0), reps=6)


@dataclass(frozen=True)
class BreathCell:
    """One cell of the sweep: the patient's breathing and the sensor, as ranges drawn per trace."""

    ripple: tuple[float, float] = (0.3, 2.0)      # mmHg peak to peak at rest
    noise: tuple[float, float] = (0.0, 0.3)       # mmHg rms, white
    quantum: float = 0.0                          # mmHg, the sensor's step (0: none)
    rates: tuple[float, ...] = (10.0, 25.0, 50.0)
    rate_bpm: tuple[float, float] = (7.0, 20.0)   # the patient's own breathing rate
    irregular: float = 0.25                       # a breath's length and depth vs the last: up to +-this
    wobble: tuple[float, float] = (0.0, 0.0)      # the limb's wobble, amplitude (mmHg, +-)
    wobble_period: tuple[float, float] = (5.0, 8.0)
    hold: tuple[float, float] = (5.0, 12.0)       # length of a breath hold, s
    reps: int = 6


def breathing_wave(rng, times: np.ndarray, ripple: float, period: float, irregular: float,
                   holds: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The breath by breath pressure wave: each breath's length and depth a random step of up to
    +-`irregular` from the last (pulled back towards the patient's own), an inhale of 35-45% of
    the breath rising as a half cosine and a longer exhale falling as one; in a hold the breath
    stops where it is (the breathing clock stands still) and goes on from there afterwards.
    Returns the wave and, per sample, the peak to peak of the breath it is in."""
    # the breathing clock: it stands still in a hold
    dt = np.r_[0.0, np.diff(times)]
    running = np.ones(len(times))
    for a, b in holds:
        running[(times >= a) & (times < b)] = 0.0
    clock = np.cumsum(dt * running)
    # the breaths, along the clock
    starts, lengths, depths, inhales = [], [], [], []
    c, length, depth = -float(rng.uniform(0, period)), period, 1.0
    while c < clock[-1] + 1.0:
        starts.append(c)
        lengths.append(length)
        depths.append(depth)
        inhales.append(float(rng.uniform(0.35, 0.45)))
        c += length
        pull = 0.3 * math.log(period / length)
        length *= math.exp(float(np.clip(rng.uniform(-irregular, irregular) + pull, -irregular, irregular)))
        length = float(np.clip(length, 3.0, 60.0 / 7.0))
        depth *= math.exp(float(np.clip(rng.uniform(-irregular, irregular) - 0.3 * math.log(depth),
                                        -irregular, irregular)))
    starts_a = np.array(starts)
    k = np.clip(np.searchsorted(starts_a, clock, side="right") - 1, 0, len(starts) - 1)
    x = (clock - starts_a[k]) / np.array(lengths)[k]          # 0..1 through the breath
    f = np.array(inhales)[k]
    shape = np.where(x < f, 0.5 - 0.5 * np.cos(math.pi * x / f),
                     0.5 + 0.5 * np.cos(math.pi * (x - f) / (1 - f)))
    return ripple * np.array(depths)[k] * shape, ripple * np.array(depths)[k]


def generate_breathing(seed: int, cell: BreathCell, clean: bool = False) -> Trace:
    """A keep-steady trace (40 mmHg, hold 15 s with a limb moving) of a patient breathing as in
    `cell`. Not clean: every repetition has a breath hold (labelled breath_hold), drawn from
    cell.hold, starting 1.5-3 s after the band is reached. The repetitions themselves are good
    (a 0-2 mmHg rise, held): this trace is about breathing only."""
    rng = np.random.default_rng(seed)
    rate = float(rng.choice(list(cell.rates)))
    noise = float(rng.uniform(*cell.noise))
    ripple = float(rng.uniform(*cell.ripple))
    period = 60.0 / float(rng.uniform(*cell.rate_bpm))
    base = 40.0 + float(rng.uniform(-1.5, 1.5))
    sign = float(rng.choice([-1.0, 1.0]))    # which way a breath moves the bladder under the back
    plan: list[Rep] = []
    holds: list[tuple[float, float]] = []
    t = 15.0
    for _ in range(cell.reps):
        reaction = float(rng.uniform(0.5, 1.5))
        reach = t + reaction + 2.0
        relax = reach + HOLD_S + 0.5
        plan.append(Rep(cue=t, relax=relax, outcome="ok", depth=float(rng.uniform(-1.0, 2.0)), reach=reach))
        if not clean:
            start = reach + float(rng.uniform(1.5, 3.0))
            holds.append((start, min(start + float(rng.uniform(*cell.hold)), relax - 0.3)))
        t = relax + float(rng.uniform(6.0, 9.0))
    end = t
    n = int(end * rate)
    times = np.arange(1, n + 1) / rate + rng.normal(0, 0.15 / rate, n)
    times = np.maximum.accumulate(times)
    times[1:] = np.maximum(times[1:], times[:-1] + 0.2 / rate)

    offset = np.zeros(n)
    for rep in plan:
        tau = 0.7
        start_c = rep.reach - 2.0
        shape = rep.depth * (1 - np.exp(-np.clip(times - start_c, 0, None) / tau))
        release = rep.relax + 0.5
        shape = np.where(times >= release, shape * np.exp(-(times - release) / tau), shape)
        offset += np.where(times >= start_c, shape, 0.0)
        # the limb: a heel sliding out and back (a leg lifted and lowered) through the hold, one
        # movement every 5-8 s, not quite regular, of its own size each repetition
        size = float(rng.uniform(*cell.wobble))
        if size > 0:
            cycle = float(rng.uniform(*cell.wobble_period))
            inside = (times >= rep.reach) & (times < rep.relax)
            local = times[inside] - rep.reach
            envelope = np.clip(local / 1.0, 0, 1) * np.clip((rep.relax - rep.reach - local) / 1.0, 0, 1)
            phase = 2 * math.pi * local / cycle + 0.4 * np.sin(local / 2.3 + float(rng.uniform(0, 6)))
            offset[inside] += size * envelope * np.sin(phase)
    # a held breath often comes with a small rise (bracing): 0-0.3 mmHg over a second
    rise = np.zeros(n)
    for a, b in holds:
        size = float(rng.uniform(0.0, 0.3))
        rise += size * np.clip((times - a) / 1.0, 0, 1) * np.clip(b + 1.0 - times, 0, 1)
    wave, depth = breathing_wave(rng, times, ripple, period, cell.irregular, holds)
    wave *= sign
    rest_ripple = float(np.median(depth[times < plan[0].cue]))   # what the rest profile can see
    clean_pressure = base + offset
    p = clean_pressure + wave + rise + rng.normal(0, noise, n) if noise > 0 else clean_pressure + wave + rise
    spikes = rng.random(n) < 0.002
    p[spikes] += rng.choice([-1, 1], spikes.sum()) * rng.uniform(10, 40, spikes.sum())
    if cell.quantum:
        p = np.round(p / cell.quantum) * cell.quantum
    cues = {}
    for rep in plan:
        cues[int(np.searchsorted(times, rep.cue))] = "contract"
        cues[int(np.searchsorted(times, rep.relax))] = "relax"
        _label(rep, times, offset, np.zeros(n, dtype=bool), STEADY.band)
    comps = [("breath_hold", a, b) for a, b in holds]
    return Trace(seed, rate, np.round(times, 3), np.round(p, 2), cues, plan, comps, clean_pressure,
                 period, end / 60.0, STEADY, rest_ripple, noise, cell.quantum)


# The sweep: the patient's ripple against the sensor (every rate, irregular breathing, no limb);
# the limb's wobble against the ripple; the sensor's rate against the breathing's regularity.
# Each cell is drawn anew per trace within its ranges; hold lengths are drawn 5-12 s everywhere.
RIPPLES = {"0.3": (0.3, 0.4), "0.6": (0.5, 0.7), "1.0": (0.9, 1.2), "2.0": (1.6, 2.0)}
SENSORS = {"quiet": dict(noise=(0.0, 0.05)), "noise 0.1": dict(noise=(0.08, 0.12)),
           "noise 0.3": dict(noise=(0.25, 0.3)), "steps 0.5": dict(noise=(0.0, 0.1), quantum=0.5)}
WOBBLES = {"none": (0.0, 0.0), "+-0.15": (0.1, 0.15), "+-0.3": (0.2, 0.3), "+-0.6": (0.45, 0.6), "+-0.9": (0.7, 0.9)}
REGULARITY = {"regular": 0.05, "irregular": 0.25}
SWEEP: dict[str, dict[tuple[str, str], BreathCell]] = {
    "ripple x sensor": {(r, s): BreathCell(ripple=RIPPLES[r], **SENSORS[s])   # type: ignore[arg-type]
                        for r in RIPPLES for s in SENSORS},
    "ripple x wobble": {(r, w): BreathCell(ripple=RIPPLES[r], noise=(0.05, 0.15), wobble=WOBBLES[w])
                        for r in ("0.6", "1.0", "2.0") for w in WOBBLES if w != "none"},
    "rate x regularity": {(f"{rate:g} Hz", g): BreathCell(ripple=(0.5, 2.0), noise=(0.0, 0.2), rates=(rate,),
                                                          irregular=REGULARITY[g])
                          for rate in (10.0, 25.0, 50.0) for g in REGULARITY},
}
SWEEP_TUNING = range(0, 24)         # seeds the detector was designed on (0-7, then 8-23)
SWEEP_HELD_OUT = range(7100, 7108)  # seeds it is judged on (faulty traces; clean ones + 100)
