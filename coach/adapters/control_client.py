"""A client of the daemon's control socket (docs/api.md): typed calls, so no caller builds raw
requests (as Moonraker's KlippyAPI does for klippy). `rugcoach status` uses it, and the console
will. One request at a time; notifications that arrive meanwhile are kept for `notifications()`."""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections import deque
from pathlib import Path

from coach.errors import UserError


class DaemonError(UserError):
    """The daemon refused a request; `code` says why in a word (docs/api.md)."""

    def __init__(self, code: str, message: str):
        super().__init__(message, exit_code=1)
        self.code = code


class NotRunning(UserError):
    """No daemon answers on the socket (not running, restarting, or no permission)."""


class DaemonClient:
    def __init__(self, path: str | Path, timeout: float = 5.0):
        self.path = Path(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._pending: deque[dict] = deque()
        self._ids = 0

    # -- the connection ----------------------------------------------------------------------
    def connect(self) -> DaemonClient:
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
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> DaemonClient:
        return self.connect() if self._sock is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------
    def call(self, method: str, **params) -> dict:
        """Send one request and wait for its reply; notifications meanwhile are kept."""
        self._ids += 1
        request_id = self._ids
        self._send({"id": request_id, "method": method, "params": params})
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise NotRunning(f"the coach did not answer within {self.timeout:g} s", exit_code=3) from None
            if message.get("id") == request_id and ("result" in message or "error" in message):
                if "error" in message:
                    raise DaemonError(message["error"].get("code", "error"), message["error"].get("message", ""))
                return message["result"]
            if "error" in message and message.get("id") is None:
                raise DaemonError(message["error"].get("code", "error"), message["error"].get("message", ""))
            self._pending.append(message)

    def status(self) -> dict:
        return self.call("status")

    def subscribe(self) -> dict:
        """From now on the daemon sends events, samples and status changes; returns the state
        and the session so far."""
        return self.call("subscribe")

    def next_session(self, patient: str | None = None, protocol: str | None = None,
                     exercise: str | None = None, programme: str | None = None) -> dict:
        """`programme`: a patient's own, as the text of a protocol document (docs/api.md)."""
        params = {key: value for key, value in (("patient", patient), ("protocol", protocol),
                                                ("exercise", exercise), ("programme", programme))
                  if value is not None}
        return self.call("next_session", **params)

    def start_session(self) -> dict:
        return self.call("start")

    def pause_session(self) -> dict:
        return self.call("pause")

    def resume_session(self) -> dict:
        return self.call("resume")

    def stop_session(self) -> dict:
        return self.call("stop")

    def notifications(self, timeout: float | None = None):
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
            if "method" in message:   # not a late reply to a request that timed out
                yield message

    # -- framing: one JSON object per line -------------------------------------------------
    def _send(self, message: dict) -> None:
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode()
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise NotRunning(f"the coach went away ({os.strerror(exc.errno or errno.EPIPE)})", exit_code=3) from None

    def _receive(self, deadline: float) -> dict:
        assert self._sock is not None
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return json.loads(line)
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
