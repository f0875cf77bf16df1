"""What a client of the control socket may ask of the daemon (docs/api.md), judged and carried out
in the daemon's one main loop: the socket thread only hands requests over.

Each request's arguments are checked here, with one-line errors a console can show beside the
field (`code` for the program, `message` for the person). The live view is fed from here too:
every event of the coach and the daemon, the samples in batches of a tenth of a second, and the
daemon's status when it changed; a new subscriber first gets the session so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from coach.adapters.control_socket import ControlServer, Request
from coach.config.paths import state_dir
from coach.config.schema import closest
from coach.errors import UserError

log = logging.getLogger("rugcoach")

SAMPLE_BATCH_S = 0.1    # the live view gets the samples 10 times a second (wall clock)
HISTORY_STEP_S = 0.1    # the session so far keeps a sample per tenth of a second of session time
HISTORY_MOST = 36_000   # an hour of them; a longer session keeps every other one (and so on)
STATUS_EVERY_S = 0.5    # a changed status is sent at most this often


class BadRequest(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Params:
    """A request's arguments, taken one by one with their type checked (as Klipper's
    WebRequest.get_str): whatever is left over at the end was not understood."""

    values: dict
    allowed: tuple[str, ...] = ()

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise BadRequest("missing_argument", f"missing argument '{name}'")
            return None
        if not isinstance(value, str) or not value.strip():
            raise BadRequest("bad_argument", f"'{name}' must be a non-empty string")
        return value.strip()

    def done(self) -> None:
        for name in self.values:
            if name not in self.allowed:
                raise BadRequest("unknown_argument", f"unknown argument '{name}'{did_you_mean(name, self.allowed)}")


def did_you_mean(word: str, choices) -> str:
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


@dataclass
class LiveView:
    """What subscribers see of the current session: its events and a sample per HISTORY_STEP_S
    (the session so far, for a chart opened late), and the samples not yet sent."""

    events: list[dict] = field(default_factory=list)
    samples: list[tuple[float, float]] = field(default_factory=list)
    batch: list[tuple[float, float]] = field(default_factory=list)

    def reset(self) -> None:
        self.events.clear()
        self.samples.clear()


class Owner(Protocol):
    """What the control socket needs of the daemon (coach.app.daemon.Daemon), which owns it."""

    sessions: int
    mode: str
    setup: Any                # what the next session is coached from (its library names the programmes)
    runner: Any               # the SessionRunner of the session under way, else None
    sensor: Any               # the SerialSensor, once opened
    calibration: Any          # the calibration under way, else None
    store: Any                # the session records (the daemon writes them; `forget` asks it to)
    watchdog: Any             # systemd's watchdog: kept alive around a long forget or restore
    session_setup: Any        # what the session under way was started with
    start_requested: bool

    def status(self) -> dict: ...

    def choose_next(self, patient: str | None, protocol: str | None, exercise: str | None,
                    programme: str | None = None) -> Any: ...

    def begin_calibration(self, span: float) -> None: ...

    def announce(self, text: str) -> None: ...

    def replace_records(self, backup_file: Path) -> dict: ...

    def forget_patient(self, patient: str, account: str | None, address: str | None) -> Any: ...


class Control:
    """The daemon's side of the control socket."""

    def __init__(self, daemon: Owner, server: ControlServer):
        self.daemon = daemon
        self.server = server
        self.live = LiveView()
        self._last_batch = time.monotonic()
        self._last_status_check = 0.0
        self._last_status: dict | None = None
        self.handlers: dict[str, Callable[[Params, Request], dict]] = {
            "status": self._status, "subscribe": self._subscribe, "methods": self._methods,
            "next_session": self._next_session, "start": self._start, "pause": self._pause,
            "resume": self._resume, "stop": self._stop, "calibrate": self._calibrate,
            "announce_code": self._announce_code, "forget": self._forget, "restore": self._restore,
        }

    # -- the main loop calls these -----------------------------------------------------------
    def serve(self) -> None:
        """Answer what came in; send the samples and a changed status when due."""
        for request in self.server.requests():
            self._answer(request)
        if not self.server.has_subscribers:
            self.live.batch.clear()
            return
        now = time.monotonic()
        if self.live.batch and now - self._last_batch >= SAMPLE_BATCH_S:
            self.server.publish({"method": "samples", "params": {"samples": self.live.batch}})
            self.live.batch = []
            self._last_batch = now
        if now - self._last_status_check >= STATUS_EVERY_S:
            self._last_status_check = now
            status = self.daemon.status()
            if status != self._last_status:
                self._last_status = status
                self.server.publish({"method": "status", "params": status})

    def sample(self, t: float, mmhg: float) -> None:
        point = (round(t, 3), round(mmhg, 2))
        # the session so far: kept in a session only (idle for months, it would only grow)
        samples = self.live.samples
        if self.daemon.runner is not None and (not samples or t - samples[-1][0] >= HISTORY_STEP_S):
            samples.append(point)
            if len(samples) > HISTORY_MOST:
                del samples[::2]   # a forgotten session never outgrows what a subscriber can take
        if self.server.has_subscribers:
            self.live.batch.append(point)

    def event(self, event: dict) -> None:
        self.live.events.append(event)
        self.server.publish({"method": "event", "params": event})

    def session_started(self) -> None:
        self.live.reset()

    # -- requests ------------------------------------------------------------------------------
    def _answer(self, request: Request) -> None:
        handler = self.handlers.get(request.method)
        try:
            if handler is None:
                raise BadRequest("unknown_method", f"unknown method '{request.method}'"
                                                   f"{did_you_mean(request.method, self.handlers)}")
            result = handler(Params(request.params), request)
        except BadRequest as exc:
            self.server.reply(request.client, {"id": request.id, "error": {"code": exc.code, "message": str(exc)}})
            return
        except UserError as exc:   # a programme or patient that does not validate
            self.server.reply(request.client, {"id": request.id,
                                               "error": {"code": "invalid", "message": str(exc)}})
            return
        except Exception:   # a request must never end the coaching: said in the log, answered
            log.exception("control socket: the request '%s' failed", request.method)
            self.server.reply(request.client, {"id": request.id, "error": {
                "code": "internal", "message": "the coach could not do this (its log says why)"}})
            return
        if request.method == "subscribe":
            self.server.subscribe(request.client, {"id": request.id, "result": result})
        else:
            self.server.reply(request.client, {"id": request.id, "result": result})

    def _status(self, params: Params, _request: Request) -> dict:
        params.done()
        return dict(self.daemon.status(), socket=self.server.status())

    def _subscribe(self, params: Params, _request: Request) -> dict:
        params.done()
        return {"status": self.daemon.status(),
                "session": {"number": self.daemon.sessions if self.daemon.runner is not None else None,
                            "events": list(self.live.events), "samples": list(self.live.samples)}}

    def _methods(self, params: Params, _request: Request) -> dict:
        params.done()
        return {"methods": sorted(self.handlers)}

    def _next_session(self, params: Params, _request: Request) -> dict:
        params.allowed = ("patient", "protocol", "exercise", "programme")
        patient, protocol, exercise = params.text("patient"), params.text("protocol"), params.text("exercise")
        programme = params.text("programme")
        params.done()
        if sum(bool(x) for x in (protocol, exercise, programme)) > 1:
            raise BadRequest("bad_argument", "give a protocol, a programme or one exercise, not more")
        if programme is not None and len(programme) > 32_000:
            raise BadRequest("bad_argument", "'programme' is too long")
        names = self.daemon.setup.library.names()
        if protocol is not None and protocol not in names:   # never a path: nothing else on the box
            raise BadRequest("unknown_protocol", f"unknown programme '{protocol}'{did_you_mean(protocol, names)}; "
                                                 f"the box has: {', '.join(names)}")
        setup = self.daemon.choose_next(patient=patient, protocol=protocol, exercise=exercise, programme=programme)
        return {"patient": setup.patient, "programme": setup.protocol,
                "exercises": [e.id for e in setup.session.exercises]}

    def _start(self, params: Params, _request: Request) -> dict:
        params.done()
        daemon = self.daemon
        if daemon.runner is not None or daemon.calibration is not None:
            raise BadRequest("busy", "a session or a calibration is under way")
        if daemon.mode == "starting" or daemon.sensor is None or not daemon.sensor.status().get("connected"):
            raise BadRequest("no_sensor", "the sensor is not connected")
        daemon.start_requested = True   # armed, or waiting for the bladder to empty: now
        return {"starting": True}

    def _calibrate(self, params: Params, _request: Request) -> dict:
        params.allowed = ("span_mmhg",)
        span = params.values.get("span_mmhg", 40.0)
        params.done()
        if isinstance(span, bool) or not isinstance(span, (int, float)) or not 5.0 <= span <= 150.0:
            raise BadRequest("bad_argument", "'span_mmhg' must be a number from 5 to 150 (40 is usual)")
        daemon = self._idle_with_sensor("the sensor is not connected")
        daemon.begin_calibration(float(span))
        return {"calibrating": True, "span_mmhg": float(span)}

    def _idle_with_sensor(self, no_sensor: str) -> Owner:
        """The daemon, between sessions with its sensor connected: what a calibration and the
        spoken setup code need (both run on the samples' clock). BadRequest otherwise."""
        daemon = self.daemon
        if daemon.runner is not None or daemon.calibration is not None or daemon.mode == "starting":
            raise BadRequest("busy", "a session or a calibration is under way" if daemon.mode != "starting"
                             else "the coach is starting")
        if daemon.sensor is None or not daemon.sensor.status().get("connected"):
            raise BadRequest("no_sensor", no_sensor)
        return daemon

    def _records_between_sessions(self, action: str) -> Owner:
        """The daemon, with its records open and no session or calibration writing them: what
        a forget or a restore of the whole file needs. BadRequest 'busy' otherwise."""
        daemon = self.daemon
        if daemon.runner is not None or daemon.calibration is not None:
            raise BadRequest("busy", f"a session or a calibration is under way: {action} after it")
        if daemon.store is None:
            raise BadRequest("busy", "the coach is starting")
        return daemon

    def _forget(self, params: Params, _request: Request) -> dict:
        """Every trace of a patient off the box, in both files (the console asks; the daemon owns
        the records). `account` and `address`: who asked, for the access log."""
        params.allowed = ("patient", "account", "address")
        patient = params.text("patient", required=True) or ""
        account, address = params.text("account"), params.text("address")
        params.done()
        # Forgetting ends in a VACUUM of both files, which would hold up a session's coaching
        # (and its watchdog): only between sessions.
        gone = self._records_between_sessions("forget").forget_patient(patient, account, address)
        log.info("forgot a patient and %d session(s), asked over the control socket", gone.sessions)
        return {"forgotten": True, "sessions": gone.sessions, "reference": gone.reference}

    def _restore(self, params: Params, _request: Request) -> dict:
        """The records replaced by a backup the console received and checked. Only between
        sessions, and only a file inside the records' own folder (where the console puts an
        upload): the socket cannot make the daemon read files elsewhere."""
        params.allowed = ("path",)
        given = params.text("path", required=True) or ""
        params.done()
        daemon = self._records_between_sessions("restore")
        path = Path(given).resolve()
        if not path.is_relative_to(state_dir().resolve()) or not path.is_file():
            raise BadRequest("bad_argument", "'path' must be a file in the records' folder")
        summary = daemon.replace_records(path)   # UserError (not a backup, records in use): 'invalid'
        log.info("records restored from a backup, asked over the control socket: %d patient(s), "
                 "%d session(s), %d repetition(s)", summary["patients"], summary["sessions"], summary["repetitions"])
        return dict(summary, restored=True)

    def _announce_code(self, params: Params, _request: Request) -> dict:
        """The console's one-time setup code, said aloud in the treatment room (never in an
        event or the log: only who stands by the box may hear it). Digits only: the socket
        cannot make the box say anything else."""
        params.allowed = ("code",)
        code = params.text("code", required=True) or ""
        params.done()
        if not 4 <= len(code) <= 12 or not code.isdigit() or not code.isascii():
            raise BadRequest("bad_argument", "'code' must be 4 to 12 digits")
        daemon = self._idle_with_sensor("the sensor is not connected (the box speaks on its samples' clock)")
        from coach.console.setup_code import spoken
        daemon.announce(spoken(code))
        return {"announcing": True}

    def _in_session(self):
        runner = self.daemon.runner
        if runner is None:
            raise BadRequest("no_session", "no session is under way")
        return runner

    def _pause(self, params: Params, _request: Request) -> dict:
        params.done()
        runner = self._in_session()
        if not runner.coach.can_pause:
            raise BadRequest("cannot_pause", "this part of the session cannot be paused (an exercise "
                                             "without the pressure cushion): stop it instead")
        runner.ask("pause")
        return {"paused": True}

    def _resume(self, params: Params, _request: Request) -> dict:
        params.done()
        runner = self._in_session()
        if not runner.coach.paused_by_therapist:
            raise BadRequest("not_paused", "the session was not paused by a therapist")
        runner.ask("resume")
        return {"paused": False}

    def _stop(self, params: Params, _request: Request) -> dict:
        params.done()
        self._in_session().ask("stop")
        return {"stopping": True}
