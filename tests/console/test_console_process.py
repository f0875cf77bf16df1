"""The console is a client that can die: `kill -9` of the console in the middle of a session
harms nothing, a daemon restart shows as "restarting" and is found again, and plain HTTP only
redirects. The console runs as `rugcoach console`, the daemon as `rugcoach run`, each its own
process as under systemd."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from coach.adapters.store import Store
from coach.sim.patient import SimulatedPatient
from coach.sim.pty_sensor import PtySensor
from tests.conftest import ROOT, RUGCOACH
from tests.console.conftest import Client, ConsoleUnderTest
from tests.patience import patience

pytestmark = pytest.mark.slow

PROTOCOL = ROOT / "tests" / "data" / "e2e.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, tmp_path, library, socket_path, pumps: bool = True):
        self.state = tmp_path / "state"
        session = library.session(protocol=str(PROTOCOL))
        self.patient = SimulatedPatient(session, seed=11, starts_pumping_at=1.0 if pumps else None)
        self.link = tmp_path / "pbu"
        self.sensor = PtySensor(self.patient, rate_hz=50, link=self.link, speed=2.0)
        self.sensor.plug()
        self.socket = socket_path
        self.events: list[dict] = []
        self.started = threading.Event()
        self.first_rep = threading.Event()
        self.process = None
        self.sensor.start()

    def start(self, once: bool = True) -> None:
        self.process = subprocess.Popen(
            RUGCOACH + ["run", "--port", str(self.link), "--protocol", str(PROTOCOL), "--audio", "none",
                        "--events", "-", "--clock-events", "0.25", "--socket", str(self.socket)]
            + (["--once"] if once else []),
            cwd=ROOT, env=dict(os.environ, STATE_DIRECTORY=str(self.state)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._listen, args=(self.process,), daemon=True).start()

    def _listen(self, process) -> None:
        for line in process.stdout:
            event = json.loads(line)
            self.sensor.hear(event)
            if event["type"] == "clock":
                continue
            self.events.append(event)
            if event["type"] == "daemon" and event["state"] == "armed":
                self.started.set()
            if event["type"] == "rep":
                self.first_rep.set()

    def stop(self) -> str:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=patience(20))
        return self.process.stderr.read() if self.process is not None else ""

    def close(self) -> None:
        self.stop()
        self.sensor.stop()


def test_kill_9_of_the_socket_activated_console_mid_session_harms_nothing(tmp_path, library):
    sock = tmp_path / "rugcoach.sock"
    daemon = Daemon(tmp_path, library, sock)
    port, http_port = free_port(), free_port()
    env = dict(os.environ, STATE_DIRECTORY=str(daemon.state))
    daemon.state.mkdir(parents=True, exist_ok=True)
    # as its unit runs it: systemd opens both ports (rugcoach-console.socket) and starts the
    # console on the first connection, handing them over (systemd-socket-activate does the same)
    console = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-l", f"127.0.0.1:{http_port}",
                                "-E", f"STATE_DIRECTORY={daemon.state}"]
                               + RUGCOACH + ["console", "--port", str(port), "--socket", str(sock)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        daemon.start()
        cert = daemon.state / "console" / "console.crt"
        deadline = time.monotonic() + patience(60)
        while True:   # systemd-socket-activate listens once it has started; the first connection starts the console
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=patience(10)):
                    break
            except ConnectionRefusedError:
                assert console.poll() is None, console.stderr.read()
                assert time.monotonic() < deadline, "the sockets were never opened"
                time.sleep(0.1)
        while not cert.exists():   # it makes its certificate first; what came meanwhile waits in the backlog
            assert console.poll() is None, console.stderr.read()
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.2)
        # plain HTTP only sends the browser to HTTPS, on the box itself (by its name, or the
        # address the request came to): never to a host a request names
        name = socket.gethostname().lower()
        for host, to in ((f"{name}.local:{http_port}", f"{name}.local"), (f"box.example:{http_port}", "127.0.0.1")):
            plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=patience(10))
            plain.request("GET", "/patients?x=1", headers={"Host": host})
            reply = plain.getresponse()
            assert reply.status == 301 and reply.getheader("Location") == f"https://{to}:{port}/patients?x=1", \
                (host, reply.getheader("Location"))
        # claim the box with the code a shell on the box prints, and watch live
        code = subprocess.run(RUGCOACH + ["console", "setup-code"], cwd=ROOT, env=env, capture_output=True,
                              text=True, check=True).stdout.strip()
        client = Client(SimpleNamespace(cert=cert, port=port)).before_login()
        claim = {"code": code, "name": "anna", "password": "een-lang-wachtwoord"}
        assert client.post("/api/setup", claim).status == 200
        assert subprocess.run(RUGCOACH + ["console", "setup-code"], cwd=ROOT, env=env, capture_output=True,
                              text=True).returncode == 1, "no code once the box is claimed"
        fingerprint = subprocess.run(RUGCOACH + ["console", "fingerprint"], cwd=ROOT, env=env, capture_output=True,
                                     text=True, check=True).stdout
        assert fingerprint.startswith("SHA-256 ") and fingerprint.count(":") == 31
        viewer = LiveViewer(port, cert, client.cookies)
        # its connection is made on a thread of its own: on a loaded machine, later than the
        # first repetition. What counts is that it sees the session live before the kill.
        wait_for(lambda: viewer.messages, "the viewer's first message")
        assert daemon.first_rep.wait(patience(120)), "no repetition came"
        assert viewer.messages, "the viewer saw the session live"
        console.send_signal(signal.SIGKILL)   # in the middle of the session
        console.wait(timeout=patience(10))
        daemon.process.wait(timeout=patience(180))      # --once: it ends with the session
    finally:
        if console.poll() is None:
            console.kill()
        stderr = daemon.stop()
        daemon.close()
    assert daemon.process.returncode == 0, stderr
    assert "Traceback" not in stderr
    announced = [e for e in daemon.events if e["type"] == "rep"]
    assert len(announced) == 2 and any(e.get("cue") == "done" for e in daemon.events), "the session completed"
    store = Store(daemon.state)
    sessions = store.sessions(None, anonymous=True)
    assert [s["status"] for s in sessions] == ["done"]
    assert len(store.repetitions(sessions[0]["id"])) == 2, "every repetition is stored"
    store.close()


class LiveViewer:
    """A browser's WebSocket to the live view, on a thread of its own."""

    def __init__(self, port, cert, cookies):
        import ssl
        self.messages: list[dict] = []
        context = ssl.create_default_context(cafile=str(cert))
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())

        async def watch():
            import aiohttp
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    f"wss://localhost:{port}/api/live", ssl=context,
                    headers={"Cookie": header, "Origin": f"https://localhost:{port}"}) as ws:
                async for message in ws:
                    self.messages.append(json.loads(message.data))

        threading.Thread(target=lambda: asyncio.run(watch()), daemon=True).start()


def test_a_daemon_restart_shows_as_restarting_and_the_console_finds_it_again(tmp_path, library):
    sock = tmp_path / "rugcoach.sock"
    daemon = Daemon(tmp_path, library, sock, pumps=False)
    console = ConsoleUnderTest(daemon.state, sock).start()
    try:
        daemon.start(once=False)
        assert daemon.started.wait(patience(60)), "the daemon never got armed"
        link = console.console.link
        wait_for(lambda: link.state == "up" and link.status is not None and link.status.state == "armed", "up")
        daemon.stop()
        wait_for(lambda: link.state == "restarting", "restarting")
        client = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": "anna", "password": "een-lang-wachtwoord"}
        assert client.post("/api/setup", claim).status == 200
        client.csrf = client.get("/api/me").json["csrf"]
        reply = client.post("/api/next", {"patient": "P-0001"})
        assert reply.status == 503 and "opnieuw op" in reply.json["error"], "a restarting box, said in Dutch"
        assert client.get("/api/status").json["link"] == "restarting"
        daemon.started.clear()
        daemon.start(once=False)
        wait_for(lambda: link.state == "up", "up again")
        assert client.post("/api/next", {"patient": "P-0001"}).status == 200
    finally:
        console.stop()
        daemon.close()


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + patience(timeout)
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def test_a_console_that_joins_mid_session_shows_what_one_there_from_the_start_shows(tmp_path, library):
    """The session so far is the daemon's one copy: a console started before the session and one
    started during it give their viewers the same snapshot and, after it, the same events, none
    twice and none missing."""
    sock = tmp_path / "rugcoach.sock"
    daemon = Daemon(tmp_path, library, sock)
    early = ConsoleUnderTest(daemon.state, sock).start()
    late = None
    try:
        daemon.start()
        wait_for(lambda: early.console.link.state == "up", "up")
        admin = early.client().before_login()
        claim = {"code": early.console.setup_code.get(), "name": "anna", "password": "een-lang-wachtwoord"}
        assert admin.post("/api/setup", claim).status == 200
        assert daemon.first_rep.wait(patience(120)), "no repetition came"
        late = ConsoleUnderTest(daemon.state, sock).start()   # mid-session
        wait_for(lambda: late.console.link.state == "up", "the late console up")
        viewers = []
        for console in (early, late):
            client = console.client()
            assert client.login("anna", "een-lang-wachtwoord").status == 200
            viewers.append(LiveViewer(console.port, console.cert, client.cookies))
        for viewer in viewers:
            wait_for(lambda v=viewer: v.messages, "a snapshot")
        daemon.process.wait(timeout=patience(180))   # --once: it ends with the session
        wait_for(lambda: all(any(m.get("topic") == "event" and m["event"].get("state") == "session_ended"
                                 for m in v.messages) for v in viewers), "the end seen by both")
    finally:
        for console in (early, late):
            if console is not None:
                console.stop()
        daemon.close()
    first = [v.messages[0] for v in viewers]
    assert all(m["topic"] == "snapshot" for m in first)
    assert first[0]["session"]["number"] == first[1]["session"]["number"] is not None
    for kind in ("events", "samples"):
        a, b = (m["session"][kind] for m in first)
        shorter, longer = sorted((a, b), key=len)
        assert shorter and longer[:len(shorter)] == shorter, f"the same {kind} so far, from the daemon"

    def story(messages):
        """Every event a viewer knows of: the snapshot's, then those that came after it."""
        return messages[0]["session"]["events"] + [m["event"] for m in messages[1:] if m.get("topic") == "event"]

    early_story, late_story = (story(v.messages) for v in viewers)
    assert early_story == late_story, "the same events, none twice, none missing"
    assert early_story == [e for e in daemon.events if e.get("type") != "clock"][-len(early_story):]
