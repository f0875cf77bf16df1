"""A session from samples written into a real pseudo-terminal, read by pyserial on its slave side.

The simulated patient writes `t_ms,mmHg` lines into the master at ten times real speed and
hears the coach's events from `--events -`, so the loop is closed as with a real patient.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import tty

from coach.sim.patient import SimulatedPatient
from tests.conftest import ROOT, RUGCOACH

SPEEDUP = 10.0
RATE_HZ = 50.0


def test_a_short_session_from_a_pseudo_terminal(library, tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    protocol = ROOT / "tests" / "data" / "short.yaml"
    session = library.session(protocol=str(protocol))
    patient = SimulatedPatient(session, seed=21, starts_pumping_at=2.0)
    lock = threading.Lock()
    process = subprocess.Popen(
        RUGCOACH + ["run", "--port", port, "--protocol", str(protocol), "--audio", "none",
                    "--events", "-", "--once"], cwd=ROOT, env=dict(os.environ, STATE_DIRECTORY=str(tmp_path)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = []

    def listen():
        for line in process.stdout:
            event = json.loads(line)
            events.append(event)
            with lock:
                patient.hear(event)

    def write_samples():
        wall0 = time.monotonic()
        k = 0
        while process.poll() is None and k < 400 * RATE_HZ:
            k += 1
            t = k / RATE_HZ
            delay = wall0 + t / SPEEDUP - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with lock:
                value = patient.pressure(t)
            try:
                os.write(master, f"{int(t * 1000)},{value:.2f}\n".encode())
            except OSError:
                return

    listener = threading.Thread(target=listen, daemon=True)
    writer = threading.Thread(target=write_samples, daemon=True)
    listener.start()
    writer.start()
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
        os.close(slave)
    listener.join(timeout=5)
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    reps = [e for e in events if e["type"] == "rep"]
    assert [r["verdict"] for r in reps] == ["ok", "ok"]
    assert any(e["type"] == "cue" and e["cue"] == "done" for e in events)
    # the session clock is the sensor's t_ms: about a minute and a half of session in ~10 s
    assert events[-1]["t"] > 60
