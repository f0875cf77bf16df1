"""The daemon's methods of the control socket (coach/api/methods.py), each registered by the part
of the daemon whose state it touches, as Moonraker's components register their endpoints:
Control (coach/app/control.py) only dispatches.

- SessionEndpoints: the therapist's choice of the next session, and starting, pausing, resuming
  and stopping the one under way (the daemon's choice; the runner's coach).
- RoomEndpoints: what the box does in the room between sessions (calibrating the sensor, saying
  the console's setup code): the daemon's mode and its speaker.
- RecordsEndpoints: forgetting a patient and putting a backup back (the records service over
  both files), between sessions.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from coach.adapters import backup
from coach.adapters.store import check_patient_id
from coach.api import methods as api
from coach.api.wire import ApiError, ErrorCode
from coach.app.control import Later, did_you_mean
from coach.config import box_settings
from coach.config.paths import state_dir
from coach.core.spoken import spoken_code
from coach.errors import UserError

log = logging.getLogger("rugcoach")

MAX_PROGRAMME = 32_000   # characters of a patient's own programme (a protocol document)


class Owner(Protocol):
    """What the endpoints need of the daemon (coach.app.daemon.Daemon)."""

    mode: str
    setup: Any                # what the next session is coached from (its library names the programmes)
    runner: Any               # the SessionRunner of the session under way, else None
    sensor: Any               # the SerialSensor, once opened
    calibration: Any          # the calibration under way, else None
    store: Any                # the session records, once open
    start_requested: bool

    def choose_next(self, patient: str | None, protocol: str | None, exercise: str | None,
                    programme: str | None = None, voice: dict | None = None) -> Any: ...

    def begin_calibration(self, span: float) -> None: ...

    def announce(self, text: str) -> None: ...

    def acknowledge_help(self, account: str | None) -> bool: ...

    def cancel_calibration(self) -> bool: ...

    def forget_patient(self, patient: str, account: str | None, address: str | None) -> Any: ...

    def replace_records(self, backup_file: Path) -> dict: ...


class Registry(Protocol):
    def register(self, method: api.Method, handler) -> None: ...


def _text(value: str | None, field: str) -> str | None:
    """An optional text argument, stripped; an empty one is refused (it would mean nothing)."""
    if value is None:
        return None
    if not value.strip():
        raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{field}' must be a non-empty string", field)
    return value.strip()


def _idle(daemon: Owner, what: str) -> None:
    """Between sessions, with no calibration: else `busy` (a patient is coached) or
    `calibrating`, saying which, and what waits."""
    if daemon.runner is not None:
        raise ApiError(ErrorCode.BUSY, f"a patient is being coached: {what} after the session")
    if daemon.calibration is not None:
        raise ApiError(ErrorCode.CALIBRATING, f"the sensor is being calibrated: {what} after it")


def _sensor_connected(daemon: Owner) -> None:
    if daemon.mode == "starting":
        raise ApiError(ErrorCode.STARTING, "the coach is starting (no sample from the sensor yet)")
    if daemon.sensor is None or not daemon.sensor.status().connected:
        raise ApiError(ErrorCode.NO_SENSOR, "the sensor is not connected")


class SessionEndpoints:
    def __init__(self, daemon: Owner):
        self.daemon = daemon

    def register(self, control: Registry) -> None:
        control.register(api.NEXT_SESSION, self.next_session)
        control.register(api.START, self.start)
        control.register(api.PAUSE, self.pause)
        control.register(api.RESUME, self.resume)
        control.register(api.STOP, self.stop)

    def next_session(self, params: api.NextSessionParams) -> api.NextSessionResult:
        patient, protocol = _text(params.patient, "patient"), _text(params.protocol, "protocol")
        exercise, programme = _text(params.exercise, "exercise"), _text(params.programme, "programme")
        if sum(bool(x) for x in (protocol, exercise, programme)) > 1:
            raise ApiError(ErrorCode.BAD_ARGUMENT, "give a protocol, a programme or one exercise, not more",
                           "protocol")
        if programme is not None and len(programme) > MAX_PROGRAMME:
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'programme' is longer than {MAX_PROGRAMME} characters",
                           "programme")
        voice = {name: value for name, value in (("volume", params.volume), ("rate_wpm", params.rate_wpm))
                 if value is not None}
        problems = box_settings.check(voice)
        if problems:
            raise ApiError(ErrorCode.BAD_ARGUMENT, problems[0].message, problems[0].field)
        names = self.daemon.setup.library.names()
        if protocol is not None and protocol not in names:   # never a path: nothing else on the box
            raise ApiError(ErrorCode.UNKNOWN_PROTOCOL, f"unknown programme '{protocol}'"
                           f"{did_you_mean(protocol, names)}; the box has: {', '.join(names)}", "protocol")
        if patient is not None:
            try:
                check_patient_id(patient)
            except UserError as exc:   # said beside the patient's field
                raise ApiError(ErrorCode.INVALID, str(exc), "patient") from None
        try:
            setup = self.daemon.choose_next(patient=patient, protocol=protocol, exercise=exercise,
                                            programme=programme, voice=voice)
        except UserError as exc:   # a programme or exercise that does not validate
            raise ApiError(ErrorCode.INVALID, str(exc), "programme" if programme else
                           "exercise" if exercise else "protocol") from None
        return api.NextSessionResult(setup.patient, setup.protocol, [e.id for e in setup.session.exercises])

    def start(self, _params: api.NoParams) -> api.Starting:
        daemon = self.daemon
        _idle(daemon, "start")
        _sensor_connected(daemon)
        daemon.start_requested = True   # armed, or waiting for the bladder to empty: now
        return api.Starting(True)

    def _runner(self):
        runner = self.daemon.runner
        if runner is None:
            raise ApiError(ErrorCode.NO_SESSION, "no session is under way")
        return runner

    def pause(self, _params: api.NoParams) -> api.PauseState:
        runner = self._runner()
        if not runner.coach.can_pause:
            raise ApiError(ErrorCode.CANNOT_PAUSE, "this part of the session cannot be paused (an exercise "
                                                   "without the pressure cushion): stop it instead")
        runner.ask("pause")
        return api.PauseState(True)

    def resume(self, _params: api.NoParams) -> api.PauseState:
        runner = self._runner()
        if not runner.coach.paused_by_therapist:
            raise ApiError(ErrorCode.NOT_PAUSED, "the session was not paused by a therapist")
        runner.ask("resume")
        self.daemon.acknowledge_help(None)   # the therapist is there
        return api.PauseState(False)

    def stop(self, _params: api.NoParams) -> api.Stopping:
        self._runner().ask("stop")
        self.daemon.acknowledge_help(None)
        return api.Stopping(True)


class RoomEndpoints:
    def __init__(self, daemon: Owner):
        self.daemon = daemon

    def register(self, control: Registry) -> None:
        control.register(api.CALIBRATE, self.calibrate)
        control.register(api.CANCEL_CALIBRATION, self.cancel_calibration)
        control.register(api.ANNOUNCE_CODE, self.announce_code)
        control.register(api.ACKNOWLEDGE_HELP, self.acknowledge_help)

    def calibrate(self, params: api.CalibrateParams) -> api.Calibrating:
        span = params.span_mmhg
        if not 5.0 <= span <= 150.0:
            raise ApiError(ErrorCode.BAD_ARGUMENT, "'span_mmhg' must be a number from 5 to 150 (40 is usual)",
                           "span_mmhg")
        _idle(self.daemon, "calibrate")
        _sensor_connected(self.daemon)
        self.daemon.begin_calibration(span)
        return api.Calibrating(True, span)

    def cancel_calibration(self, _params: api.NoParams) -> api.Cancelled:
        return api.Cancelled(self.daemon.cancel_calibration())

    def acknowledge_help(self, params: api.AcknowledgeParams) -> api.Acknowledged:
        return api.Acknowledged(self.daemon.acknowledge_help(_text(params.account, "account")))

    def announce_code(self, params: api.AnnounceCodeParams) -> api.Announcing:
        """The console's one-time setup code, said aloud in the treatment room (never in an
        event or the log: only who stands by the box may hear it). Digits only: the socket
        cannot make the box say anything else."""
        code = params.code.strip()
        if not 4 <= len(code) <= 12 or not code.isdigit() or not code.isascii():
            raise ApiError(ErrorCode.BAD_ARGUMENT, "'code' must be 4 to 12 digits", "code")
        _idle(self.daemon, "say the code")
        # with or without a sensor, also while the coach starts: a new box is set up before its
        # sensor is plugged in (the daemon says it on the wall clock when no samples come)
        self.daemon.announce(spoken_code(code))
        return api.Announcing(True)


class RecordsEndpoints:
    """Forget, backup and restore: the records service (coach/adapters/records.py) over both of
    the box's files. A backup only reads, so it is made on a worker thread, beside the coaching
    (also during a session); forgetting and restoring rewrite the files, so they wait for a
    moment without a session, and for a backup being made."""

    def __init__(self, daemon: Owner):
        self.daemon = daemon
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")
        self.backup_running: Future | None = None

    def register(self, control: Registry) -> None:
        control.register(api.FORGET, self.forget)
        control.register(api.BACKUP, self.backup)
        control.register(api.RESTORE, self.restore)

    def _between_sessions(self, what: str) -> Owner:
        """Forgetting and restoring rewrite whole files (a VACUUM, a swap), which would hold up a
        session's coaching and its watchdog: only between sessions, with the records open."""
        _idle(self.daemon, what)
        if self.daemon.store is None:
            raise ApiError(ErrorCode.STARTING, "the coach is starting (its records are not open yet)")
        if self.backup_running is not None and not self.backup_running.done():
            raise ApiError(ErrorCode.BUSY, f"a backup is being made: {what} after it")
        return self.daemon

    def _nothing_waiting(self, what: str) -> None:
        """Records waiting in memory for space would land in other files after a swap."""
        store = self.daemon.store
        if store is not None and store.waiting:
            raise ApiError(ErrorCode.DISK_FULL, f"the disk is full and sessions wait to be written: {what} "
                           "when there is space")

    def backup(self, params: api.BackupParams):
        """A consistent copy of both files, written on the worker thread with connections of its
        own (the daemon's store is the main loop's): answered when it is done."""
        if self.backup_running is not None and not self.backup_running.done():
            raise ApiError(ErrorCode.BUSY, "a backup is being made already", "path")
        out = Path(params.path)
        folder = out.parent.resolve()
        if not folder.is_relative_to(state_dir().resolve()) or out.exists() or not folder.is_dir():
            raise ApiError(ErrorCode.BAD_ARGUMENT, "'path' must be a new file in a folder of the records' folder",
                           "path")

        def make() -> api.BackupMade:
            made = backup.backup(state_dir(), folder / out.name)
            log.info("backup made, asked over the control socket: %d session(s), %d repetition(s)",
                     made["sessions"], made["repetitions"])
            return api.BackupMade(made["path"], made["patients"], made["sessions"], made["repetitions"])

        self.backup_running = self.worker.submit(make)
        return Later(self.backup_running)

    def forget(self, params: api.ForgetParams) -> api.Forgotten:
        """Every trace of a patient off the box, in both files (the console or the shell asks;
        the daemon owns the records). `account`, `address`: who asked, for the access log."""
        patient = params.patient.strip()
        try:
            check_patient_id(patient)
        except UserError as exc:
            raise ApiError(ErrorCode.INVALID, str(exc), "patient") from None
        daemon = self._between_sessions("forget")
        try:
            gone = daemon.forget_patient(patient, _text(params.account, "account"), _text(params.address, "address"))
        except UserError as exc:   # the box does not know the patient
            raise ApiError(ErrorCode.NOT_FOUND, str(exc), "patient") from None
        log.info("forgot a patient and %d session(s), asked over the control socket", gone.sessions)
        return api.Forgotten(True, gone.sessions, gone.reference)

    def restore(self, params: api.RestoreParams) -> api.Restored:
        """The box's data replaced by a backup the console received and checked. Only a file
        inside the state directory (where the console puts an upload): the socket cannot make
        the daemon read files elsewhere."""
        daemon = self._between_sessions("restore")
        self._nothing_waiting("restore")
        path = Path(params.path).resolve()
        if not path.is_relative_to(state_dir().resolve()) or not path.is_file():
            raise ApiError(ErrorCode.BAD_ARGUMENT, "'path' must be a file in the records' folder", "path")
        try:
            summary = daemon.replace_records(path)
        except UserError as exc:   # not a backup, or the records still open elsewhere
            raise ApiError(ErrorCode.INVALID, str(exc), "path") from None
        log.info("records restored from a backup, asked over the control socket: %d patient(s), "
                 "%d session(s), %d repetition(s)", summary["patients"], summary["sessions"], summary["repetitions"])
        return api.Restored(True, summary["patients"], summary["sessions"], summary["repetitions"])
