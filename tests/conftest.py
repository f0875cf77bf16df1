"""Shared fixtures: the bundled library, a pure-core session driver, and a real PulseAudio sink."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from coach.config.protocols import Library
from coach.core.coach import Coach, Play
from coach.sim.patient import Behaviour, SimulatedPatient

ROOT = Path(__file__).resolve().parents[1]
RUGCOACH = [sys.executable, "-m", "coach"]


def estimated_duration(sound: str) -> float:
    """Speech lengths close to espeak-ng's at 135 wpm, for tests of the pure core."""
    return 0.4 if sound.startswith("tone:") else 0.25 + 0.065 * len(sound)


@pytest.fixture(scope="session")
def library() -> Library:
    return Library()


def simulate(session, seed=0, behaviour=None, rate_hz=50.0, max_s=3600.0, body=None):
    """Run a whole session on simulated time through the pure core; returns (events, plays, coach)."""
    coach = Coach(session, estimated_duration)
    kwargs = {"body": body} if body is not None else {}
    patient = SimulatedPatient(session, seed=seed, behaviour=behaviour or Behaviour(), **kwargs)
    events, plays = [], []

    def handle(outputs):
        for output in outputs:
            if isinstance(output, Play):
                plays.append(output)
            else:
                event = output.as_dict()   # the wire form, as the runner hands it on
                events.append(event)
                patient.hear(event)

    handle(coach.begin(0.0))
    step, k = 1.0 / rate_hz, 0
    while not coach.finished and k * step < max_s:
        k += 1
        t = round(k * step, 3)
        handle(coach.feed(t, round(patient.pressure(t), 2)))
    return events, plays, coach


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


class PulseServer:
    """A private PulseAudio server with a null sink, in its own runtime folder.

    `env` is the environment for clients (sounddevice through ALSA's pulse device, parec).
    The tests start and stop it themselves; `kill` and `start` again model a sound device that
    disappears and comes back."""

    def __init__(self, runtime: Path, sink: str | None = None):
        self.runtime = runtime
        self.sink = sink or f"rctest{uuid.uuid4().hex[:6]}"
        self.socket = runtime / "native"
        self.env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), PULSE_SERVER=f"unix:{self.socket}",
                        XDG_RUNTIME_DIR=str(runtime), HOME=str(runtime))
        self.process: subprocess.Popen | None = None

    def start(self) -> PulseServer:
        if not shutil.which("pulseaudio") or not shutil.which("parec"):
            pytest.fail("pulseaudio and parec are needed (make test installs them)")
        self.process = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no", "--log-target=stderr", "--log-level=error",
             f"--load=module-null-sink sink_name={self.sink} rate=44100",
             f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"PulseAudio did not start: {self.process.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-sink", self.sink], env=self.env, check=True)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def record(self, path: Path, rate: int = 22050) -> subprocess.Popen:
        """Record the sink's monitor as raw mono s16le (parec records while a stream plays)."""
        return subprocess.Popen(["parec", "-d", f"{self.sink}.monitor", "--format=s16le",
                                 f"--rate={rate}", "--channels=1", "--latency-msec=20"],
                                stdout=open(path, "wb"), env=self.env)


@pytest.fixture(scope="session")
def pulse_sink(tmp_path_factory):
    """A private PulseAudio server with a null sink for the whole test session.

    Yields (environment for clients, sink name). Nothing is left running afterwards."""
    server = PulseServer(tmp_path_factory.mktemp("pulse")).start()
    try:
        yield server.env, server.sink
    finally:
        server.stop()


@pytest.fixture
def pulse_server(tmp_path_factory):
    """A private PulseAudio server this test may kill and start again."""
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    try:
        yield server
    finally:
        server.stop()
