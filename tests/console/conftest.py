"""The console under test: the real HTTPS server (the very app `rugcoach console` serves, with a
certificate made by the same code), on its own thread and event loop, on a clock the test
moves. And a small HTTPS client that keeps cookies as a browser does."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from coach.console import certificate
from coach.console.serve import console_dir, open_console, serve
from tests.patience import patience


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ConsoleUnderTest:
    def __init__(self, state: Path, socket_path: Path, clock=None):
        self.state = state
        self.cert, self.key = certificate.ensure(console_dir(state))
        self.console = open_console(state, socket_path)
        if clock is not None:
            self.console.clock = clock
            self.console.sessions.clock = clock
            self.console.throttle.clock = clock
            self.console.wall = clock   # one-time codes: the test's time of day
        self.port = 0
        self.http_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)

    def _run(self) -> None:
        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(addresses):
                self.port = addresses[0][1]
                self.http_port = addresses[1][1] if len(addresses) > 1 else 0
                self._ready.set()
            await serve(self.console, "127.0.0.1", 0, None, self.cert, self.key, ready, self._stop)
        asyncio.run(main())

    def start(self) -> ConsoleUnderTest:
        self._thread.start()
        assert self._ready.wait(patience(30)), "the console did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=patience(10))

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def client(self, source: str = "127.0.0.1") -> Client:
        """A browser; `source` another loopback address to be another machine on the LAN."""
        return Client(self, source=source)


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Client:
    """HTTPS with the box's certificate checked (as a therapist's browser does after the
    fingerprint check), and cookies kept like a browser's."""

    server: ConsoleUnderTest
    cookies: dict = field(default_factory=dict)
    csrf: str = ""
    source: str = "127.0.0.1"

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                csrf: bool = True, raw: bytes | None = None) -> Reply:
        context = ssl.create_default_context(cafile=str(self.server.cert))
        # the timeout only stops a hung test: a take's processing (a process that imports PyAV
        # and numpy) took over 30 s on one core shared with two other test workers
        connection = http.client.HTTPSConnection("localhost", self.server.port, context=context, timeout=patience(120),
                                                 source_address=(self.source, 0))
        sent = {"Host": f"localhost:{self.server.port}"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if csrf and self.csrf and method != "GET":
            sent["X-CSRF-Token"] = self.csrf
        sent.update(headers or {})
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";")[0]
                key, _, val = cookie.partition("=")
                if "max-age=0" in value.lower() or val in ("", '""'):
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        connection.close()
        return reply

    def post_form(self, path: str, fields: list[tuple[str, bytes, str | None]]) -> Reply:
        """A multipart form, as a browser sends one with a file: (name, value, filename or None)."""
        boundary = "rugcoach-test-boundary"
        body = b""
        for name, value, filename in fields:
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        kind = f"multipart/form-data; boundary={boundary}"
        return self.request("POST", path, raw=body, headers={"Content-Type": kind})

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def before_login(self) -> Client:
        self.csrf = self.get("/api/csrf").json["csrf"]
        return self

    def login(self, name: str, password: str, code: str | None = None) -> Reply:
        self.before_login()
        reply = self.post("/api/login", {"name": name, "password": password, **({"code": code} if code else {})})
        if reply.status == 200:
            self.csrf = self.get("/api/me").json["csrf"]
        return reply


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def console_server(tmp_path, clock):
    server = ConsoleUnderTest(tmp_path / "state", tmp_path / "no-daemon.sock", clock).start()
    try:
        yield server
    finally:
        server.stop()


ADMIN = ("anna", "een-lang-wachtwoord")


@pytest.fixture
def claimed(console_server):
    """A box with its first admin (made with the setup code), and that admin's client."""
    client = console_server.client().before_login()
    code = console_server.console.setup_code.get()
    reply = client.post("/api/setup", {"code": code, "name": ADMIN[0], "password": ADMIN[1]})
    assert reply.status == 200, reply.body
    client.csrf = client.get("/api/me").json["csrf"]
    return console_server, client
