"""The daemon: the box's life from power-on, sessions back to back, for months.

    idle (quiet, nothing open but the sensor) --a patient inflates the bladder--> session
    session --done, or the patient left for good--> idle (armed again once the bladder is empty)

One main loop (this one) feeds everything: the serial reader thread only hands samples over.
It pings systemd's watchdog every turn, so a hung loop is restarted. Signals only set flags:
SIGTERM ends the session (the current sentence is finished, the record closed, within 3 s),
SIGHUP reloads config and protocols, validated first: a bad file is refused with a log line and
the old ones stay in force; the new ones apply from the next session on. SIGUSR2 (an upgrade's
`make install`) restarts the coach at the first moment no patient or calibration needs it: the
daemon exits with RESTART_EXIT and systemd starts the new code.

A full disk is a state, not a crash: the session goes on, and what could not be written (the
records, the events, the trace) waits in memory and is written when space returns (retried from
the main loop every few seconds).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

from coach import __version__
from coach.adapters import records, systemd
from coach.adapters.audio import open_sink
from coach.adapters.backup import put_back, restore
from coach.adapters.control_socket import ControlServer
from coach.adapters.disk_space import SpaceWatch
from coach.adapters.files import EventWriter, TraceWriter
from coach.adapters.serial_sensor import SerialSensor
from coach.adapters.store import now_utc
from coach.api.methods import API_VERSION
from coach.api.status import (
    ClockStatus,
    HelpCall,
    NextSession,
    SensorStatus,
    SessionInfo,
    SoundStatus,
    Status,
    VoiceStatus,
)
from coach.app.announce import Announcement
from coach.app.calibrate import SpokenCalibration, prompt_sentences
from coach.app.control import Control
from coach.app.endpoints import RecordsEndpoints, RoomEndpoints, SessionEndpoints
from coach.app.options import RunOptions
from coach.app.runner import SerialSource, SessionRunner
from coach.app.settings_endpoints import SettingsEndpoints
from coach.app.wiring import Setup, finish_record, make_sounds, open_store, sensor_units
from coach.config import calibration_store
from coach.config.paths import control_socket, state_dir
from coach.config.settings import load_config
from coach.core.events import Clock, DaemonState
from coach.core.presence import PresenceWatch
from coach.core.thresholds import OFF_PBU_MMHG
from coach.errors import UserError

log = logging.getLogger("rugcoach")

STOP_DRAIN_S = 2.0   # SIGTERM: at most this long to finish the sentence being spoken
EMPTY_MMHG = OFF_PBU_MMHG   # after a session: the bladder must read below this before the next one
EMPTY_HOLD_S = 2.0
RESTART_EXIT = 75     # "start me again" (EX_TEMPFAIL): the unit's RestartForceExitStatus
EVENTS_ROTATE_BYTES = 20 * 1024 * 1024   # at start, a bigger events file is moved to NAME.1
IDLE_BATCH_S = 0.25  # idle, the sensor is read in batches of this: a quarter second is nothing
                     # against the 1 s a patient needs to start, and the box sleeps 4 of 5 wakeups


class ClockEcho:
    """`run --clock-events S`: every S seconds of session time, a `clock` event with the
    sensor's own t_ms of the newest sample the coach has taken in, written after every event
    that sample caused. A simulated patient faster than real time (`sensor-sim --events`)
    keeps within a fixed lead of it, so it never hears the coach late, however slow the
    machine (coach.sim.pty_sensor). Off by default: a real sensor has no use for it."""

    def __init__(self, events, every_s: float):
        self.events = events
        self.every_s = every_s
        self._last = float("-inf")

    def took(self, item) -> None:
        sensor_ms = getattr(item, "sensor_ms", None)
        if sensor_ms is None or item[0] - self._last < self.every_s:
            return
        self._last = item[0]
        self.events.write(Clock(round(item[0], 3), sensor_ms).as_dict())


class Daemon:
    def __init__(self, options: RunOptions, setup: Setup, port: str):
        self.options = options
        self.setup = setup
        self.port = port
        self.stop_requested = False
        self.stop_signal = ""   # the signal that asked for it, told in the log by the main loop
        self.reload_requested = False
        self.restart_requested = False   # SIGUSR2: an upgrade waits for a moment between sessions
        self.exit_code = 0
        self.watchdog = systemd.Watchdog()
        self.runner: SessionRunner | None = None
        self.sessions = 0
        self.events = self.trace = None
        self.echo: ClockEcho | None = None
        self.sensor: SerialSensor | None = None
        # The daemon's own state between sessions (was local to the idle loop): starting (until
        # the first sample), armed (a patient pumping starts a session), waiting_empty (after a
        # session the bladder must be let down first), in_session.
        self.mode = "starting"
        self.empty_since: float | None = None
        self.last_outcome: str | None = None
        # the control socket (docs/api.md): a therapist's choice of patient and programme holds
        # for the next session only; after it the config's own apply again
        self.control: Control | None = None
        self.chosen: dict | None = None
        self.start_requested = False
        self.session_setup: Setup | None = None   # what the session under way was started with
        self.session_chosen: dict | None = None   # the therapist's choice it was started with
        self.calibration: SpokenCalibration | None = None   # calibrating the sensor (between sessions)
        self.announcement: Announcement | None = None        # the console's setup code, being said
        self.store = None   # the session records, open while the daemon runs (their one writer)
        self.last_t = 0.0   # the session clock of the newest sample
        self.last_wall = time.monotonic()   # when it came
        self._born = time.monotonic()
        self.space: SpaceWatch | None = None
        self.help_call: HelpCall | None = None   # the patient called for the therapist, not yet answered
        self.calibrated = calibration_store.info(self._calibration_path())   # the one in use
        self.source: SerialSource | None = None
        self._sounds_stale = False   # the voice changed in the console: new sounds before the next session
        self._voice_check = False    # a choice or a setting changed: is the next session's voice ready?
        self._port_stale = False     # the sensor's port changed: reopened between sessions
        self._sensor_opened_with = (port, setup.config.baudrate, setup.config.unit)
        self._retried_at = 0.0

    # -- signals: flags only, handled in the main loop ----------------------------------------
    # (no logging in a handler: it may interrupt a log line being written, and the stream then
    # refuses the reentrant write with a RuntimeError; the main loop says why it stops)
    def _on_term(self, signum, _frame) -> None:
        self.stop_signal = signal.Signals(signum).name
        self.stop_requested = True
        if self.runner is not None:
            self.runner.stop_requested = True

    def _on_hup(self, _signum, _frame) -> None:
        self.reload_requested = True

    def _on_usr2(self, _signum, _frame) -> None:
        self.restart_requested = True

    def _enter(self, mode: str, t: float, event: str | None = None, outcome: str = "") -> None:
        """Change the daemon's state and say so in the events (and to the log)."""
        self.mode = mode
        self.empty_since = None
        state = event or mode
        if event is None:
            log.info("waiting for a patient: %s", "the bladder must be let down first"
                     if mode == "waiting_empty" else "armed (pumping the bladder up starts a session)")
        if state == "session_ended":
            outcome = self.last_outcome or ""
        self._tell(DaemonState(round(t, 3), state, self.sessions, outcome).as_dict())

    def hear(self, event: dict) -> None:
        """An event of the session's coach (the runner calls this as its listener, and writes
        the events file itself): to the socket's subscribers."""
        if event.get("type") == "help" and self.runner is not None:
            setup = self.session_setup
            self.help_call = HelpCall(event["reason"], event.get("kind", ""), now_utc(),
                                      setup.patient if setup is not None else None,
                                      self.runner.coach.exercise.id)
            log.warning("the patient (%s) is stuck (%s%s): the therapist is called",
                        self.help_call.patient or "not named", event["reason"],
                        f": {event['kind']}" if event.get("kind") else "")
        if self.control is not None:
            self.control.event(event)

    def _tell(self, event: dict) -> None:
        """The daemon's own event (or a calibration prompt): to the events file and the socket."""
        if self.events is not None:
            self.events.write(event)
        self.hear(event)

    def status(self) -> Status:
        """What the box is doing, from each part's own status: for `rugcoach status` and the
        console (read from the main loop; the control socket adds its own part)."""
        runner, current = self.runner, self.session_setup
        record = runner.recorder.id if runner is not None and runner.recorder is not None else None
        return Status(
            api_version=API_VERSION, version=__version__, state=self.mode, sessions=self.sessions,
            last_outcome=self.last_outcome,
            session=SessionInfo(self.sessions, current.patient, current.protocol, record)
            if runner is not None and current is not None else None,
            next=NextSession(self.setup.patient, self.setup.protocol,
                             [exercise.id for exercise in self.setup.session.exercises], self.chosen is not None,
                             self.setup.config.voice.volume, self.setup.config.voice.rate_wpm),
            coach=runner.coach.status() if runner is not None else None,
            calibration=self.calibration.status() if self.calibration is not None else None,
            sensor=self.sensor.status() if self.sensor is not None else SensorStatus(self.port, False),
            sound=runner.audio.status() if runner is not None else
            SoundStatus(self.options.audio or self.setup.config.audio),
            voice=VoiceStatus(self.setup.config.voice_pack),   # recorded sentences in use, or None
            name=self.setup.config.name,
            socket=None, disk=self._disk_status(), help=self.help_call, calibrated=self.calibrated,
            clock=ClockStatus(now_utc(), _clock_synchronized()))

    def _calibration_path(self) -> Path | None:
        return Path(self.setup.config.calibration) if self.setup.config.calibration else None

    def cancel_calibration(self) -> bool:
        """Stop the calibration under way (the console's "Annuleren"): nothing stored."""
        calibration = self.calibration
        if calibration is None:
            return False
        self.calibration = None
        calibration.sink.close(max_wait_s=0.0)
        log.info("calibration cancelled, asked over the control socket; nothing was stored")
        self._enter("waiting_empty", self.last_t, event="calibration_failed", outcome="cancelled")
        return True

    def acknowledge_help(self, account: str | None) -> bool:
        """Someone goes to the patient: the alert ends everywhere (the session stays paused)."""
        if self.help_call is None:
            return False
        log.info("the call for the therapist is answered%s", f" by {account}" if account else "")
        self.help_call = None
        return True

    def _disk_status(self):
        if self.space is None or self.store is None:
            return None
        waiting_events = sum(part.lines.waiting for part in (self.events, self.trace)
                             if part is not None and part.lines is not None)
        full = self.store.full or any(part.lines.full for part in (self.events, self.trace)
                                      if part is not None and part.lines is not None)
        return self.space.status(full, self.store.waiting_counts(), waiting_events)

    def _took(self, item) -> None:
        self.last_t = item[0]
        self.last_wall = time.monotonic()
        if self.echo is not None:
            self.echo.took(item)
        if self.control is not None:
            self.control.sample(item[0], item[1])

    def heartbeat(self) -> None:
        self.watchdog.ping()
        if self.reload_requested:
            self.reload_requested = False
            self._reload()
        if self.control is not None:
            self.control.serve()
            if self.runner is None and self.sensor is not None:
                # idle, the sensor is read in quarter seconds; someone watching the live view gets
                # ten frames a second all the same
                self.sensor.batch_s = self.sensor.BATCH_S if self.control.server.has_subscribers else IDLE_BATCH_S
        if self.announcement is not None and self.announcement.feed(self._wall()):
            self.announcement.close()
            self.announcement = None
        self._keep_writing()
        if self._port_stale and self.runner is None and self.calibration is None:
            self._reopen_sensor()
        if self.restart_requested and self.runner is None and self.calibration is None and not self.stop_requested \
                and not (self.store is not None and (self.store.waiting or self.store.full)):
            # (on a full card the restart waits for what waits in memory: a restart would lose it)
            log.info("restarting for the new version now that no patient is coached")
            self.exit_code = RESTART_EXIT
            self.stop_requested = True

    def _now(self) -> float:
        """The session clock now: the newest sample's time, and the wall clock since it came."""
        return round(self.last_t + time.monotonic() - self.last_wall, 3)

    def _wall(self) -> float:
        """What the box says between sessions (the setup code, the voice's sample) keeps time on
        the wall clock: with or without a sensor, and unmoved when the first sample comes."""
        return round(time.monotonic() - self._born, 3)

    def _keep_writing(self) -> None:
        """A full disk: what waits is tried again every second or so, and the space watched."""
        now = time.monotonic()
        if now - self._retried_at < 1.0:
            return
        self._retried_at = now
        looked = self.space is not None and self.space.check()
        if self.store is not None:
            if self.store.retry() and looked:
                self.store.reserve.keep()   # given up on a full card: set aside again once there is room
        for part in (self.events, self.trace):
            if part is not None and part.lines is not None:
                part.lines.retry()

    # -- what the therapist chooses (the control socket) ---------------------------------------
    def _setup_from(self, chosen: dict | None) -> Setup:
        """The config and the options, with the therapist's choice over them (a patient's own
        volume and speaking rate over the box's)."""
        options, chosen = self.options, chosen or {}
        programme_chosen = chosen.get("protocol") or chosen.get("exercise")
        setup = Setup.from_values(options.config,
                                  chosen.get("protocol") if programme_chosen else options.protocol,
                                  chosen.get("exercise") if programme_chosen else options.exercise,
                                  chosen.get("patient") or options.patient,
                                  programme=chosen.get("programme"))
        own = chosen.get("voice") or {}
        if own:
            setup = replace(setup, config=replace(setup.config, voice=replace(setup.config.voice, **own)))
        return setup

    def choose_next(self, patient: str | None, protocol: str | None, exercise: str | None,
                    programme: str | None = None, voice: dict | None = None) -> Setup:
        """The next session's patient and programme (validated first: UserError leaves all as it was)."""
        chosen = {"patient": patient, "protocol": protocol, "exercise": exercise, "programme": programme,
                  "voice": voice or {}}
        new = self._setup_from(chosen)
        self.setup, self.chosen = new, chosen
        self._voice_check = True   # a patient's own rate: their sentences made ready now
        log.info("next session chosen: patient %s, programme %s", new.patient or "not named", new.protocol)
        return new

    # -- calibration, between sessions (the control socket's `calibrate`) ----------------------
    def begin_calibration(self, span: float) -> None:
        config = self.setup.config
        sink = open_sink(self.options.audio or config.audio, required=False)
        log.info("calibrating the sensor (span %g mmHg), asked over the control socket", span)
        self.start_requested = False
        self._enter("calibrating", self.last_t, event="calibration_started")
        self.calibration = SpokenCalibration(config.unit, span, self.sounds, sink, hear=self._tell)
        self.calibration.begin(self.last_t)

    def announce(self, text: str, sounds=None) -> None:
        """Say `text` now, between sessions (the console's setup code, the voice's sample). Not
        an event, not logged."""
        sink = open_sink(self.options.audio or self.setup.config.audio, required=False)
        # made first (its synthesis answers the socket meanwhile), then the one it replaces closed
        said = Announcement(text, sounds or self.sounds, sink, self._wall(), stopped=self._stop_between_sentences)
        if self.announcement is not None:
            self.announcement.close()
        self.announcement = said

    # -- the box's settings, changed in the console (coach/app/settings_endpoints.py) -----------
    def settings_changed(self, changed: set[str]) -> None:
        try:
            new = self._setup_from(self.chosen)   # the config, with the console's settings over it
        except UserError as exc:
            log.error("the changed settings do not validate with the config (%s); the last ones stay",
                      str(exc).splitlines()[0])
            return
        self.setup = new
        own = (self.session_chosen or {}).get("voice", {}) if self.runner is not None else {}
        if "volume" in changed and getattr(self, "sounds", None) is not None and "volume" not in own:
            # from the next sentence on (a patient with a volume of their own keeps theirs)
            self.sounds.volume = load_config(self.options.config).voice.volume
        if changed & {"voice_pack", "rate_wpm"}:
            self._sounds_stale = True
        self._voice_check = True
        if "port" in changed:
            self._port_stale = True

    def say_sample(self, text: str, volume: float | None, rate_wpm: int | None) -> None:
        """A sentence at the given volume and rate, through the box's speaker (the voice page's
        "Laat de box een zin zeggen")."""
        config = self.setup.config
        voice = replace(config.voice, volume=volume if volume is not None else config.voice.volume,
                        rate_wpm=rate_wpm if rate_wpm is not None else config.voice.rate_wpm)
        self.announce(text, make_sounds(replace(config, voice=voice)))

    def _voice_of(self, setup: Setup) -> tuple:
        return setup.config.voice_pack, replace(setup.config.voice, volume=1.0)   # volume: when played

    def _voice_changed(self, setup: Setup) -> bool:
        """Whether `setup`'s voice is another than the sounds' (changed in the console, or a
        patient's own rate). The console's word that it changed is taken with the answer: a change
        made while the new sounds are made is seen the next time."""
        changed = self._sounds_stale or self._voice_of(setup) != self._sounds_voice
        self._sounds_stale = False
        return changed

    def _prepare_voice(self, source: SerialSource) -> None:
        """A new voice (changed in the console, or the next patient's own rate) is made ready
        between sessions, not when a patient starts: synthesising a programme takes seconds to
        minutes, and a session that began meanwhile would have its first sentences late and
        heaped up. The samples that came meanwhile are let go (no session runs on them)."""
        self._voice_check = False
        setup = self.setup
        if not self._voice_changed(setup):
            return
        started = time.monotonic()
        sounds = make_sounds(setup.config)
        new = sounds.prepare(setup.sentences(), stopped=self._stop_between_sentences)
        self.sounds, self._sounds_voice = sounds, self._voice_of(setup)
        self.sounds.volume = setup.config.voice.volume
        source.let_go()
        log.info("the new voice is ready: %d sentence(s) synthesised (%.1f s)", new, time.monotonic() - started)

    def _reopen_sensor(self) -> None:
        """The port changed in the console: the new one opened (waited for if not plugged in)."""
        self._port_stale = False
        config = self.setup.config
        port = self.options.port or config.port   # the command line wins, as at start
        wanted = (port, config.baudrate, config.unit)
        if not port or wanted == self._sensor_opened_with:
            return
        self._sensor_opened_with = wanted
        try:
            units = sensor_units(config)
        except UserError as exc:   # a raw sensor without a calibration: the old one stays in use
            log.error("the sensor's new settings cannot be used (%s); the sensor stays as it was", exc)
            return
        old, self.port = self.sensor, port
        log.info("the sensor's settings changed: now %s", self.port)
        self.sensor = SerialSensor(self.port, config.baudrate, units, required=False)
        self.sensor.resume_at = self._now()   # its clock goes on from the session clock
        if self.source is not None:
            self.source.sensor = self.sensor
        if old is not None:
            old.close()

    def _calibrating(self, item) -> None:
        calibration = self.calibration
        assert calibration is not None
        value = getattr(item, "value", None)
        if not calibration.feed(item[0], item[1] if value is None else value):
            return
        self.calibration = None
        calibration.sink.close(max_wait_s=1.0)   # its last sentence has been said by now
        config = self.setup.config
        event, outcome = "calibration_failed", calibration.error or "failed"
        if calibration.result is None:
            log.warning("calibration failed: %s; nothing was stored", calibration.error)
        else:
            try:
                stored = calibration_store.save(calibration.result, self._calibration_path())
                self.calibrated = calibration_store.info(stored)
                if self.sensor is not None:
                    self.sensor.units = sensor_units(config)   # from the next sample on
                log.info("calibration stored in %s and in use", stored)
                event, outcome = "calibration_done", ""
            except UserError as exc:   # cannot be stored (a full card, a read-only path)
                log.error("calibration not stored: %s", exc)
                outcome = f"not stored: {exc}"
        # the bladder was pumped up for the span: it must be let down before a patient starts
        self._enter("waiting_empty", item[0], event=event, outcome=outcome)

    def _after_session(self) -> None:
        """A therapist's choice was for that session: the config's patient and programme again
        (a choice made during the session is for the next one, and stays)."""
        self._voice_check = True   # the next session's voice may be another than this one's
        if self.chosen is None or self.chosen is not self.session_chosen:
            return
        self.chosen = None
        try:
            self.setup = self._setup_from(None)
        except UserError as exc:   # the config was changed meanwhile and does not validate now
            log.error("the config's own patient and programme do not validate (%s); the last ones "
                      "stay in force", str(exc).splitlines()[0])

    def _reload(self) -> None:
        try:
            new = self._setup_from(self.chosen)
        except UserError as exc:
            for line in str(exc).splitlines():
                log.error("reload refused, the old config and protocols stay in force: %s", line)
            return
        if (new.config.voice, new.config.voice_pack) != (self.setup.config.voice, self.setup.config.voice_pack):
            log.info("new voice settings: from the next session")
            self._sounds_stale = self._voice_check = True
        if (new.config.port, new.config.baudrate, new.config.unit) != \
                (self.setup.config.port, self.setup.config.baudrate, self.setup.config.unit):
            log.info("new sensor settings: the sensor is opened again between sessions")
            self._port_stale = True
        self.setup = new
        log.info("reloaded config and protocols: %d exercise(s) in the programme, patient %s; "
                 "used from the next session", len(new.session.exercises), new.patient or "not named")

    # -- the life ------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGUSR2, self._on_usr2)
        self.store = open_store()
        self.space = SpaceWatch(self.store.directory)
        for cut in self.store.interrupted:
            log.warning("session %d (patient %s, begun %s UTC) was interrupted (a power cut or a crash): "
                        "%d repetition(s) kept", cut["id"], cut["patient"] or "not named",
                        cut["started"].replace("T", " ").split("+")[0], cut["repetitions"])
        # Under systemd (INVOCATION_ID) a sensor not plugged in yet is waited for; run by hand, a
        # wrong port is a typo and gets its one-line error at once.
        self.sensor = SerialSensor(self.port, self.setup.config.baudrate, sensor_units(self.setup.config),
                              required=not os.environ.get("INVOCATION_ID"))
        try:
            self.control = self._open_control()
            started = time.monotonic()
            self.sounds = make_sounds(self.setup.config)
            self._sounds_voice = self._voice_of(self.setup)
            new = self.sounds.prepare(self.setup.sentences() + prompt_sentences(),
                                      stopped=self._stop_between_sentences)
            if self.stop_requested:
                log.info("stopped during start-up, after %d sentence(s) synthesised", new)
                return self.exit_code
            log.info("ready: %d sentence(s) synthesised, the rest from the cache (%.1f s); waiting "
                     "for a patient on %s", new, time.monotonic() - started, self.port)
            systemd.notify("READY=1", "STATUS=waiting for a patient")
            # self.sensor: a port changed in the console during the start-up is already reopened
            self.source = source = SerialSource(self.sensor, stopped=lambda: self.stop_requested)
            watch = PresenceWatch()
            # the events and the trace follow the daemon's one clock, session after session
            events_path = self.options.events or self.setup.config.events
            self.events = _open_events(events_path) if events_path else None
            every = self.options.clock_events
            self.echo = ClockEcho(self.events, every) if self.events is not None and every else None
            self.trace = TraceWriter(self.options.trace, keep_when_full=True) if self.options.trace else None
            self.sensor.batch_s = IDLE_BATCH_S
            for item in self._idle(source, watch):
                # self.sensor: a port changed in the console is reopened between sessions
                self.sensor.batch_s = self.sensor.BATCH_S
                self._session(self.store, self.sensor, source, begin_at=item[0])
                self.sensor.batch_s = IDLE_BATCH_S
                if self.options.once or self.stop_requested:
                    break
                watch.reset()
                systemd.notify("STATUS=waiting for a patient")
        finally:
            systemd.notify("STOPPING=1")
            if self.stop_signal:
                log.info("received %s: stopping", self.stop_signal)
            if self.announcement is not None:
                self.announcement.close()
            if self.control is not None:
                self.control.server.close()
            for part in (self.events, self.trace):
                if part is not None:
                    part.close()
            self.sensor.close()
            self.store.close()
        log.info("stopped after %d session(s)%s", self.sessions,
                 "; starting again with the new version" if self.exit_code == RESTART_EXIT else "")
        return self.exit_code

    def forget_patient(self, patient: str, account: str | None, address: str | None) -> records.Forgotten:
        """Every trace of a patient off the box (the records service, both files), between
        sessions; a next session chosen for them is unchosen (it would bring them back)."""
        assert self.store is not None   # the control socket asks only once the store is open
        with self.watchdog.kept_alive():   # the VACUUM of years of traces on an SD card
            gone = records.forget(state_dir(), patient, store=self.store, account=account, address=address)
        if self.help_call is not None and self.help_call.patient == patient:
            self.help_call = None
        if self.chosen is not None and self.chosen.get("patient") == patient:
            self.chosen = None
            try:
                self.setup = self._setup_from(None)
            except UserError as exc:
                log.error("the config's own patient and programme do not validate (%s)", str(exc).splitlines()[0])
        return gone

    def replace_records(self, backup_file: Path) -> dict:
        """The records replaced by a checked backup, between sessions (the console asks): the
        store is closed for the swap and opened again, on the restored records or, when the
        restore refused (the file, or the records still open elsewhere), on the old ones."""
        assert self.store is not None   # the control socket asks only once the store is open
        self.store.close()
        try:
            with self.watchdog.kept_alive():   # copying and checking a big backup takes a while
                summary = restore(state_dir(), backup_file)
        except BaseException:
            self.store = open_store()   # refused: the records as they were
            raise
        try:
            self.store = open_store()
        except UserError as exc:   # restored records that do not open (a migration that fails)
            log.error("the restored records cannot be opened (%s): the replaced ones are put back", exc)
            put_back(state_dir())
            self.store = open_store()
            raise UserError(f"the backup's records could not be opened ({exc}); the box's own are back") from None
        return summary

    def _open_control(self) -> Control | None:
        """The control socket; without it the box still coaches (only the console is blind)."""
        path = self.options.socket or str(control_socket())
        server = ControlServer(path)
        try:
            server.start()
        except OSError as exc:
            log.warning("no control socket at %s (%s): the console cannot reach this coach",
                        path, exc.strerror or exc)
            return None
        log.info("control socket: %s", path)
        control = Control(self, server)
        for endpoints in (SessionEndpoints(self), RoomEndpoints(self), RecordsEndpoints(self),
                          SettingsEndpoints(self)):
            endpoints.register(control)
        return control

    def _stop_between_sentences(self) -> bool:
        """Asked between the sentences of a long synthesis: stay responsive (watchdog, socket)."""
        self.heartbeat()
        return self.stop_requested

    def _ping_between_sentences(self) -> bool:
        self.watchdog.ping()
        return False   # a SIGTERM meanwhile ends the session as soon as it has begun

    def _idle(self, source, watch: PresenceWatch):
        """Yield the sample at which a patient starts a session. After a session, the bladder
        must first be empty (the patient got off): one patient's inflated bladder is not the
        next patient starting."""
        for item in source:
            self.heartbeat()
            if self.stop_requested:
                return
            if self._voice_check and self.calibration is None and self.announcement is None:
                self._prepare_voice(source)
                continue   # what came meanwhile was let go: the next sample is fresh
            if item is None:
                continue   # silence: the source keeps the sensor's clock continuous meanwhile
            t, mmhg = item[0], item[1]
            self._took(item)
            if self.calibration is not None:
                self._calibrating(item)
                continue
            if self.start_requested:   # the therapist's "start now": whatever the bladder says
                self.start_requested = False
                yield item
                continue
            if self.mode in ("starting", "in_session"):   # the first sample, or a session just ended
                self._enter("armed" if self.sessions == 0 else "waiting_empty", t)
            if self.mode == "waiting_empty":
                if mmhg >= EMPTY_MMHG:
                    self.empty_since = None
                elif self.empty_since is None:
                    self.empty_since = t
                if self.empty_since is not None and t - self.empty_since >= EMPTY_HOLD_S:
                    self._enter("armed", t)
                continue
            if watch.feed(t, mmhg):
                yield item

    def _session(self, store, sensor, source, begin_at: float) -> None:
        if self.announcement is not None:   # a patient starts: the coach has the speaker now
            self.announcement.close()
            self.announcement = None
        self.session_setup = setup = self.setup
        self.session_chosen = self.chosen
        if self._voice_changed(setup):   # not made ready between sessions (a session began at once)
            self.sounds, self._sounds_voice = make_sounds(setup.config), self._voice_of(setup)   # prepared below
        self.sounds.volume = setup.config.voice.volume
        self.sounds.refresh()                   # sentences recorded in the console since the last session
        # new phrases after a reload are synthesised now (seconds each on a slow box); else cached.
        # The watchdog is fed between them, but no request is served: the session is half begun.
        self.sounds.prepare(setup.sentences(), stopped=self._ping_between_sentences)
        audio = open_sink(self.options.audio or setup.config.audio, required=False)
        recorder = store.begin_session(setup.patient, setup.protocol, setup.exercises(), origin=begin_at)
        self.runner = runner = SessionRunner(setup.coach(self.sounds), self.sounds, audio, self.events, self.trace,
                                             recorder=recorder, heartbeat=self.heartbeat,
                                             stop_requested=self.stop_requested, took=self._took,
                                             listeners=[self])
        self.sessions += 1
        if self.control is not None:
            self.control.session_started()
        self._enter("in_session", begin_at, event="session_started")
        number = _record_number(recorder)
        log.info("session %s: a patient started (%s, patient %s)", number,
                 ", ".join(e.id for e in setup.session.exercises), setup.patient or "not named")
        systemd.notify(f"STATUS=coaching session {number}")
        status = "stopped"
        try:
            runner.run(source, sensor=sensor, begin_at=begin_at)
            coach = runner.coach
            status = ("abandoned" if coach.abandoned else "stopped" if coach.stopped or not coach.finished
                      else "done")
        finally:
            finish_record(store, recorder, setup, status, runner.voices)
            self.last_outcome = status
            self.help_call = None   # the session is over: a call for the therapist with it
            self._enter("in_session", runner.coach.t, event="session_ended")
            audio.close(max_wait_s=STOP_DRAIN_S if self.stop_requested else None)
            self.runner = None
            self._after_session()
            reps = recorder.reps
            log.info("session %s %s: %d repetition(s), %d good", _record_number(recorder), status, len(reps),
                     sum(r["verdict"] == "ok" for r in reps))
            if self.restart_requested and not self.stop_requested:
                log.info("the session is over: restarting for the new version")


def _record_number(recorder) -> str:
    """The session's own number in the records (as the console and the reports show it)."""
    return str(recorder.id) if recorder.id is not None else "(not yet in the records: the disk is full)"


def _open_events(path: str) -> EventWriter:
    """The events file, appended to: a restart (a power cut) keeps what came before. Over
    EVENTS_ROTATE_BYTES at start, the file is moved to NAME.1 (the one before it goes)."""
    if path != "-":
        try:
            if os.path.getsize(path) > EVENTS_ROTATE_BYTES:
                os.replace(path, path + ".1")
                log.info("the events file %s was over %d MB: moved to %s.1", path,
                         EVENTS_ROTATE_BYTES // (1024 * 1024), path)
        except OSError:
            pass   # not there yet, or not ours to move: appended to as it is
    return EventWriter(path, append=True, keep_when_full=True)


def _clock_synchronized() -> bool | None:
    """Whether the network's time set the clock (systemd-timesyncd's flag); None off systemd."""
    if not os.path.isdir("/run/systemd/system"):
        return None
    return os.path.exists("/run/systemd/timesync/synchronized")
