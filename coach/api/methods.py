"""Every method of the daemon's control socket, defined once: its name, the frozen dataclass of
its parameters and of its result, how long a client waits for it, and what it does (the text
docs/api.md's reference is generated from). The daemon registers a handler for each where the
state it touches lives; both clients call them by these descriptors, never by a string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from coach.api.status import Status

# Raised when a method, a parameter or a result changes in a way an older client or daemon would
# misread; both sides say `hello` first and refuse another version in one clear line.
API_VERSION = 2

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Method(Generic[P, R]):
    name: str
    params: type[P]
    result: type[R]
    doc: str
    timeout_s: float | None = None   # how long a client waits for the answer (None: the client's own)


@dataclass(frozen=True)
class NoParams:
    pass


@dataclass(frozen=True)
class Hello:
    api_version: int
    client: str | None = None   # who asks, for the daemon's log (rugcoach status, the console)


@dataclass(frozen=True)
class Welcome:
    api_version: int
    version: str                # the daemon's software version


@dataclass(frozen=True)
class SessionSoFar:
    """The session under way as the daemon keeps it (its one copy): every event, and a sample per
    0.1 s of session time. `number` is null between sessions (and then the lists are the last
    session's, until the next begins)."""

    number: int | None
    events: list[dict]
    samples: list[tuple[float, float]]


@dataclass(frozen=True)
class Snapshot:
    status: Status
    session: SessionSoFar
    seq: int                    # the last notification it includes: later ones have a higher seq


@dataclass(frozen=True)
class MethodList:
    methods: list[str]


@dataclass(frozen=True)
class NextSessionParams:
    patient: str | None = None
    protocol: str | None = None     # a programme of the box's library, by name
    exercise: str | None = None     # one exercise of the library
    programme: str | None = None    # a patient's own programme: a protocol document (YAML), at most 32,000 characters
    volume: float | None = None     # a patient who hears poorly: their own volume (0.3-1) for this session
    rate_wpm: int | None = None     # and speaking rate (115-155 words a minute)


@dataclass(frozen=True)
class NextSessionResult:
    patient: str | None
    programme: str | None
    exercises: list[str]


@dataclass(frozen=True)
class Starting:
    starting: bool


@dataclass(frozen=True)
class PauseState:
    paused: bool


@dataclass(frozen=True)
class Stopping:
    stopping: bool


@dataclass(frozen=True)
class CalibrateParams:
    span_mmhg: float = 40.0


@dataclass(frozen=True)
class Calibrating:
    calibrating: bool
    span_mmhg: float


@dataclass(frozen=True)
class AnnounceCodeParams:
    code: str


@dataclass(frozen=True)
class Announcing:
    announcing: bool


@dataclass(frozen=True)
class PortChoice:
    path: str                       # /dev/serial/by-id/... (stays the same across replugging)
    present: bool                   # plugged in now


@dataclass(frozen=True)
class PackChoice:
    name: str                       # a voice pack: the practice's own recordings
    recorded: dict[str, int]        # sentences recorded, per programme
    sentences: dict[str, int]       # sentences the programme says


@dataclass(frozen=True)
class BoxSettings:
    """The box's settings in force (the console's over the config's), and what may be chosen."""

    name: str | None
    port: str | None
    audio: str
    correction_gap_s: float
    voice_pack: str | None          # null: the computer voice alone
    volume: float                   # 0.3-1.0
    rate_wpm: int                   # 115-155
    from_console: list[str]         # which of them the console set (the others are the config's)
    ports: list[PortChoice]         # the sensors plugged in, and the one set when it is not
    sound_devices: list[str]        # the box's sound outputs (empty during a session: not looked up)
    voice_packs: list[PackChoice]


@dataclass(frozen=True)
class ChangeSettingsParams:
    """Only the settings given change; `voice_pack` "" is the computer voice."""

    name: str | None = None
    port: str | None = None
    audio: str | None = None
    correction_gap_s: float | None = None
    voice_pack: str | None = None
    volume: float | None = None
    rate_wpm: int | None = None


@dataclass(frozen=True)
class SettingsChanged:
    settings: BoxSettings
    takes_effect: dict[str, str]    # per setting changed: now | next_sentence | next_session


@dataclass(frozen=True)
class SaySampleParams:
    volume: float | None = None     # the box's own when not given
    rate_wpm: int | None = None


@dataclass(frozen=True)
class Saying:
    saying: bool
    text: str


@dataclass(frozen=True)
class Cancelled:
    cancelled: bool


@dataclass(frozen=True)
class AcknowledgeParams:
    account: str | None = None      # who is going to the patient (the log says it)


@dataclass(frozen=True)
class Acknowledged:
    acknowledged: bool              # false: no call was open


@dataclass(frozen=True)
class ForgetParams:
    patient: str
    account: str | None = None      # who asked, for the access log
    address: str | None = None


@dataclass(frozen=True)
class Forgotten:
    forgotten: bool
    sessions: int
    reference: str                  # the access log names the patient by this from now on


@dataclass(frozen=True)
class RestoreParams:
    path: str


@dataclass(frozen=True)
class Restored:
    restored: bool
    patients: int
    sessions: int
    repetitions: int


@dataclass(frozen=True)
class BackupParams:
    path: str                       # the file to write: in the state directory, not there yet


@dataclass(frozen=True)
class BackupMade:
    path: str
    patients: int
    sessions: int
    repetitions: int


@dataclass(frozen=True)
class Samples:
    samples: list[tuple[float, float]] = field(default_factory=list)


HELLO = Method("hello", Hello, Welcome,
               "Say which API version the client speaks; refused with `version` when it is not the "
               "daemon's. Both bundled clients say it first.")
STATUS = Method("status", NoParams, Status, "What the box is doing (one shape in every state).")
SUBSCRIBE = Method("subscribe", NoParams, Snapshot,
                   "The state now and the session so far, then every notification (`samples`, `event`, "
                   "`status`) until the connection closes.")
SNAPSHOT = Method("snapshot", NoParams, Snapshot,
                  "The state now and the session so far, without subscribing: for a viewer that joins "
                  "a subscription already open (it keeps notifications with a higher `seq`).")
METHODS_LIST = Method("methods", NoParams, MethodList, "The names of every method.")
NEXT_SESSION = Method("next_session", NextSessionParams, NextSessionResult,
                      "Choose the patient and the programme of the next session (at most one of "
                      "`protocol`, `exercise`, `programme`); it holds for that session only. Checked as "
                      "`rugcoach check` checks: `invalid` with the reason, `unknown_protocol` with the "
                      "box's programmes.")
START = Method("start", NoParams, Starting,
               "Start the chosen session now, without waiting for the bladder to be pumped up.")
PAUSE = Method("pause", NoParams, PauseState, "Pause the session (the patient hears why).")
RESUME = Method("resume", NoParams, PauseState, "Carry on after a therapist's pause.")
STOP = Method("stop", NoParams, Stopping, "End the session (the patient hears that the therapist ended it).")
CALIBRATE = Method("calibrate", CalibrateParams, Calibrating,
                   "Calibrate the sensor between sessions, guided by voice (zero, then the span); its "
                   "prompts come as `say` events, its end as a `daemon` event.", timeout_s=15.0)
ANNOUNCE_CODE = Method("announce_code", AnnounceCodeParams, Announcing,
                       "Say the console's one-time setup code aloud in the room (4 to 12 digits).")
CANCEL_CALIBRATION = Method("cancel_calibration", NoParams, Cancelled,
                            "Stop a calibration under way: nothing is stored, the one in use stays. "
                            "`cancelled` false when none was under way.")
SETTINGS = Method("settings", NoParams, BoxSettings,
                  "The box's settings in force and what may be chosen (sensors plugged in, sound devices, "
                  "voice packs with what they hold per programme).")
CHANGE_SETTINGS = Method("change_settings", ChangeSettingsParams, SettingsChanged,
                         "Change some of the box's settings; each is checked as `rugcoach check` checks the "
                         "config (a refusal names the field) and kept by the daemon in its state "
                         "(settings.json), over /etc/rugcoach/config.yaml. `takes_effect` says when.")
SAY_SAMPLE = Method("say_sample", SaySampleParams, Saying,
                    "Say a sentence through the box's speaker now (between sessions) at the given volume "
                    "and rate, or the box's own.", timeout_s=30.0)
ACKNOWLEDGE_HELP = Method("acknowledge_help", AcknowledgeParams, Acknowledged,
                          "Someone is going to the patient who called for the therapist (`status.help`): "
                          "the alert ends in every console. The session stays paused until `resume` or `stop`.")
FORGET = Method("forget", ForgetParams, Forgotten,
                "Every trace of a patient off the box, in the records and the console's data, between "
                "sessions. `not_found` when the box does not know the patient.", timeout_s=120.0)
BACKUP = Method("backup", BackupParams, BackupMade,
                "A consistent copy of the box's records and console data (SQLite's online backup), "
                "written to `path` in the state directory, made beside the coaching (also during a "
                "session: it only reads). One at a time.", timeout_s=600.0)
RESTORE = Method("restore", RestoreParams, Restored,
                 "Replace the box's records and console data by a checked backup (a file in the state "
                 "directory), between sessions, the console's connections closed.", timeout_s=600.0)

METHODS: dict[str, Method] = {m.name: m for m in (
    HELLO, STATUS, SUBSCRIBE, SNAPSHOT, METHODS_LIST, NEXT_SESSION, START, PAUSE, RESUME, STOP,
    CALIBRATE, CANCEL_CALIBRATION, ANNOUNCE_CODE, ACKNOWLEDGE_HELP, SETTINGS, CHANGE_SETTINGS, SAY_SAMPLE,
    FORGET, BACKUP, RESTORE)}

# Notifications to subscribers: {"method": NAME, "params": ..., "seq": N}
NOTIFY_SAMPLES = "samples"   # Samples: [t, mmHg] pairs, 10 times a second
NOTIFY_EVENT = "event"       # one event of the contract (coach/core/events.py), as JSON
NOTIFY_STATUS = "status"     # Status, when it changed (at most twice a second)
NOTIFICATIONS = {NOTIFY_SAMPLES: Samples, NOTIFY_EVENT: dict, NOTIFY_STATUS: Status}
