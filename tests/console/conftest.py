"""The console under test: the real HTTPS server (the very app `rugcoach console` serves, with a
certificate made by the same code), on its own thread and event loop, on a clock the test
moves. And a small HTTPS client that keeps cookies as a browser does (coach/sim/console_client.py)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from coach.console import certificate
from coach.console.serve import console_dir, open_console, serve
from coach.sim.console_client import ConsoleClient
from tests.patience import patience


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ConsoleUnderTest:
    def __init__(self, state: Path, socket_path: Path, clock=None, open_data=None):
        self.state = state
        self.cert, self.key = certificate.ensure(console_dir(state))
        self.console = open_console(state, socket_path, **({"open_data": open_data} if open_data else {}))
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
class Client(ConsoleClient):
    """The console's client, with the tests' patience (stretched on a slow machine)."""

    timeout: float = field(default_factory=lambda: patience(120))


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
