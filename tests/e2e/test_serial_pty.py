"""A session from samples written into a real pseudo-terminal, read by pyserial on its slave side.

The simulated patient writes `t_ms,mmHg` lines into the master at up to ten times real speed and
hears the coach's events from `--events -`, so the loop is closed as with a real patient. The
coach reports how far it has got (`--clock-events`), and the sensor keeps within a second of
patient time of that: the patient hears the coach in time however slow the machine is.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from coach.sim.patient import SimulatedPatient
from coach.sim.pty_sensor import PtySensor
from tests.conftest import ROOT, RUGCOACH
from tests.helpers.stalls import losses, reps_not_cut_by
from tests.patience import patience

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast

SPEEDUP = 10.0
RATE_HZ = 50.0


def test_a_short_session_from_a_pseudo_terminal(library, tmp_path):
    protocol = ROOT / "tests" / "data" / "short.yaml"
    session = library.session(protocol=str(protocol))
    patient = SimulatedPatient(session, seed=21, starts_pumping_at=2.0)
    sensor = PtySensor(patient, rate_hz=RATE_HZ, speed=SPEEDUP)
    port = sensor.plug()
    process = subprocess.Popen(
        RUGCOACH + ["run", "--port", port, "--protocol", str(protocol), "--audio", "none",
                    "--events", "-", "--clock-events", "0.25", "--once"],
        cwd=ROOT, env=dict(os.environ, STATE_DIRECTORY=str(tmp_path)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    events = []

    def listen():
        for line in process.stdout:
            event = json.loads(line)
            events.append(event)
            sensor.hear(event)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    sensor.start()
    try:
        process.wait(timeout=patience(300))
    finally:
        sensor.stop()
        if process.poll() is None:
            process.kill()
    listener.join(timeout=patience(5))
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    told = [e for e in events if e["type"] != "clock"]
    # No loss of the sensor, unless the double stalled beside a busy loop (tests/helpers/stalls.py):
    # then the repetition it cut was recorded and done again, and the others are judged as ever.
    cuts = losses(told)
    assert len(cuts) <= len([s for s in sensor.stalls if s[1] - s[0] > 1.0]), (cuts, sensor.stalls)
    reps = reps_not_cut_by(told, cuts)
    assert [r["verdict"] for r in reps] == ["ok", "ok"], [e for e in told if e["type"] in ("rep", "sensor")]
    assert any(e["type"] == "cue" and e["cue"] == "done" for e in told)
    # the session clock is the sensor's t_ms: about a minute and a half of session, faster than real time
    assert told[-1]["t"] > 60
    assert any(e["type"] == "clock" for e in events), "the coach reported how far it got"
