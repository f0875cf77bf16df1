"""The daemon's side of the control socket (docs/api.md): requests judged and answered in the
daemon's one main loop (the socket thread only hands them over), and the live view.

Control only dispatches: each method of coach/api/methods.py is registered by the part of the
daemon whose state it touches (coach/app/endpoints.py), and answered with its typed result or
an ApiError naming the field. Control registers only what is the socket's own: `hello` (the
API's version), `status`, `subscribe`, `snapshot` and `methods`.

The live view is fed from here: every event of the coach and the daemon, the samples in batches
of a tenth of a second, and the status when it changed, each notification numbered (`seq`). The
session so far (its events and a sample per 0.1 s of session time) is kept here and only here:
every client, whenever it connected, gets it from `subscribe` or `snapshot`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from coach.adapters.control_socket import ControlServer, Request
from coach.api import methods as api
from coach.api.status import Status
from coach.api.wire import ApiError, ErrorCode, from_wire, to_wire
from coach.config.schema import closest
from coach.errors import UserError

log = logging.getLogger("rugcoach")

SAMPLE_BATCH_S = 0.1    # the live view gets the samples 10 times a second (wall clock)
HISTORY_STEP_S = 0.1    # the session so far keeps a sample per tenth of a second of session time
HISTORY_MOST = 36_000   # an hour of them; a longer session keeps every other one (and so on)
STATUS_EVERY_S = 0.5    # a changed status is sent at most this often


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
    """What the socket's own methods need of the daemon (coach.app.daemon.Daemon)."""

    sessions: int
    runner: Any               # the SessionRunner of the session under way, else None

    def status(self) -> Status: ...


def did_you_mean(word: str, choices) -> str:
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


@dataclass(frozen=True)
class Registered:
    method: api.Method
    handler: Callable[[Any], Any]


@dataclass(frozen=True)
class Later:
    """A handler's answer that a worker thread is still making (a backup): the main loop replies
    when the future is done, and never waits for it."""

    future: Future


class Control:
    def __init__(self, daemon: Owner, server: ControlServer):
        self.daemon = daemon
        self.server = server
        self.live = LiveView()
        self.seq = 0                      # the number of the last notification published
        self._last_batch = time.monotonic()
        self._last_status_check = 0.0
        self._last_status: Status | None = None
        self.handlers: dict[str, Registered] = {}
        self._later: list[tuple[Request, Registered, Future]] = []
        self.register(api.HELLO, self._hello)
        self.register(api.STATUS, self._status)
        self.register(api.SUBSCRIBE, self._snapshot)
        self.register(api.SNAPSHOT, self._snapshot)
        self.register(api.METHODS_LIST, self._methods)

    def register(self, method: api.Method, handler: Callable[[Any], Any]) -> None:
        """`handler` answers `method`: it takes the method's params dataclass and returns its
        result dataclass, or raises ApiError (UserError: `invalid`)."""
        if method.name in self.handlers:
            raise ValueError(f"the method '{method.name}' is registered twice")
        self.handlers[method.name] = Registered(method, handler)

    # -- the main loop calls these -----------------------------------------------------------
    def serve(self) -> None:
        """Answer what came in; send the samples and a changed status when due."""
        for request in self.server.requests():
            self._answer(request)
        if self._later:
            self._answer_finished()
        if not self.server.has_subscribers:
            self.live.batch.clear()
            return
        now = time.monotonic()
        # on a schedule, not "0.1 s since the last": the main loop turns every 50 ms, and "since
        # the last" would send every 0.15 s as often as every 0.1 s (8 frames a second, not 10)
        if self.live.batch and now >= self._last_batch + SAMPLE_BATCH_S:
            self._publish(api.NOTIFY_SAMPLES, api.Samples(self.live.batch))
            self.live.batch = []
            behind = now - self._last_batch > 2 * SAMPLE_BATCH_S
            self._last_batch = now if behind else self._last_batch + SAMPLE_BATCH_S
        if now - self._last_status_check >= STATUS_EVERY_S:
            self._last_status_check = now
            status = self.status()
            # the clock moves every second: not a change worth telling every viewer of
            if self._last_status is None or replace(status, clock=None) != replace(self._last_status, clock=None):
                self._last_status = status
                self._publish(api.NOTIFY_STATUS, status)

    def status(self) -> Status:
        return replace(self.daemon.status(), socket=self.server.status())

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
        self._publish(api.NOTIFY_EVENT, event)

    def session_started(self) -> None:
        self.live.reset()

    def _publish(self, method: str, params: object) -> None:
        self.seq += 1
        self.server.publish({"method": method, "params": to_wire(params), "seq": self.seq})

    # -- requests ------------------------------------------------------------------------------
    def _answer(self, request: Request) -> None:
        entry = self.handlers.get(request.method)
        try:
            if entry is None:
                raise ApiError(ErrorCode.UNKNOWN_METHOD, f"unknown method '{request.method}'"
                                                         f"{did_you_mean(request.method, self.handlers)}")
            params = from_wire(entry.method.params, request.params)
            result = entry.handler(params)
            if isinstance(result, Later):
                self._later.append((request, entry, result.future))
                return
            if not isinstance(result, entry.method.result):
                raise TypeError(f"{entry.method.name} answered {type(result).__name__}")
        except ApiError as exc:
            self.server.reply(request.client, {"id": request.id, "error": exc.to_wire()})
            return
        except UserError as exc:   # a programme, patient or file that does not validate
            self.server.reply(request.client, {"id": request.id,
                                               "error": ApiError(ErrorCode.INVALID, str(exc)).to_wire()})
            return
        except Exception:   # a request must never end the coaching: said in the log, answered
            log.exception("control socket: the request '%s' failed", request.method)
            error = ApiError(ErrorCode.INTERNAL, "the coach could not do this (its log says why)")
            self.server.reply(request.client, {"id": request.id, "error": error.to_wire()})
            return
        answer = {"id": request.id, "result": to_wire(result)}
        if entry.method is api.SUBSCRIBE:
            self.server.subscribe(request.client, answer)
        else:
            self.server.reply(request.client, answer)

    def _answer_finished(self) -> None:
        """Reply to the requests whose work on a worker thread is done."""
        waiting = []
        for request, entry, future in self._later:
            if not future.done():
                waiting.append((request, entry, future))
                continue
            try:
                result = future.result()
                if not isinstance(result, entry.method.result):
                    raise TypeError(f"{entry.method.name} answered {type(result).__name__}")
                answer = {"id": request.id, "result": to_wire(result)}
            except ApiError as exc:
                answer = {"id": request.id, "error": exc.to_wire()}
            except UserError as exc:
                answer = {"id": request.id, "error": ApiError(ErrorCode.INVALID, str(exc)).to_wire()}
            except Exception:
                log.exception("control socket: the request '%s' failed", request.method)
                answer = {"id": request.id, "error": ApiError(
                    ErrorCode.INTERNAL, "the coach could not do this (its log says why)").to_wire()}
            self.server.reply(request.client, answer)
        self._later = waiting

    def _hello(self, params: api.Hello) -> api.Welcome:
        from coach import __version__
        if params.api_version != api.API_VERSION:
            raise ApiError(ErrorCode.VERSION, f"this coach speaks API version {api.API_VERSION}, the client "
                                              f"{params.api_version}: update RugCoach so both are the same",
                           "api_version")
        return api.Welcome(api.API_VERSION, __version__)

    def _status(self, _params: api.NoParams) -> Status:
        return self.status()

    def _snapshot(self, _params: api.NoParams) -> api.Snapshot:
        number = self.daemon.sessions if self.daemon.runner is not None else None
        return api.Snapshot(self.status(), api.SessionSoFar(number, list(self.live.events), list(self.live.samples)),
                            self.seq)

    def _methods(self, _params: api.NoParams) -> api.MethodList:
        return api.MethodList(sorted(self.handlers))
