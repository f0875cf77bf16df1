"""The daemon's control socket end to end: a real daemon, a simulated sensor on a pty, real Unix
sockets; `rugcoach status` idle and in session; the therapist's requests; a daemon restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from coach.adapters.control_client import DaemonClient, DaemonError, NotRunning
from coach.adapters.store import Store
from coach.api import methods as api
from coach.api.status import NextSession
from coach.api.wire import ErrorCode, to_wire
from coach.app.sensor_sim import EventsFollower
from coach.sim.patient import SimulatedPatient
from coach.sim.pty_sensor import PtySensor
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast


def wait_for(predicate, timeout, step=0.05):
    """Until predicate() is true (the limit only stops a test that hangs)."""
    deadline = time.monotonic() + patience(timeout)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


class Box:
    """The daemon, as systemd would run it, on a simulated sensor that nobody pumps up until the
    coach asks. Faster than real time (`speed`), the patient hears the coach through the events
    file and keeps within a bounded lead of its clock reports (coach.sim.pty_sensor)."""

    def __init__(self, tmp_path, patient=None, speed=1.0):
        self.tmp = tmp_path
        self.socket = tmp_path / "run" / "rugcoach.sock"
        self.events = tmp_path / "events.jsonl"
        patient = patient or SimulatedPatient(_session(), seed=2)
        self.sensor = PtySensor(patient, rate_hz=25, link=tmp_path / "pbu", speed=speed)
        self.clock = ["--clock-events", "0.25"] if speed > 1 else []
        if speed > 1:
            self.sensor.listen = EventsFollower(self.events, self.sensor.hear).poll
        self.sensor.plug()
        self.sensor.start()
        self.env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), RUNTIME_DIRECTORY=str(self.socket.parent))
        self.process: subprocess.Popen | None = None

    def start(self, *extra: str, port: bool = True):
        """`port` False: the sensor's port from the config (`--config` in `extra`), not the command line."""
        self.process = subprocess.Popen(
            RUGCOACH + ["run", *(["--port", str(self.tmp / "pbu")] if port else []), "--protocol", "demo",
                        "--audio", "none", "--events", str(self.events), *self.clock, *extra],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=(self.tmp / "daemon.log").open("a"))
        client = DaemonClient(self.socket)
        assert wait_for(lambda: _answers(client), 60), "the daemon's socket never answered"
        return client

    def status_command(self):
        return subprocess.run(RUGCOACH + ["status"], cwd=ROOT, env=self.env, capture_output=True, text=True)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=patience(30))

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self.sensor.stop()

    def said(self):
        if not self.events.exists():
            return []
        lines = self.events.read_text().split("\n")[:-1]   # a line being written waits
        return [e["text"] for e in map(json.loads, lines) if e["type"] == "say"]


def _session():
    from coach.config.protocols import Library
    return Library().session(protocol="demo")


def _answers(client):
    try:
        client.connect()
        return client.status().state == "armed"
    except NotRunning:
        client.close()
        return False


def raw(path, request: dict) -> dict:
    """One request as any client could send it (no typed client stops a wrong one), its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(patience(10))
        sock.connect(str(path))
        sock.sendall((json.dumps(request) + "\n").encode())
        return json.loads(sock.makefile("rb").readline())


@pytest.fixture
def box(tmp_path):
    box = Box(tmp_path)
    yield box
    box.close()


@pytest.fixture
def fast_box(tmp_path):
    box = Box(tmp_path, speed=4.0)
    yield box
    box.close()


def test_status_idle_and_in_session_and_the_therapists_requests(fast_box):
    box = fast_box
    client = box.start()
    idle = box.status_command()
    assert idle.returncode == 0, idle.stderr
    assert "waiting for a patient" in idle.stdout and "sensor: connected" in idle.stdout, idle.stdout
    # checked before anything changes: a clear refusal, the box as it was
    refused = raw(box.socket, {"id": 1, "method": "next_sesion", "params": {"patient": "P-7"}})
    assert refused["error"]["code"] == "unknown_method" and "did you mean 'next_session'" in refused["error"]["message"]
    refused = raw(box.socket, {"id": 2, "method": "next_session", "params": {"patient": 7}})
    assert refused["error"]["code"] == "bad_argument" and refused["error"]["field"] == "patient"
    refused = raw(box.socket, {"id": 3, "method": "next_session", "params": {"patiënt": "P-7"}})
    assert refused["error"]["code"] == "unknown_argument" and "did you mean 'patient'" in refused["error"]["message"]
    with pytest.raises(DaemonError, match="patient id") as bad:
        client.next_session(patient="Jan <script>")
    assert bad.value.code is ErrorCode.INVALID and bad.value.field == "patient", "said beside the field"
    with pytest.raises(DaemonError, match="no session is under way"):
        client.pause_session()
    for path in ("/etc/passwd", "/dev/zero", "x\u0000.yaml"):   # never a file of the box: a name
        with pytest.raises(DaemonError, match="unknown programme"):
            client.next_session(protocol=path)
    with pytest.raises(DaemonError, match="did you mean 'fase1'"):
        client.next_session(protocol="fase")
    with pytest.raises(DaemonError, match="records' folder"):   # a restore reads no file elsewhere
        client.call(api.RESTORE, api.RestoreParams("/etc/passwd"))
    # a patient's own programme (as the console keeps it), checked as `rugcoach check` does
    own = "title: Eigen programma\nprogramme:\n  - exercise: ruglig-a\n    repetitions: 2\n"
    picked = client.next_session(patient="P-0005", programme=own)
    assert picked.exercises == ["ruglig-a"] and picked.programme == "Eigen programma"
    with pytest.raises(DaemonError, match=r"programme\[0\]\.repetitions"):
        client.next_session(patient="P-0005", programme=own.replace("repetitions: 2", "repetitions: 0"))
    with pytest.raises(DaemonError, match="not more"):
        client.next_session(protocol="demo", programme=own)
    chosen = client.next_session(patient="P-0007", protocol="demo")
    assert chosen.patient == "P-0007" and chosen.exercises == ["buiklig-a"]
    first = client.subscribe()
    assert first.status.next == NextSession("P-0007", "demo", ["buiklig-a"], True, 1.0, 135)
    assert client.start_session() == api.Starting(True)
    # the session starts on the next sample; the subscriber sees it, then samples and status
    seen = []
    for message in client.notifications(timeout=patience(10)):
        seen.append(message)
        if message.method == "event" and message.params.get("state") == "inflating":
            break
    kinds = {m.method for m in seen}
    assert {"event", "samples"} <= kinds, kinds
    assert [m.seq for m in seen] == sorted(m.seq for m in seen), "notifications are numbered in order"
    started = [m.params for m in seen if m.method == "event" and m.params["type"] == "daemon"]
    assert started[0]["state"] == "session_started"
    coaching = box.status_command()
    assert coaching.returncode == 0 and "coaching" in coaching.stdout and "patient P-0007" in coaching.stdout, \
        coaching.stdout
    assert "exercise 1 of 1 (buiklig-a)" in coaching.stdout
    # a second subscriber gets the session so far
    late = DaemonClient(box.socket).connect().subscribe()
    assert late.session.events[0]["type"] == "daemon" and late.session.samples
    # pause: the patient hears why; resume; stop: a kind goodbye, the record says stopped
    assert client.pause_session() == api.PauseState(True)
    assert wait_for(lambda: client.status().coach.paused == "therapist", 10)
    assert wait_for(lambda: "Uw therapeut zet de oefening even stil." in box.said(), 30), box.said()
    with pytest.raises(DaemonError, match="a patient is being coached") as busy:
        client.start_session()
    assert busy.value.code is ErrorCode.BUSY, "busy says a patient is coached, in those words"
    with pytest.raises(DaemonError, match="being coached: restore after the session"):
        client.call(api.RESTORE, api.RestoreParams(str(box.tmp / "state" / "rugcoach.db")))
    assert client.resume_session() == api.PauseState(False)
    assert wait_for(lambda: client.status().coach.paused is None, 10)
    assert wait_for(lambda: "We gaan weer verder." in box.said(), 30), box.said()
    client.next_session(patient="P-0008")   # chosen during the session: for the next one
    assert client.stop_session() == api.Stopping(True)
    assert wait_for(lambda: client.status().state != "in_session", 30), "the session did not end"
    status = client.status()
    assert status.last_outcome == "stopped"
    assert status.next.patient == "P-0008" and status.next.chosen, "the next one's choice stays"
    assert "Uw therapeut stopt de oefening nu." in box.said()
    # the bladder is still up: "start now" does not wait for it to be let down
    assert client.start_session() == api.Starting(True)
    assert wait_for(lambda: client.status().state == "in_session", 30)
    assert client.stop_session() == api.Stopping(True)
    assert wait_for(lambda: client.status().state != "in_session", 30)
    assert client.status().next.chosen is False, "a therapist's choice holds for one session"
    box.stop()
    store = Store(box.tmp / "state")
    assert [s["status"] for s in store.sessions("P-0007")] == ["stopped"]
    assert [s["status"] for s in store.sessions("P-0008")] == ["stopped"]


def test_a_daemon_restart_is_survived_by_its_clients(box):
    client = box.start()
    client.subscribe()
    box.stop()
    with pytest.raises(NotRunning):
        for _ in client.notifications(timeout=patience(10)):
            pass
    assert box.status_command().returncode == 3, "not running: exit 3, as systemctl status"
    assert "not running" in box.status_command().stderr
    again = box.start()                 # the socket file of the old one is replaced
    assert again.status().state == "armed"
    client.connect()                    # the old client reconnects
    assert client.status().sessions == 0


class Technician:
    """The bladder during a calibration: open (the sensor reads 1.5 where 0 is true), then pumped
    to the dial's 40 (the sensor reads 41.5) when the coach asks for it: heard through the events,
    in step with the coach's clock, so however slow the machine, never too late."""

    def __init__(self):
        self.pumped = False

    def pressure(self, t):
        return 41.5 if self.pumped else 1.5

    def hear(self, event):
        if event.get("type") == "say" and event.get("key") == "calibrate.span":
            self.pumped = True


def test_calibration_runs_in_the_daemon_and_rugcoach_calibrate_is_its_client(tmp_path):
    technician = Technician()
    box = Box(tmp_path, patient=technician, speed=4.0)
    try:
        client = box.start()
        command = subprocess.Popen(RUGCOACH + ["calibrate", "--span", "40"], cwd=ROOT, env=box.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        said = list(command.stderr)          # the prompts as the daemon speaks them
        command.wait(timeout=patience(60))
        assert command.returncode == 0, "".join(said)
        assert "Open het ventiel" in "".join(said) and "Pomp nu op tot 40" in "".join(said)
        assert "calibration stored by the service" in said[-1]
        stored = json.loads((tmp_path / "state" / "calibration.json").read_text())
        assert abs(stored["offset"] - 1.5) < 0.1 and abs(stored["gain"] - 1.0) < 0.01
        status = client.status()
        assert status.state == "waiting_empty", "the bladder is let down before the next patient"
        assert status.calibration is None
        # in use at once: the sensor's 41.5 is the dial's 40 now
        client.subscribe()
        samples = next(m.params.samples for m in client.notifications(timeout=patience(10))
                       if m.method == "samples")
        assert all(abs(mmhg - 40.0) < 0.2 for _, mmhg in samples), samples
        with pytest.raises(DaemonError, match="from 5 to 150"):
            client.call(api.CALIBRATE, api.CalibrateParams(500))
        # what the console shows: the calibration in use, when it was made, its zero and span
        calibrated = client.status().calibrated
        assert calibrated is not None and calibrated.date == stored["date"] and calibrated.span_mmhg == 40.0
        assert abs(calibrated.offset - 1.5) < 0.1
        # a calibration cancelled half way ("Annuleren" in the console) stores nothing
        technician.pumped = False
        assert wait_for(lambda: client.status().state != "calibrating", 30)
        client.call(api.CALIBRATE, api.CalibrateParams(60))
        assert client.status().calibration.step == "zero"
        assert client.call(api.CANCEL_CALIBRATION) == api.Cancelled(True)
        assert client.status().calibration is None and client.status().state == "waiting_empty"
        assert client.call(api.CANCEL_CALIBRATION) == api.Cancelled(False)
        assert json.loads((tmp_path / "state" / "calibration.json").read_text()) == stored
        assert client.status().calibrated == calibrated
    finally:
        box.close()


def test_the_api_is_versioned_and_the_status_has_one_shape(box):
    """A client of another API version is refused in one clear line, not misread; the status has
    the same fields idle and in a session (null where they do not apply), as `status --json` shows."""
    client = box.start()
    refused = raw(box.socket, {"id": 1, "method": "hello", "params": {"api_version": api.API_VERSION + 1}})
    assert refused["error"]["code"] == "version" and "update RugCoach" in refused["error"]["message"]

    class FutureClient(DaemonClient):
        def connect(self):   # says hello with a version the daemon does not speak
            self.core.hello = lambda name: api.Hello(api.API_VERSION + 1, name)   # type: ignore[method-assign]
            return super().connect()

    with pytest.raises(DaemonError, match="API version") as wrong:
        FutureClient(box.socket).connect()
    assert wrong.value.code is ErrorCode.VERSION
    shown = subprocess.run(RUGCOACH + ["status", "--json"], cwd=ROOT, env=box.env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    idle = json.loads(shown.stdout)
    assert idle["api_version"] == api.API_VERSION and idle["state"] == "armed"
    assert idle["session"] is None and idle["coach"] is None and idle["calibration"] is None
    client.next_session(patient="P-0001")
    client.start_session()
    assert wait_for(lambda: client.status().coach is not None, 30)
    busy = to_wire(client.status())
    assert set(busy) == set(idle), "one shape in every state"
    assert set(busy["sound"]) == set(idle["sound"]) and set(busy["sensor"]) == set(idle["sensor"])
    assert busy["session"]["patient"] == "P-0001"


def test_the_shell_backs_up_and_restores_through_the_running_coach(box):
    """The daemon owns the records while it runs: `rugcoach backup` and `restore` ask it (and say
    so), and it goes on coaching afterwards."""
    client = box.start()
    out = box.tmp / "backup.db"
    made = subprocess.run(RUGCOACH + ["backup", str(out)], cwd=ROOT, env=box.env, capture_output=True, text=True)
    assert made.returncode == 0 and "The coach backed up" in made.stdout, made.stderr
    put = subprocess.run(RUGCOACH + ["restore", str(out)], cwd=ROOT, env=box.env, capture_output=True, text=True)
    assert put.returncode == 0 and "The coach restored" in put.stdout, put.stderr
    assert (box.tmp / "state" / "rugcoach.db.before-restore").exists()
    assert client.status().state == "armed", "the coach goes on"
