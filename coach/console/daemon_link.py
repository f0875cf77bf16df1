"""The console's one connection to the daemon's control socket (docs/api.md), asyncio side.

It moves the bytes of the one client core (coach/api/client.py): typed calls by the methods'
descriptors, typed results, ApiError with the field when refused. One subscription whatever the
number of viewers (so 20 phones watching cost the daemon what one does), and reconnects: a daemon
that restarts shows as "restarting" and is found again by itself, as Moonraker finds klippy again.

The session so far is the daemon's alone: a viewer that joins asks the daemon for a snapshot
(`snapshot`) and then gets the notifications numbered after it, so a console that connected
mid-session shows exactly what one connected from the start shows. This link keeps only the
latest status, for the pages that read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coach.api import methods as api
from coach.api.client import ClientCore, Notification, Reply, refused_hello
from coach.api.status import Status
from coach.api.wire import ApiError, ErrorCode, to_wire

log = logging.getLogger("rugcoach.console")

RETRY_S = (0.2, 0.5, 1.0, 2.0)   # waits between reconnects: quick at first (a restart is short)
CALL_TIMEOUT_S = 10.0            # a method's answer, unless the method says it takes longer
VIEWER_QUEUE = 256               # messages waiting for one viewer; a viewer this far behind is dropped


class DaemonUnavailable(Exception):
    """The daemon does not answer now (not running, or restarting)."""


# The daemon refused a request: an ApiError (`code`, `message`, `field`).
DaemonRefused = ApiError


class DaemonLink:
    def __init__(self, path: Path):
        self.path = path
        self.state = "connecting"       # connecting | up | restarting
        self.status: Status | None = None
        self.core = ClientCore()
        self._writer: asyncio.StreamWriter | None = None
        self._replies: dict[int, tuple[api.Method, asyncio.Future]] = {}
        self._viewers: set[asyncio.Queue] = set()
        self._joining: dict[asyncio.Queue, list[tuple[int, str]]] = {}
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
                try:
                    self.core.check_welcome(await self.call(api.HELLO, self.core.hello("console")))
                except ApiError as exc:
                    log.error("the daemon's socket: %s", refused_hello(exc))
                    raise
                first: api.Snapshot = await self.call(api.SUBSCRIBE)
                self.status = first.status
                self._set_state("up")
                self._broadcast(self._snapshot_message(first), seq=None)
                await reading
            except (DaemonUnavailable, ApiError, OSError) as exc:
                log.info("the daemon's socket: %s", exc)
            except Exception:   # an odd frame must not end the reconnects for good
                log.exception("the daemon's socket: unexpected; connecting again")
            finally:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading
                self._writer = None
                writer.close()
                for _method, future in self._replies.values():
                    if not future.done():
                        future.set_exception(DaemonUnavailable("the box is restarting"))
                self._replies.clear()
            self._set_state("restarting")
            await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            log.info("the daemon's socket is %s", state)
            self._broadcast({"topic": "link", "state": state}, seq=None)
            self.on_state(state)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            message = self.core.parse(line)
            if isinstance(message, Notification):
                self._notified(message)
            elif isinstance(message, Reply):
                method, future = self._replies.pop(message.id, (None, None))  # type: ignore[arg-type]
                if method is None or future is None or future.done():
                    continue
                try:
                    future.set_result(self.core.result(method, message))
                except ApiError as exc:
                    future.set_exception(exc)

    # -- calls -----------------------------------------------------------------------------
    async def call(self, method: api.Method, params: Any = None) -> Any:
        """`method`'s typed result; ApiError when refused, DaemonUnavailable when nobody answers
        within the method's time."""
        writer = self._writer
        if writer is None:
            raise DaemonUnavailable("the box is restarting")
        request_id, frame = self.core.request(method, params if params is not None else method.params())
        future = asyncio.get_running_loop().create_future()
        self._replies[request_id] = (method, future)
        writer.write(frame)
        try:
            await writer.drain()
            return await asyncio.wait_for(future, method.timeout_s or CALL_TIMEOUT_S)
        except (TimeoutError, OSError):
            self._replies.pop(request_id, None)
            raise DaemonUnavailable("the box does not answer") from None

    # -- the subscription, and the viewers ---------------------------------------------------
    def _snapshot_message(self, snapshot: api.Snapshot | None) -> dict:
        if snapshot is None:   # the daemon is away: nothing of a session to show
            return {"topic": "snapshot", "link": self.state, "status": None,
                    "session": {"number": None, "events": [], "samples": []}}
        return {"topic": "snapshot", "link": self.state, "status": to_wire(snapshot.status),
                "session": to_wire(snapshot.session)}

    def _notified(self, note: Notification) -> None:
        if note.method == api.NOTIFY_SAMPLES:
            self._broadcast({"topic": "samples", "samples": to_wire(note.params.samples)}, note.seq)
        elif note.method == api.NOTIFY_EVENT:
            self._broadcast({"topic": "event", "event": note.params}, note.seq)
        elif note.method == api.NOTIFY_STATUS:
            self.status = note.params
            self._broadcast({"topic": "status", "status": to_wire(note.params)}, note.seq)

    async def watch(self) -> asyncio.Queue:
        """A new viewer: its queue starts with the state now and the session so far, as the
        daemon has them, then every notification after that snapshot (none twice, none lost)."""
        queue: asyncio.Queue = asyncio.Queue(VIEWER_QUEUE)
        waiting: list[tuple[int, str]] = []
        self._joining[queue] = waiting   # what comes while the snapshot is on its way
        snapshot = None
        try:
            if self.state == "up":
                with contextlib.suppress(DaemonUnavailable, ApiError):
                    snapshot = await self.call(api.SNAPSHOT)
        finally:
            del self._joining[queue]
        queue.put_nowait(json.dumps(self._snapshot_message(snapshot)))
        after = snapshot.seq if snapshot is not None else -1
        for seq, text in waiting:
            if seq < 0 or seq > after:
                queue.put_nowait(text)
        self._viewers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue) -> None:
        self._viewers.discard(queue)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def _broadcast(self, message: dict, seq: int | None) -> None:
        if not self._viewers and not self._joining:
            return
        text = json.dumps(message)     # once, whatever the number of viewers
        for waiting in self._joining.values():
            if len(waiting) < VIEWER_QUEUE:
                waiting.append((-1 if seq is None else seq, text))
        for queue in list(self._viewers):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:   # a viewer that does not keep up: it reconnects and starts over
                self._viewers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)


__all__ = ["DaemonLink", "DaemonRefused", "DaemonUnavailable", "ErrorCode"]
