"""What the box is doing: the daemon's status, built from each component's own typed status.

It has one shape in every state: a part that does not apply now is null (no session: `session`
and `coach` are null; not calibrating: `calibration` is null), never missing, so a client reads
it without looking at `state` first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SensorStatus:
    """The pressure sensor (coach/adapters/serial_sensor.py)."""

    port: str
    connected: bool
    samples: int = 0            # readings taken since the daemon started
    bad_lines: int = 0          # lines that were no reading
    problem: str | None = None  # why it is not connected, in one line
    clock_restarts: int = 0     # the sensor's own clock started again (it was replugged or reset)
    since: str | None = None    # UTC, ISO 8601: when it connected (or went away)


@dataclass(frozen=True)
class SoundStatus:
    """Where the coach speaks (coach/adapters/audio.py): between sessions only the device named."""

    device: str
    available: bool | None = None    # null between sessions: the device is opened per session
    losses: int | None = None        # times the device went away in this session
    latency_ms: float | None = None  # a sound card's output latency


@dataclass(frozen=True)
class CoachStatus:
    """The session's coach (coach/core/coach.py)."""

    state: str                  # positioning, inflating, measuring_rest, instructing, contracting, ...
    t: float                    # session seconds
    exercise: str
    title: str
    exercise_number: int
    exercises: int
    repetition: int
    repetitions: int
    hold_left_s: float | None   # while holding
    band_mmhg: tuple[float, float] | None   # the target band while contracting or holding
    paused: str | None          # off_pbu | sensor | therapist, while paused
    finished: bool


@dataclass(frozen=True)
class CalibrationStatus:
    """A calibration under way (coach/app/calibrate.py)."""

    step: str                   # zero | span | done | failed
    span_mmhg: float


@dataclass(frozen=True)
class SessionInfo:
    number: int                 # the daemon's count of sessions since it started
    patient: str | None
    programme: str | None
    record: int | None = None   # the session's number in the records (null while a full disk delays it)


@dataclass(frozen=True)
class NextSession:
    patient: str | None
    programme: str | None
    exercises: list[str]
    chosen: bool                # chosen by a therapist (else the config's own)
    volume: float | None = None     # the voice it will be coached in (a patient's own, or the box's)
    rate_wpm: int | None = None


@dataclass(frozen=True)
class VoiceStatus:
    pack: str | None            # the recorded sentences in use, or null (the computer voice alone)


@dataclass(frozen=True)
class SocketStatus:
    """The control socket (coach/adapters/control_socket.py)."""

    path: str
    clients: int
    subscribers: int
    dropped: int


@dataclass(frozen=True)
class CalibrationInfo:
    """The stored calibration in use (coach/config/calibration_store.py)."""

    date: str | None            # UTC, ISO 8601: when it was made
    unit: str
    offset: float               # the sensor's reading at 0 mmHg (the zero)
    gain: float
    span_mmhg: float            # the dial's value it was matched at


@dataclass(frozen=True)
class ClockStatus:
    """The box's clock: a wrong one dates every session wrongly."""

    now: str                    # UTC, ISO 8601
    synchronized: bool | None   # set by the network's time (systemd-timesyncd); null: not known


@dataclass(frozen=True)
class HelpCall:
    """The patient is stuck and the coach called the therapist: every console alerts until
    someone acknowledges it (`acknowledge_help`)."""

    reason: str                 # stuck (no step forward for 2 minutes) | no_reaction (a correction unheeded 3 times)
    kind: str                   # with no_reaction: which correction
    since: str                  # UTC, ISO 8601
    patient: str | None
    exercise: str


@dataclass(frozen=True)
class DiskStatus:
    """Space for the records (the state directory's filesystem): a full disk is a state the
    coach waits out, coaching on, with what could not be written kept in memory."""

    free_mb: int
    total_mb: int
    low: bool                   # under LOW_MB or LOW_SHARE: time to make room, before it is full
    full: bool                  # the last write found no space; what waits is below
    waiting_repetitions: int = 0
    waiting_samples: int = 0
    waiting_events: int = 0


@dataclass(frozen=True)
class Status:
    api_version: int
    version: str                # the software's
    state: str                  # starting | armed | waiting_empty | in_session | calibrating
    sessions: int
    last_outcome: str | None    # done | stopped | abandoned, of the last session
    session: SessionInfo | None
    next: NextSession
    coach: CoachStatus | None
    calibration: CalibrationStatus | None
    sensor: SensorStatus
    sound: SoundStatus
    voice: VoiceStatus
    socket: SocketStatus | None
    disk: DiskStatus | None = None
    help: HelpCall | None = None
    calibrated: CalibrationInfo | None = None
    name: str | None = None     # the box's name (its room)
    clock: ClockStatus | None = None
