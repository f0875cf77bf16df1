"""Patients who come and go, one after another: what the daemon sees in a treatment room.

Each lies down on the empty bladder after a gap, starts pumping by itself (the daemon is quiet
until then), is coached, and gets off when the coach says the session is done; the bladder is
let down, and the next one comes. Each visitor is a `SimulatedPatient` with a behaviour drawn
from `behaviours` (faults included), so a long run has patients who push, hold their breath
or get off mid-hold. The visitors hear the coach on their own clock: events are re-timed to
the moment they are heard, as a person hears them.
"""

from __future__ import annotations

import numpy as np

from coach.core.protocol import Session
from coach.sim.patient import Behaviour, Physiology, SimulatedPatient

FAULTS = [Behaviour(), Behaviour(), Behaviour(pushes=True), Behaviour(holds_breath=True),
          Behaviour(gets_off_in_rep=2, off_for_s=6.0), Behaviour(moves_pelvis_at=2.0), Behaviour(depth=-4.0)]


class Visitors:
    def __init__(self, session: Session, seed: int = 0, gap_s: float = 20.0,
                 behaviours: list[Behaviour] | None = None, body: Physiology | None = None,
                 first_after_s: float | None = None):
        self.session = session
        self.seed = seed
        self.gap_s = gap_s
        self.behaviours = behaviours or FAULTS
        self.body = body or Physiology()
        self.rng = np.random.default_rng(seed)
        self.current: SimulatedPatient | None = None
        self.next_arrival = float(self.rng.uniform(2.0, 4.0)) if first_after_s is None else first_after_s
        self.leave_at: float | None = None
        self.count = 0
        self.t = 0.0

    def hear(self, event: dict) -> None:
        if self.current is None:
            return
        self.current.hear(dict(event, t=self.t))
        if event.get("type") == "cue" and event.get("cue") == "done":
            self.leave_at = self.t + float(self.rng.uniform(2.0, 5.0))

    def pressure(self, t: float) -> float:
        self.t = t
        if self.current is None and t >= self.next_arrival:
            behaviour = self.behaviours[self.count % len(self.behaviours)]
            self.current = SimulatedPatient(self.session, seed=self.seed + self.count, behaviour=behaviour,
                                            body=self.body, starts_pumping_at=t + float(self.rng.uniform(2, 5)))
            self.current.t = t
            self.count += 1
        if self.leave_at is not None and t >= self.leave_at:
            self.current, self.leave_at = None, None
            self.next_arrival = t + self.gap_s * float(self.rng.uniform(0.5, 1.5))
        if self.current is None:  # an empty bladder on the table
            return max(0.0, float(self.rng.normal(0.3, self.body.noise)))
        return self.current.pressure(t)
