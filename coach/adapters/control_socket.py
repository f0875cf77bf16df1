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

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024        # a request longer than this is not one of ours: the client is dropped
MAX_BUFFER = 4 * 1024 * 1024  # bytes waiting for one client before it counts as not reading
STALL_S = 10.0               # a client that takes none of its waiting bytes for this long is dropped


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


def encode(message: dict) -> bytes:
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


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
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._listener: socket.socket | None = None
        self._clients: dict[int, _Client] = {}
        self._selector: selectors.BaseSelector | None = None
        self._numbers = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # read by the main loop without a lock: plain ints written by this thread alone
        self.subscribers = 0
        self.dropped = 0
        self.served = 0

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind (a stale socket file of a dead daemon is replaced; a live one is not) and serve."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_socket():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
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
        listener.bind(str(self.path))
        os.chmod(self.path, self.mode)   # the service's group (the console) may connect; nobody else
        listener.listen(32)
        listener.setblocking(False)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._listener is not None:
            try:
                if stat.S_ISSOCK(os.stat(self.path).st_mode):
                    self.path.unlink()
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the main loop's side (never blocks) ------------------------------------------------
    def requests(self) -> list[Request]:
        taken = []
        while True:
            try:
                taken.append(self._requests.get_nowait())
            except queue.Empty:
                return taken

    def reply(self, client: int, message: dict) -> None:
        self._out.put(("to", client, encode(message)))
        self._wake()

    def subscribe(self, client: int, first: dict) -> None:
        """Send `first` (the state and the session so far), then every later publish: in that
        order, since both go through the same queue."""
        self._out.put(("subscribe", client, encode(first)))
        self._wake()

    def publish(self, message: dict) -> None:
        if self.subscribers:
            self._out.put(("all", None, encode(message)))
            self._wake()

    def status(self) -> dict:
        return {"path": str(self.path), "clients": len(self._clients), "subscribers": self.subscribers,
                "dropped": self.dropped}

    def _wake(self) -> None:
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
                        if events & selectors.EVENT_READ:
                            self._read(client)
                        if events & selectors.EVENT_WRITE and client.number in self._clients:
                            self._write(client)
                self._take_outgoing()
                self._check_stalls()
                for client in list(self._clients.values()):
                    want = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbox else 0)
                    try:
                        if selector.get_key(client.sock).events != want:
                            selector.modify(client.sock, want, client.number)
                    except (KeyError, ValueError):
                        pass
        finally:
            for client in list(self._clients.values()):
                self._drop(client, None)
            if self._listener is not None:
                self._listener.close()
            selector.close()

    def _accept(self, selector) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:   # EMFILE and the like: keep serving who is there
                log.warning("control socket: cannot accept a client: %s", exc.strerror)
                return
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
        except (UnicodeDecodeError, ValueError) as exc:
            self._refuse(client, None, "bad_frame", f"not a JSON object: {exc}")
            return
        if not isinstance(message, dict):
            self._refuse(client, None, "bad_frame", "a request is a JSON object")
            return
        request_id = message.get("id")
        method = message.get("method")
        params = message.get("params", {})
        if not isinstance(method, str) or not method:
            self._refuse(client, request_id, "bad_request", "'method' is missing or not a string")
        elif not isinstance(params, dict):
            self._refuse(client, request_id, "bad_request", "'params' must be a JSON object")
        else:
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
                continue   # it left meanwhile
            self._queue(client, data)
            if kind == "subscribe" and not client.subscribed:
                client.subscribed = True
                self.subscribers += 1

    def _queue(self, client: _Client, data: bytes) -> None:
        if client.number not in self._clients:
            return
        if client.waiting + len(data) > self.max_buffer:
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

    def _drop(self, client: _Client, why: str | None) -> None:
        if self._clients.pop(client.number, None) is None:
            return
        if client.subscribed:
            self.subscribers -= 1
        if why is not None:
            self.dropped += 1
            log.warning("control socket: dropped a client that does not read (%s)", why)
        if self._selector is not None:
            try:
                self._selector.unregister(client.sock)
            except (KeyError, ValueError):
                pass
        client.sock.close()
