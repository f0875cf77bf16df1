"""The seams between the one main loop and the edges, as typing.Protocols: what the runner asks
of a sound sink, the sounds, an event or trace writer, a listener, a session's record, a sensor.
The real adapters and the tests' fakes are checked against the same signatures."""

from __future__ import annotations

from typing import Any, Protocol

from coach.api.status import SoundStatus
from coach.core.voice import Line


class AudioSink(Protocol):
    realtime: bool   # True: sounds play as they are handed over, so the session runs in real time

    def start(self) -> None: ...

    def play(self, t: float, samples: Any, requested_at: float | None = None) -> None: ...

    def cut(self, t: float) -> None: ...   # fade out what plays at t (a sentence broken off)

    def close(self, max_wait_s: float | None = None) -> None: ...

    def status(self) -> SoundStatus: ...


class Sounds(Protocol):
    """Audio by Line (coach.core.voice): a sentence with its phrase key, or a tone."""

    def samples(self, line: Line) -> Any: ...

    def duration(self, line: Line) -> float: ...


class EventWriter(Protocol):
    def write(self, event: dict) -> None: ...

    def close(self) -> None: ...


class TraceWriter(Protocol):
    def write(self, t: float, mmhg: float, cue: str = "") -> None: ...

    def close(self) -> None: ...


class Listener(Protocol):
    """Hears every event the coach gives (the simulated patient, the control socket)."""

    def hear(self, event: dict) -> None: ...


class Recorder(Listener, TraceWriter, Protocol):
    """A session's record: hears every event first, and every sample."""

    reps: list[dict]
    id: int | None   # its number in the records (None while a full disk delays its row)


class PatientModel(Protocol):
    """A simulated patient (or patients who come and go): hears the coach, gives the pressure."""

    def hear(self, event: dict) -> None: ...

    def pressure(self, t: float) -> float: ...


class BatchSensor(Protocol):
    """A sensor read on a thread of its own: the next batch of samples, or [] after `timeout`.
    `resume_at`: the session time now, while no sample comes (set by the source that reads it)."""

    resume_at: float | None

    def read(self, timeout: float) -> list: ...

