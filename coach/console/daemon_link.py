"""The console's one connection to the daemon's control socket (docs/api.md), asyncio side.

Typed calls (no page builds a raw request), one subscription whatever the number of viewers (so
20 phones watching cost the daemon what one does), the session so far kept here for viewers that
join late, and reconnects: a daemon that restarts shows as "restarting" and is found again by
itself, as Moonraker finds klippy again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("rugcoach.console")

RETRY_S = (0.2, 0.5, 1.0, 2.0)   # waits between reconnects: quick at first (a restart is short)
CALL_TIMEOUT_S = 10.0
SAMPLE_STEP_S = 0.1              # the session so far keeps one sample per 0.1 s, as the daemon's
VIEWER_QUEUE = 256               # messages waiting for one viewer; a viewer this far behind is dropped


class DaemonUnavailable(Exception):
    """The daemon does not answer now (not running, or restarting)."""


class DaemonRefused(Exception):
    """The daemon refused a request: `code` as in docs/api.md, `message` one line (English)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class DaemonLink:
    def __init__(self, path: Path):
        self.path = path
        self.state = "connecting"       # connecting | up | restarting
        self.status: dict | None = None
        self.session: dict = {"number": None, "events": [], "samples": []}
        self._writer: asyncio.StreamWriter | None = None
        self._replies: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._viewers: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self.on_state: Callable[[str], None] = lambda state: None

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep_connected())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()

    async def _keep_connected(self) -> None:
        for attempt in itertools.count():
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.path), limit=8 * 1024 * 1024)
            except OSError:
                if self.state == "up":
                    self._set_state("restarting")
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                continue
            self._writer = writer
            reading = asyncio.get_running_loop().create_task(self._read(reader))
            try:
                first = await self.call("subscribe")
                self._take_snapshot(first)
                self._set_state("up")
                await reading
            except (DaemonUnavailable, DaemonRefused, OSError) as exc:
                log.info("the daemon's socket: %s", exc)
            except Exception:   # an odd frame must not end the reconnects for good
                log.exception("the daemon's socket: unexpected; connecting again")
            finally:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading
                self._writer = None
                writer.close()
                for future in self._replies.values():
                    if not future.done():
                        future.set_exception(DaemonUnavailable("the box is restarting"))
                self._replies.clear()
            self._set_state("restarting")
            await asyncio.sleep(RETRY_S[0])

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            log.info("the daemon's socket is %s", state)
            self._broadcast({"topic": "link", "state": state})
            self.on_state(state)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "method" in message:
                self._notified(message["method"], message.get("params") or {})
                continue
            future = self._replies.pop(message.get("id"), None)
            if future is not None and not future.done():
                if "error" in message:
                    error = message["error"] or {}
                    future.set_exception(DaemonRefused(error.get("code", "error"), error.get("message", "")))
                else:
                    future.set_result(message.get("result"))

    # -- calls -----------------------------------------------------------------------------
    async def call(self, method: str, **params) -> dict:
        return await self.call_within(CALL_TIMEOUT_S, method, **params)

    async def call_within(self, timeout: float, method: str, **params) -> dict:
        writer = self._writer
        if writer is None:
            raise DaemonUnavailable("the box is restarting")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        writer.write((json.dumps({"id": request_id, "method": method, "params": params}) + "\n").encode())
        try:
            await writer.drain()
            return await asyncio.wait_for(future, timeout)
        except (OSError, asyncio.TimeoutError):
            self._replies.pop(request_id, None)
            raise DaemonUnavailable("the box does not answer") from None

    async def next_session(self, patient: str | None, protocol: str | None, programme: str | None = None) -> dict:
        params = {k: v for k, v in (("patient", patient), ("protocol", protocol), ("programme", programme)) if v}
        return await self.call("next_session", **params)

    async def start_session(self) -> dict:
        return await self.call("start")

    async def pause_session(self) -> dict:
        return await self.call("pause")

    async def resume_session(self) -> dict:
        return await self.call("resume")

    async def stop_session(self) -> dict:
        return await self.call("stop")

    async def forget(self, patient: str, account: str, address: str | None) -> dict:
        # the daemon vacuums both files afterwards: years of traces take a while on an SD card
        return await self.call_within(120.0, "forget", patient=patient, account=account,
                                      **({"address": address} if address else {}))

    async def restore(self, path: str) -> dict:
        # the daemon copies the backup beside the records and checks it again: an SD card is slow
        return await self.call_within(600.0, "restore", path=path)

    async def announce_setup_code(self, code: str) -> dict:
        return await self.call("announce_code", code=code)

    # -- the subscription, and the viewers ---------------------------------------------------
    def _take_snapshot(self, first: dict) -> None:
        self.status = first.get("status")
        session = first.get("session") or {}
        self.session = {"number": session.get("number"), "events": list(session.get("events") or []),
                        "samples": list(session.get("samples") or [])}
        self._broadcast(self.snapshot())

    def snapshot(self) -> dict:
        return {"topic": "snapshot", "link": self.state, "status": self.status, "session": self.session}

    def _notified(self, method: str, params: dict) -> None:
        if method == "samples":
            samples = params.get("samples") or []
            kept = self.session["samples"]
            for sample in samples:
                if not kept or sample[0] - kept[-1][0] >= SAMPLE_STEP_S - 1e-9:
                    kept.append(sample)
            self._broadcast({"topic": "samples", "samples": samples})
        elif method == "event":
            if params.get("type") == "daemon" and params.get("state") in ("session_started", "calibration_started"):
                self.session = {"number": params.get("session"), "events": [], "samples": []}
            self.session["events"].append(params)
            self._broadcast({"topic": "event", "event": params})
        elif method == "status":
            self.status = params
            self._broadcast({"topic": "status", "status": params})

    def watch(self) -> asyncio.Queue:
        """A new viewer: its queue starts with the state now and the session so far."""
        queue: asyncio.Queue = asyncio.Queue(VIEWER_QUEUE)
        queue.put_nowait(json.dumps(self.snapshot()))
        self._viewers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue) -> None:
        self._viewers.discard(queue)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def _broadcast(self, message: dict) -> None:
        if not self._viewers:
            return
        text = json.dumps(message)     # once, whatever the number of viewers
        for queue in list(self._viewers):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:   # a viewer that does not keep up: it reconnects and starts over
                self._viewers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)   # the end of this viewer's stream
