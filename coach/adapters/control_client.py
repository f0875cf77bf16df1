"""The synchronous driver of the control socket's client (docs/api.md), for `rugcoach status`,
`calibrate`, `forget` and the tests: it moves the bytes of the one client core
(coach/api/client.py), which encodes the typed requests and decodes the typed results, as the
console's asyncio driver (coach/console/daemon_link.py) does. One request at a time;
notifications that arrive meanwhile are kept for `notifications()`. It says `hello` first: a
daemon of another API version is refused in one line, not misread.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from coach.api import methods as api
from coach.api.client import ClientCore, Notification, Reply, refused_hello
from coach.api.status import Status
from coach.api.wire import ApiError, ErrorCode
from coach.errors import UserError


class DaemonError(UserError):
    """The daemon refused a request: `code` (an ErrorCode) says why in a word, `field` the argument."""

    def __init__(self, error: ApiError):
        super().__init__(error.message, exit_code=1)
        self.code = error.code
        self.field = error.field


class NotRunning(UserError):
    """No daemon answers on the socket (not running, restarting, or no permission)."""


def socket_answers(path: str | Path) -> bool:
    """Whether a process accepts connections on the socket (a daemon, whatever its API version);
    NotRunning (exit 4) when this account may not tell."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    try:
        sock.connect(str(path))
        return True
    except PermissionError:
        raise NotRunning(f"cannot tell whether the coach is stopped (no permission to use {path}); run this as "
                         "the service's user: sudo -u rugcoach rugcoach ...", exit_code=4) from None
    except OSError:
        return False
    finally:
        sock.close()


class DaemonClient:
    def __init__(self, path: str | Path, timeout: float = 5.0, name: str = "rugcoach"):
        self.path = Path(path)
        self.timeout = timeout
        self.name = name
        self.core = ClientCore()
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._pending: deque[Notification] = deque()

    # -- the connection ----------------------------------------------------------------------
    def connect(self) -> DaemonClient:
        self.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except FileNotFoundError:
            sock.close()
            raise NotRunning(f"the coach is not running: no socket at {self.path}", exit_code=3) from None
        except ConnectionRefusedError:
            sock.close()
            raise NotRunning(f"the coach is not running (or restarting): nobody answers on {self.path}",
                             exit_code=3) from None
        except PermissionError:
            sock.close()
            raise NotRunning(f"no permission to use {self.path}: add this account to the group of the "
                             f"service (sudo adduser $USER rugcoach), then log in again", exit_code=4) from None
        except OSError as exc:
            sock.close()
            raise NotRunning(f"cannot reach the coach on {self.path}: {exc.strerror or exc}", exit_code=3) from None
        self._sock = sock
        self._buffer.clear()
        self._pending.clear()
        try:
            self.core.check_welcome(self._request(api.HELLO, self.core.hello(self.name)))
        except ApiError as exc:
            self.close()
            raise DaemonError(refused_hello(exc)) from None
        except NotRunning:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> DaemonClient:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------
    def call(self, method: api.Method, params: Any = None, timeout: float | None = None) -> Any:
        """`method`'s typed result; DaemonError when refused, NotRunning when nobody answers."""
        if self._sock is None:
            self.connect()
        try:
            return self._request(method, params if params is not None else method.params(), timeout)
        except ApiError as exc:
            raise DaemonError(exc) from None

    def _request(self, method: api.Method, params: Any, timeout: float | None = None) -> Any:
        request_id, frame = self.core.request(method, params)
        self._send(frame)
        wait = timeout or method.timeout_s or self.timeout
        deadline = time.monotonic() + wait
        while True:
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise NotRunning(f"the coach did not answer within {wait:g} s", exit_code=3) from None
            if isinstance(message, Notification):
                self._pending.append(message)
            elif isinstance(message, Reply) and (message.id == request_id or message.id is None):
                if message.id is None and message.error is None:
                    continue
                return self.core.result(method, message)

    def status(self) -> Status:
        return self.call(api.STATUS)

    def subscribe(self) -> api.Snapshot:
        return self.call(api.SUBSCRIBE)

    def next_session(self, patient: str | None = None, protocol: str | None = None,
                     exercise: str | None = None, programme: str | None = None) -> api.NextSessionResult:
        return self.call(api.NEXT_SESSION, api.NextSessionParams(patient, protocol, exercise, programme))

    def start_session(self) -> api.Starting:
        return self.call(api.START)

    def pause_session(self) -> api.PauseState:
        return self.call(api.PAUSE)

    def resume_session(self) -> api.PauseState:
        return self.call(api.RESUME)

    def stop_session(self) -> api.Stopping:
        return self.call(api.STOP)

    def notifications(self, timeout: float | None = None) -> Iterator[Notification]:
        """Yield notifications as they come; ends when none came within `timeout` (None: the
        client's timeout) or the daemon went away (NotRunning)."""
        wait = self.timeout if timeout is None else timeout
        while True:
            if self._pending:
                message = self._pending.popleft()
            else:
                if self._sock is None:
                    raise NotRunning("the coach went away (restarting?)", exit_code=3)
                try:
                    message = self._receive(time.monotonic() + wait)
                except TimeoutError:
                    return
            if isinstance(message, Notification):   # not a late reply to a request that timed out
                yield message

    # -- bytes: one JSON object per line -----------------------------------------------------
    def _send(self, frame: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            self.close()
            raise NotRunning(f"the coach went away ({os.strerror(exc.errno or errno.EPIPE)})", exit_code=3) from None

    def _receive(self, deadline: float) -> Reply | Notification:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                message = self.core.parse(line)
                if message is not None:
                    return message
                continue
            if self._sock is None:
                raise NotRunning("the coach went away (restarting?)", exit_code=3)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the coach")
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no answer from the coach") from None
            except OSError:
                data = b""
            if not data:
                self.close()
                raise NotRunning("the coach went away (restarting?)", exit_code=3)
            self._buffer += data


__all__ = ["DaemonClient", "DaemonError", "ErrorCode", "NotRunning", "socket_answers"]
