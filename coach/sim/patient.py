"""A simulated patient on a PBU: a pressure model that hears the coach and reacts, like a person.

Pure and deterministic for a given seed: `hear(event)` takes the coach's events (what is said,
the cues), `pressure(t)` gives the bladder pressure at session time t. The model has the parts a
real trace has (DOMAIN.md, "What the pressure trace shows"):
- the air in the bladder, raised by squeezes of the hand pump and slowly lost through a small leak;
- a breathing ripple at the patient's own rate, with breath-to-breath variation;
- the contraction: a slow first-order approach to the patient's chosen depth, after a reaction
  delay; pushing, a pelvic step and breath holding when the behaviour asks for them;
- sensor noise and, optionally, quantisation.
Behaviours make a patient err (too weak, pushing, ...) and improve when corrected, so the coach's
corrections are tested against a patient who listens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from coach.core.protocol import Session, base_key
from coach.core.voice import sentences

SELF_PUMP_MMHG = 30.0   # a patient who starts by themselves pumps to about here, then waits


@dataclass(frozen=True)
class Behaviour:
    """How this patient does the exercise. The defaults do it right."""

    depth: float = -9.0             # mmHg change of a contraction (prone: a drop)
    depth_sd: float = 0.8           # variation between repetitions
    reaction_s: tuple[float, float] = (0.9, 1.6)
    contract_tau_s: float = 0.9     # how slowly the pressure follows the muscle
    pushes: bool = False            # bears down (pressure rises) until corrected
    too_strong: bool = False        # braces the whole trunk until corrected
    holds_breath: bool = False      # stops breathing while holding until corrected
    moves_pelvis_at: float | None = None   # s into a hold: a fast step, until corrected
    lets_go_after: float | None = None     # s into a hold the patient lets go (not_held)
    gets_off_in_rep: int | None = None     # gets off the bladder during this repetition's hold
    off_for_s: float = 8.0


@dataclass
class Physiology:
    breath_period: float = 5.0      # s
    ripple: float = 1.2             # mmHg peak to peak
    noise: float = 0.15             # mmHg rms
    leak_per_s: float = 0.004       # mmHg/s lost through the valve and tube
    quantum: float = 0.0            # mmHg; 0.5 models a coarse sensor
    lying_mmhg: float = 3.0         # what the empty bladder reads with the patient on it


@dataclass
class SimulatedPatient:
    session: Session
    seed: int = 0
    behaviour: Behaviour = field(default_factory=Behaviour)
    body: Physiology = field(default_factory=Physiology)
    # The daemon waits, quiet, until somebody inflates the bladder: a patient who was shown how
    # starts pumping by itself this many seconds after lying down, unless the coach spoke first.
    starts_pumping_at: float | None = None

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)
        self.air = self.body.lying_mmhg
        self.offset = 0.0           # contraction effect, mmHg
        self.goal = 0.0
        self.onsets: list[tuple[str, float, float]] = []   # (fault, when it began, its size in mmHg)
        self.step = 0.0             # pelvis step, mmHg
        self.breathing = 1.0        # 1 = breathing, 0 = holding the breath
        self.phase = float(self.rng.uniform(0, 2 * math.pi))
        self.period = self.body.breath_period
        self.on_pbu = True
        self.t = 0.0
        self.actions: list[tuple[float, str]] = []   # (when, what) the patient will do
        self.pump_mode: str | None = None
        self.next_squeeze = 0.0
        self.rep = 0
        self.exercise_index = 0     # follows the coach's "next" cue
        self.hold_started: float | None = None
        self.corrected: set[str] = set()
        self.endings = self._phrase_endings()
        self.heard_coach = False

    # -- hearing -----------------------------------------------------------------------
    def _phrase_endings(self) -> dict[str, set[str]]:
        """Phrase key -> the last sentence of each of its wordings: the patient acts on a phrase
        (the `say` event's key) once it has been said to the end."""
        books = [self.session.phrases.phrases] + [e.phrases for e in self.session.exercises]
        endings: dict[str, set[str]] = {}
        for book in books:
            for key, wordings in book.items():   # a position's wording is heard under its key
                endings.setdefault(base_key(key), set()).update(sentences(text)[-1] for text in wordings)
        return endings

    def hear(self, event: dict) -> None:
        kind, t = event.get("type"), float(event.get("t", self.t))
        if kind == "say":
            self.heard_coach = True   # the coach spoke (a state or the daemon's own news is no word)
        if kind == "cue":
            cue = event["cue"]
            if cue == "next":
                self.exercise_index = min(self.exercise_index + 1, len(self.session.exercises) - 1)
            elif cue == "contract":
                self._later(t, "contract")
            elif cue in ("relax", "pause"):
                self._later(t, "relax", fast=True)
        elif kind == "say":
            key = event.get("key")
            if key and event["text"] in self.endings.get(key, ()):
                self._understood(t, key)
        elif kind == "state" and event["state"] != "inflating":
            self.pump_mode = None

    def _understood(self, t: float, key: str) -> None:
        if key in ("inflate.start", "inflate.more"):
            self._later(t, "pump:more")
        elif key == "inflate.little":
            self._later(t, "pump:little")
        elif key == "inflate.too_much":
            self._later(t, "release")
        elif key == "inflate.good":
            self._later(t, "pump:stop", fast=True)
        elif key == "hold.start":
            self.hold_started = t
        elif key.startswith("correction."):
            self._later(t, "fix:" + key.split(".", 1)[1].removeprefix("steady."))
        elif key == "contract.help":
            self._later(t, "fix:too_weak")

    def _later(self, t: float, action: str, fast: bool = False) -> None:
        lo, hi = self.behaviour.reaction_s
        delay = float(self.rng.uniform(lo, hi)) * (0.5 if fast else 1.0)
        self.actions.append((t + delay, action))

    # -- acting --------------------------------------------------------------------------
    def _act(self, action: str) -> None:
        b = self.behaviour
        if action == "contract":
            self.rep += 1
            self.hold_started = None
            target = self.session.exercises[self.exercise_index].target
            if target.kind == "steady":
                # drawing in on a 40 mmHg position: a rise of 0-2 mmHg (Park & Lee 2013)
                depth = float(self.rng.uniform(0.2, 1.6))
                if b.too_strong and "too_strong" not in self.corrected:
                    depth = 6.0   # the back pressed into the bladder
                elif b.pushes and "pushing" not in self.corrected:
                    depth = 5.0   # bearing down: the back is pushed into the bladder too
                    self.onsets.append(("pushing", self.t, depth))
                self.goal = depth
                return
            depth = b.depth + float(self.rng.normal(0, b.depth_sd))
            if b.pushes and "pushing" not in self.corrected:
                depth = abs(depth) * 0.6
                self.onsets.append(("pushing", self.t, depth))
            elif b.too_strong and "too_strong" not in self.corrected:
                depth = depth * 2.2
            self.goal = depth
        elif action == "relax":
            self.goal = 0.0
            self.step = 0.0
            self.breathing = 1.0
            self.hold_started = None
        elif action.startswith("pump:"):
            self.pump_mode = None if action == "pump:stop" else action[5:]
            self.next_squeeze = self.t
        elif action == "release":
            self.pump_mode = None
            self.air -= float(self.rng.uniform(3.0, 6.0))
        elif action.startswith("fix:"):
            fault = action[4:]
            self.corrected.add(fault)
            if fault == "too_weak":
                self.goal = min(self.goal, 0.0) - 3.0 if self.goal > -5 else self.goal - 2.0
            elif fault in ("too_strong", "pushing"):
                steady = self.session.exercises[self.exercise_index].target.kind == "steady"
                self.goal = 0.8 if steady else self.behaviour.depth
                if steady:  # "Niet duwen. Houd de druk gelijk." is heard as being about both
                    self.corrected.update({"too_strong", "pushing"})
            elif fault == "breath_hold":
                self.breathing = 1.0
            elif fault == "pelvis_moved":
                self.step = 0.0
        elif action == "get_off":
            self.on_pbu = False
        elif action == "get_on":
            self.on_pbu = True

    def pressure(self, t: float) -> float:
        """The bladder pressure at session time t (call with increasing t)."""
        dt = max(0.0, t - self.t)
        self.t = t
        due = [a for a in self.actions if a[0] <= t]
        if due:
            self.actions = [a for a in self.actions if a[0] > t]
            for _, action in sorted(due):
                self._act(action)
        if self.starts_pumping_at is not None and not self.heard_coach and t >= self.starts_pumping_at:
            # a few squeezes by themselves, then they wait for the coach to say how much more
            self.pump_mode = "more" if self.air < SELF_PUMP_MMHG else None
            self.next_squeeze = max(self.next_squeeze, self.starts_pumping_at)
        self._pump(t)
        self._behave(t)
        b, body = self.behaviour, self.body
        self.air = max(0.0, self.air - body.leak_per_s * dt)
        self.offset += (self.goal - self.offset) * (1 - math.exp(-dt / b.contract_tau_s))
        target_breathing = 0.0 if self._holding_breath() else 1.0
        self.breathing += (target_breathing - self.breathing) * (1 - math.exp(-dt / 1.0))
        self.phase += 2 * math.pi * dt / self.period
        if self.phase > 2 * math.pi:
            self.phase -= 2 * math.pi
            self.period = body.breath_period * float(self.rng.uniform(0.9, 1.1))
        ripple = 0.5 * body.ripple * self.breathing * math.sin(self.phase)
        held_breath_rise = 0.8 * (1 - self.breathing)
        load = 1.0 if self.on_pbu else 0.03
        value = load * (self.air + self.offset + self.step + ripple + held_breath_rise)
        value += float(self.rng.normal(0, body.noise))
        if body.quantum > 0:
            value = round(value / body.quantum) * body.quantum
        return max(0.0, value)

    def _pump(self, t: float) -> None:
        if self.pump_mode is None or t < self.next_squeeze:
            return
        if self.pump_mode == "more":
            self.air += float(self.rng.uniform(5.0, 8.0))  # a Stabilizer bulb squeeze
            self.next_squeeze = t + float(self.rng.uniform(1.0, 1.4))
        else:  # "a little more": gentle squeezes until told to stop
            self.air += float(self.rng.uniform(1.5, 3.0))
            self.next_squeeze = t + float(self.rng.uniform(1.3, 1.8))

    def _holding_breath(self) -> bool:
        return (self.behaviour.holds_breath and self.hold_started is not None
                and "breath_hold" not in self.corrected and self.t - self.hold_started > 2.0)

    def _behave(self, t: float) -> None:
        """The scripted faults of this behaviour, relative to the start of a hold."""
        b = self.behaviour
        if self.hold_started is None:
            return
        into_hold = t - self.hold_started
        if (b.moves_pelvis_at is not None and into_hold >= b.moves_pelvis_at
                and "pelvis_moved" not in self.corrected and self.step == 0.0):
            # keep steady: the back presses into the bladder; prone: the belly lifts off it, a
            # drop past the band (a tilt landing at the baseline would look like letting go)
            steady = self.session.exercises[self.exercise_index].target.kind == "steady"
            self.step = 7.0 if steady else -7.0
            self.onsets.append(("pelvis_moved", t, self.step))
        if b.lets_go_after is not None and into_hold >= b.lets_go_after:
            self.goal = 0.0
        if b.gets_off_in_rep == self.rep and self.on_pbu and into_hold >= 1.0:
            self.on_pbu = False
            self.actions.append((t + b.off_for_s, "get_on"))
            self.hold_started = None
