"""Every event of the contract (CONTRACT section 5), defined once, as typed values with one way to
JSON. The coach, the analysis and the compensation tracker make them; the runner turns each into
its wire form once (`as_dict`), which the records, the events file, the simulated patient and
the console read. The field order is the JSON's key order: a golden test holds it byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    """One event at session time `t` (seconds, rounded to the millisecond by its maker)."""

    type: ClassVar[str]
    t: float

    def as_dict(self) -> dict:
        """The wire form: {"type": ..., "t": ..., the fields in their declared order}."""
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class StateChanged(Event):
    type: ClassVar[str] = "state"
    state: str


@dataclass(frozen=True)
class Cue(Event):
    """inflate | contract | relax | rest | next | pause | resume | done."""

    type: ClassVar[str] = "cue"
    cue: str


@dataclass(frozen=True)
class Said(Event):
    """A sentence, the moment its audio starts."""

    type: ClassVar[str] = "say"
    text: str
    key: str = ""   # the phrase key (setup.<exercise>, instruction.<exercise> for those lists)


@dataclass(frozen=True)
class Correction(Event):
    """A spoken correction: a compensation kind, or too_weak | too_strong | not_held."""

    type: ClassVar[str] = "correction"
    kind: str


@dataclass(frozen=True)
class BreathingUnseen(Event):
    """On this exercise the patient's breathing at rest could not be followed (too small against
    the sensor's noise or step): breath holds are not judged, and the report says so."""

    type: ClassVar[str] = "breathing"
    exercise: str
    followed: bool = False


@dataclass(frozen=True)
class HelpCalled(Event):
    """The patient is stuck and the therapist is called (the session pauses until they come):
    `reason` stuck (no step forward for STUCK_S) or no_reaction (the same correction said
    UNANSWERED times without effect, `kind` which)."""

    type: ClassVar[str] = "help"
    reason: str
    kind: str = ""


@dataclass(frozen=True)
class SensorStatus(Event):
    """lost | back."""

    type: ClassVar[str] = "sensor"
    status: str


@dataclass(frozen=True)
class Repetition(Event):
    """One repetition's judgement: held_s in the band, the change from the baseline just before."""

    type: ClassVar[str] = "rep"
    exercise: str
    rep: int
    start: float
    end: float
    held_s: float
    change: float
    verdict: str


@dataclass(frozen=True)
class Compensation(Event):
    """An episode of a compensation, reported when it ended."""

    type: ClassVar[str] = "compensation"
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class Clock(Event):
    """`run --clock-events`: the sensor's own t_ms of the newest sample the coach has taken in."""

    type: ClassVar[str] = "clock"
    sensor_ms: int


@dataclass(frozen=True)
class DaemonState(Event):
    """The daemon around its sessions: waiting_empty (a session ended: the bladder must be let
    down first), armed (a patient who pumps the bladder up starts a session), session_started,
    session_ended (with the record's status in `outcome`: done, stopped, abandoned)."""

    type: ClassVar[str] = "daemon"
    state: str
    session: int      # the session's number since the daemon started (0: none yet)
    outcome: str = ""
