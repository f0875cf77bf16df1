"""The daemon's control socket: the socket I/O of the console's API, on a thread of its own.

The rule is Klipper's (klippy/reactor.py, serialhdl.py): a background thread never touches the
session. This thread only
- accepts clients on a Unix stream socket,
- splits what they send into frames (one JSON object per line) and hands each request to the
  main loop through a queue (`requests()`, drained by the daemon's heartbeat),
- and writes out what the main loop gives it (`reply`, `publish`) from per-client buffers.

The main loop never waits for a client: `reply` and `publish` only append to a queue and wake
this thread through a self-pipe. A client that does not read what it asked for (its buffer
passes `max_buffer` bytes, or nothing of it could be written for `stall_s`) is dropped, as
Klipper's ServerSocket drops an unresponsive client, so a frozen browser tab or a dead console
never stalls the coaching. Framing, and the request's outer shape, are checked here; what a
request asks is the daemon's to judge (coach/app/control.py).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import selectors
import socket
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from coach.api.status import SocketStatus
from coach.api.wire import encode

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024        # a request longer than this is not one of ours: the client is dropped
MAX_BUFFER = 4 * 1024 * 1024  # bytes waiting for one client before it counts as not reading
STALL_S = 10.0               # a client that takes none of its waiting bytes for this long is dropped
MAX_CLIENTS = 32             # a box has a console and a shell or two: more is a leak or an attack
MAX_PENDING = 16             # unanswered requests of one client: it is not read further until answered
IDLE_S = 600.0               # a client that neither asks nor subscribes for this long is dropped
MAX_ID_CHARS = 64            # a request id is a short string, a number, or null


@dataclass(frozen=True)
class Request:
    """One request of one client, as the main loop gets it."""

    client: int
    id: object            # the client's own id, echoed in the reply (any JSON value, or None)
    method: str
    params: dict


@dataclass
class _Client:
    sock: socket.socket
    number: int
    inbox: bytearray = field(default_factory=bytearray)
    outbox: deque = field(default_factory=deque)
    waiting: int = 0              # bytes in outbox
    stalled_since: float | None = None
    subscribed: bool = False
    closing: bool = False         # write what is queued, then close (a framing error)
    pending: int = 0              # its requests not answered yet
    last_seen: float = field(default_factory=time.monotonic)


class SocketInUse(OSError):
    """Another live daemon answers on this path."""


class ControlServer:
    def __init__(self, path: str | Path, mode: int = 0o660, max_buffer: int = MAX_BUFFER,
                 stall_s: float = STALL_S):
        self.path = Path(path)
        self.mode = mode
        self.max_buffer = max_buffer
        self.stall_s = stall_s
        self._requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._out: queue.SimpleQueue[tuple[str, int | None, bytes]] = queue.SimpleQueue()
        self._wake_r = self._wake_w = -1
        self._listener: socket.socket | None = None
        self._inode: int | None = None   # our socket file: never unlink another daemon's
        self._clients: dict[int, _Client] = {}
        self._selector: selectors.BaseSelector | None = None
        self._numbers = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # read by the main loop without a lock: plain ints, each written by one thread alone
        self.subscribers = 0          # this thread's count (for status)
        self.dropped = 0
        self.served = 0
        self._subscribed_calls = 0    # the main loop's: subscribe() calls
        self._subscribers_gone = 0    # this thread's: subscribers that left or were dropped

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind (a stale socket file of a dead daemon is replaced; a live one is not) and serve."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_socket():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(1.0)
            try:
                probe.connect(str(self.path))
                raise SocketInUse(errno.EADDRINUSE, f"another coach answers on {self.path}")
            except (ConnectionRefusedError, FileNotFoundError):
                self.path.unlink(missing_ok=True)   # left behind by a daemon that died
            finally:
                probe.close()
        elif self.path.exists():
            raise OSError(errno.EEXIST, f"{self.path} exists and is not a socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            self._inode = os.stat(self.path).st_ino
            os.chmod(self.path, self.mode)   # the service's group (the console) may connect; nobody else
            listener.listen(32)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._stop.is_set():
            return   # closed already
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._listener is not None:
            try:
                info = os.stat(self.path)
                if stat.S_ISSOCK(info.st_mode) and info.st_ino == self._inode:
                    self.path.unlink()   # ours: a newer daemon's socket at the same path stays
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = -1

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the main loop's side (never blocks) ------------------------------------------------
    def requests(self, most: int = 50) -> list[Request]:
        """Up to `most` requests (a flood waits for the next turns), of clients still there."""
        taken = []
        while len(taken) < most:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                break
            if request.client in self._clients:
                taken.append(request)
        return taken

    def reply(self, client: int, message: dict) -> None:
        self._out.put(("to", client, encode(message)))
        self._wake()

    def subscribe(self, client: int, first: dict) -> None:
        """Send `first` (the state and the session so far), then every later publish: in that
        order, since both go through the same queue. Counted here, on the main loop's side, so
        a publish right after it is never skipped as "nobody listens"."""
        self._subscribed_calls += 1
        self._out.put(("subscribe", client, encode(first)))
        self._wake()

    @property
    def has_subscribers(self) -> bool:
        return self._subscribed_calls > self._subscribers_gone

    def publish(self, message: dict) -> None:
        if self.has_subscribers:
            self._out.put(("all", None, encode(message)))
            self._wake()

    def status(self) -> SocketStatus:
        return SocketStatus(str(self.path), len(self._clients), self.subscribers, self.dropped)

    def _wake(self) -> None:
        if self._wake_w < 0:
            return
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass   # already awake (the pipe is full), or closing

    # -- the thread -------------------------------------------------------------------------
    def _serve(self) -> None:
        self._selector = selector = selectors.DefaultSelector()
        assert self._listener is not None
        selector.register(self._listener, selectors.EVENT_READ, "listen")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop.is_set():
                for key, events in selector.select(timeout=1.0):
                    if key.data == "listen":
                        self._accept(selector)
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        client = self._clients.get(key.data)
                        if client is None:
                            continue
                        try:
                            if events & selectors.EVENT_READ:
                                self._read(client)
                            if events & selectors.EVENT_WRITE and client.number in self._clients:
                                self._write(client)
                        except Exception:   # one client's mischief never ends the socket for all
                            log.exception("control socket: dropped a client after an error")
                            self._drop(client, None)
                self._take_outgoing()
                self._check_stalls()
                for client in list(self._clients.values()):
                    # a client with many requests unanswered is not read further until answered
                    reading = selectors.EVENT_READ if client.pending < MAX_PENDING else 0
                    self._watch(client, reading | (selectors.EVENT_WRITE if client.outbox else 0))
        finally:
            for client in list(self._clients.values()):
                self._drop(client, None)
            if self._listener is not None:
                self._listener.close()
            selector.close()

    def _watch(self, client: _Client, events: int) -> None:
        """Register the events this client's socket is watched for (none: not watched)."""
        assert self._selector is not None
        try:
            current = self._selector.get_key(client.sock).events
        except KeyError:
            current = 0
        if events == current:
            return
        if current and events:
            self._selector.modify(client.sock, events, client.number)
        elif events:
            self._selector.register(client.sock, events, client.number)
        else:
            self._selector.unregister(client.sock)

    def _accept(self, selector) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:   # EMFILE and the like: keep serving who is there
                log.warning("control socket: cannot accept a client: %s", exc.strerror)
                self._stop.wait(1.0)   # not a warning a thousand times a second
                return
            if len(self._clients) >= MAX_CLIENTS:
                sock.close()
                log.warning("control socket: refused a client: %d are connected already", MAX_CLIENTS)
                continue
            sock.setblocking(False)
            self._numbers += 1
            client = _Client(sock, self._numbers)
            self._clients[client.number] = client
            self.served += 1
            selector.register(sock, selectors.EVENT_READ, client.number)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client, None)   # gone (a frame cut off with it is simply lost)
            return
        if client.closing:
            return
        client.last_seen = time.monotonic()
        client.inbox += data
        while True:
            end = client.inbox.find(b"\n")
            if end < 0:
                if len(client.inbox) > MAX_FRAME:
                    client.closing = True   # after this answer: the rest of its stream is no frame
                    client.inbox.clear()
                    self._refuse(client, None, "frame_too_long",
                                 f"a request is one JSON object on one line, at most {MAX_FRAME} bytes")
                return
            frame = bytes(client.inbox[:end]).strip()
            del client.inbox[:end + 1]
            if frame:
                self._frame(client, frame)

    def _frame(self, client: _Client, frame: bytes) -> None:
        try:
            message = json.loads(frame.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self._refuse(client, None, "bad_frame", f"not a JSON object: {str(exc)[:200]}")
            return
        if not isinstance(message, dict):
            self._refuse(client, None, "bad_frame", "a request is a JSON object")
            return
        request_id = message.get("id")
        method = message.get("method")
        params = message.get("params", {})
        if not (request_id is None or isinstance(request_id, (int, float)) and not isinstance(request_id, bool)
                or isinstance(request_id, str) and len(request_id) <= MAX_ID_CHARS):
            self._refuse(client, None, "bad_request", f"'id' must be a number, null or a string of at most "
                                                      f"{MAX_ID_CHARS} characters")
        elif not isinstance(method, str) or not method:
            self._refuse(client, request_id, "bad_request", "'method' is missing or not a string")
        elif not isinstance(params, dict):
            self._refuse(client, request_id, "bad_request", "'params' must be a JSON object")
        else:
            client.pending += 1
            self._requests.put(Request(client.number, request_id, method, params))

    def _refuse(self, client: _Client, request_id, code: str, message: str) -> None:
        self._queue(client, encode({"id": request_id, "error": {"code": code, "message": message}}))

    def _take_outgoing(self) -> None:
        while True:
            try:
                kind, number, data = self._out.get_nowait()
            except queue.Empty:
                return
            if kind == "all":
                for client in list(self._clients.values()):
                    if client.subscribed:
                        self._queue(client, data)
                continue
            client = self._clients.get(number)   # type: ignore[arg-type]
            if client is None:
                if kind == "subscribe":
                    self._subscribers_gone += 1   # it left before its subscription was served
                continue
            client.pending = max(0, client.pending - 1)
            if kind == "subscribe" and not client.subscribed:
                client.subscribed = True
                self.subscribers += 1
            self._queue(client, data, first=kind == "subscribe")

    def _queue(self, client: _Client, data: bytes, first: bool = False) -> None:
        """`first`: the session so far, which may be larger than the buffer on its own."""
        if client.number not in self._clients:
            return
        if client.waiting + len(data) > self.max_buffer and not (first and client.waiting == 0):
            self._drop(client, f"it has not read {client.waiting} bytes")
            return
        client.outbox.append(data)
        client.waiting += len(data)
        if client.stalled_since is None:
            client.stalled_since = time.monotonic()
        self._write(client)

    def _write(self, client: _Client) -> None:
        while client.outbox:
            head = client.outbox[0]
            try:
                sent = client.sock.send(head)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(client, None)   # it hung up
                return
            client.stalled_since = time.monotonic()   # it takes what we send: not stalled
            client.waiting -= sent
            if sent < len(head):
                client.outbox[0] = head[sent:]
                return
            client.outbox.popleft()
        client.stalled_since = None
        if client.closing:
            self._drop(client, None)

    def _check_stalls(self) -> None:
        now = time.monotonic()
        for client in list(self._clients.values()):
            if client.stalled_since is not None and now - client.stalled_since > self.stall_s:
                self._drop(client, f"it took nothing of {client.waiting} bytes in {self.stall_s:g} s")
            elif not client.subscribed and not client.pending and now - client.last_seen > IDLE_S:
                self._drop(client, None)   # connected and silent: a leak, not a client

    def _drop(self, client: _Client, why: str | None) -> None:
        if self._clients.pop(client.number, None) is None:
            return
        if client.subscribed:
            self.subscribers -= 1
            self._subscribers_gone += 1
        if why is not None:
            self.dropped += 1
            log.warning("control socket: dropped a client that does not read (%s)", why)
        if self._selector is not None:
            try:
                self._selector.unregister(client.sock)
            except (KeyError, ValueError):
                pass
        client.sock.close()
