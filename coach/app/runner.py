"""The session runner: the one main loop that feeds the core and carries out what it asks.

Sources (the simulated patient, or the serial sensor) give timestamped samples; the coach turns
them into events and sounds; the runner hands sounds to the audio sink and events to the event
file, the trace file and (in simulation) the patient. Time is the session clock of the samples:
the loop waits on the wall clock only when a real sound device needs the session to run in real
time, so `--audio none` or `wav:` run a whole session in seconds with the same events.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from coach.core.coach import Coach, Hush, Play
from coach.core.events import Cue, Repetition
from coach.core.ports import AudioSink, BatchSensor, EventWriter, Listener, Recorder, Sounds, TraceWriter

log = logging.getLogger(__name__)

LOST_AFTER_S = 1.5  # no sample for this long (wall clock): the sensor is lost


@dataclass
class SerialSource:
    """Samples from the sensor's reader thread, which reconnects by itself; None when none came
    for a while (time passes). Ends only when stopped (SIGTERM).

    The sensor hands over batches; what is left of one when an iteration stops (the idle watch
    saw a patient start) is kept for the next (the session), so no sample falls between them.

    It alone keeps the sensor's clock continuous: while no sample comes (unplugged, silent), it
    tells the sensor the session time counted meanwhile (`resume_at`), so a t_ms counter that
    restarted with the power continues from there; once samples flow, it clears it."""

    sensor: BatchSensor
    wait_s: float = 0.25
    stopped: Callable[[], bool] = lambda: False
    _pending: deque = field(default_factory=deque)
    _last: tuple[float, float] | None = None   # (t, wall clock) of the newest sample handed on

    def let_go(self) -> None:
        """Drop what came while the main loop was busy between sessions (making a new voice
        ready): no session runs on it, and a session must begin on a fresh sample, not catch up
        on seconds of old ones."""
        self._pending.clear()
        while self.sensor.read(0.0):
            pass

    def __iter__(self):
        while not self.stopped():
            if not self._pending:
                batch = self.sensor.read(self.wait_s)
                if not batch:
                    if self._last is not None:
                        t, wall = self._last
                        self.sensor.resume_at = round(t + time.monotonic() - wall, 3)
                    yield None  # nothing came: time passes (the runner watches for a lost sensor)
                    continue
                self._pending.extend(batch)
            item = self._pending.popleft()
            self._last = (item[0], time.monotonic())
            self.sensor.resume_at = None
            yield item


class ZeroDriftCheck:
    """At start the bladder is usually empty: a steady reading a little off zero means the
    sensor's zero has drifted. Warn once (the log, not the patient) and tell what to do."""

    def __init__(self, seconds: float = 2.0):
        self.seconds = seconds
        self.values: list[float] = []
        self.start: float | None = None

    def feed(self, t: float, mmhg: float) -> bool:
        """True when done looking."""
        self.start = t if self.start is None else self.start
        self.values.append(mmhg)
        if t - self.start < self.seconds:
            return False
        mean = sum(self.values) / len(self.values)
        steady = max(self.values) - min(self.values) < 1.5
        if steady and 2.0 < abs(mean) < 15.0:
            log.warning("the sensor reads %.1f mmHg while the pressure is steady and low: its zero "
                        "may have drifted; run 'rugcoach calibrate' with the bladder open", mean)
        return True


@dataclass
class SessionRunner:
    """The one main loop of a session: feeds the coach, carries out what it asks (sounds to the
    sink, events to the record first, then the events file, the trace and the listeners)."""

    coach: Coach
    sounds: Sounds
    audio: AudioSink
    events: EventWriter | None = None
    trace: TraceWriter | None = None
    listeners: list[Listener] = field(default_factory=list)
    recorder: Recorder | None = None   # the session's record (coach.adapters.store): hears first
    heartbeat: Callable[[], None] = lambda: None  # called every turn of the loop (watchdog)
    stop_requested: bool = False
    took: Callable[[tuple], None] = lambda item: None  # a sample taken in, with all it caused
    asked: list[str] = field(default_factory=list)   # the therapist's pause/resume/stop, not yet done
    voices: dict[str, int] = field(default_factory=dict)   # sentences spoken, by voice (the record says it)

    def ask(self, request: str) -> None:
        """The therapist's request (the control socket, from the main loop): carried out at the
        top of the next turn, on the session clock."""
        self.asked.append(request)

    def _carry_out_asked(self) -> None:
        while self.asked:
            request = self.asked.pop(0)
            act = {"pause": self.coach.pause, "resume": self.coach.resume, "stop": self.coach.stop}[request]
            log.info("the therapist asked: %s", request)
            self.dispatch(act(self.coach.t))

    def dispatch(self, outputs: list) -> str:
        """Carry out the core's outputs; returns the repetition cue given (for the trace).

        Each event is turned into its wire form once. The record hears it first: a repetition
        is committed before anyone (the events file, the patient) hears that it ended, so what
        was announced was stored."""
        cue = ""
        for output in outputs:
            if isinstance(output, Hush):
                self.audio.cut(output.t)
                continue
            if isinstance(output, Play):
                self.audio.play(output.t, self.sounds.samples(output.line))
                voice = getattr(self.sounds, "last_voice", None)
                if voice is not None and not output.line.is_tone:
                    self.voices[voice] = self.voices.get(voice, 0) + 1
                continue
            event = output.as_dict()
            if self.recorder is not None:
                self.recorder.hear(event)
            if self.events is not None:
                self.events.write(event)
            for listener in self.listeners:
                listener.hear(event)
            if isinstance(output, Cue) and output.cue == "contract":
                cue = "contract"
            elif isinstance(output, Repetition):
                cue = "relax"  # every repetition ends with a relax mark, also one cut short
        return cue

    def run(self, source, sensor=None, begin_at: float = 0.0) -> None:
        """Feed the coach until its session ends. With a real `sensor`, silence is watched on the
        host clock: after LOST_AFTER_S without a sample the coach hears `sensor_lost`, and time
        goes on (host-counted) so the patient still hears it; the first sample after that
        brings `sensor_back`. `begin_at`: the session clock's time now (the daemon's sessions
        follow each other on one clock, the clock of the samples)."""
        self.audio.start()
        self.dispatch(self.coach.begin(begin_at))
        last_t, last_wall, lost = begin_at, time.monotonic(), False
        zero_check = ZeroDriftCheck() if sensor is not None and begin_at == 0.0 else None
        for item in source:
            self.heartbeat()
            if self.stop_requested:
                log.info("asked to stop: finishing the current sentence and stopping")
                break
            self._carry_out_asked()
            now = time.monotonic()
            if item is None:
                estimate = round(last_t + (now - last_wall), 3)
                if sensor is not None:
                    if not lost and now - last_wall > LOST_AFTER_S:
                        lost = True
                        self.dispatch(self.coach.sensor_lost(estimate))
                self.dispatch(self.coach.tick(estimate))
                if self.coach.finished:
                    break   # ended without a sample: stopped, or given up, while the sensor is away
                continue
            # Rounded as the trace stores them, so `analyze` on the trace sees the very same samples.
            t, mmhg = round(item[0], 3), round(item[1], 2)
            if t <= last_t and last_t > 0 and not lost:
                self.took(item)
                continue  # a repeated or out-of-order timestamp is not a new sample
            t = max(t, round(self.coach.t + 0.001, 3))  # the session clock never runs backwards
            last_t, last_wall = t, now
            if zero_check is not None and zero_check.feed(t, mmhg):
                zero_check = None
            if lost:
                lost = False
                self.dispatch(self.coach.sensor_back(t))
            cue = self.dispatch(self.coach.feed(t, mmhg))
            if self.recorder is not None:
                self.recorder.write(t, mmhg, cue)
            if self.trace is not None:
                self.trace.write(t, mmhg, cue)
            self.took(item)
            if self.coach.finished:
                break
