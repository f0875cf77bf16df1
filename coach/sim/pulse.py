"""A private PulseAudio server with a null sink: a real sound server without sound hardware, for
the end-to-end tests and the benchmarks (what was played is recorded from the sink's monitor)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path


class PulseError(RuntimeError):
    """PulseAudio is missing or would not start."""


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
            raise PulseError("pulseaudio and parec are needed (make test installs them)")
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
                said = self.process.stderr.read().decode() if self.process.stderr else ""
                raise PulseError(f"PulseAudio did not start: {said[-500:]}")
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
