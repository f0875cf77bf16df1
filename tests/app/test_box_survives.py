"""What a practice does to a box, with a real daemon on a simulated sensor (a pty): the card fills
up in the middle of a session, an upgrade asks for a restart, the setup code is asked for before
any sensor is plugged in, and the power goes (kill -9 of the daemon and all it started)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import wave

import numpy as np
import pytest

from coach.adapters.control_client import DaemonClient
from coach.adapters.files import read_trace
from coach.adapters.store import Store
from coach.api import methods as api
from coach.app.daemon import RESTART_EXIT
from coach.sim.pty_sensor import PtySensor
from tests.app.test_control import Box, wait_for
from tests.conftest import ROOT, RUGCOACH
from tests.helpers.full_disk import fill, small_filesystem
from tests.patience import patience

pytestmark = pytest.mark.slow


def events_of(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def daemon_news(path, state: str) -> list[dict]:
    return [e for e in events_of(path) if e["type"] == "daemon" and e["state"] == state]


def test_a_card_that_fills_mid_session_is_waited_out_and_nothing_is_lost(tmp_path):
    state = tmp_path / "state"
    with small_filesystem(state, "16m"):
        box = Box(tmp_path, speed=4.0)
        try:
            trace_path = state / "trace.csv"
            client = box.start("--trace", str(trace_path))
            client.next_session(patient="P-0042", protocol="demo")
            client.start_session()
            assert wait_for(lambda: daemon_news(box.events, "session_started"), 30)
            fill(state)
            # the records give up the space set aside for them, then that is taken too
            assert wait_for(lambda: not (state / ".space-reserve").exists(), 60), "the card never counted as full"
            fill(state)
            assert wait_for(lambda: client.status().disk.full, 60)
            assert wait_for(lambda: daemon_news(box.events, "session_ended"), 300), "the session did not end"
            assert box.process.poll() is None, "the daemon goes on"
            [ended] = daemon_news(box.events, "session_ended")
            assert ended["outcome"] == "done", "the patient finished the session"
            reps = [e for e in events_of(box.events) if e["type"] == "rep"]
            disk = client.status().disk
            assert disk.full and disk.free_mb == 0 and disk.low
            assert disk.waiting_repetitions >= 1 and disk.waiting_samples > 0, disk
            (state / "filler").unlink()   # someone makes room: noticed without a restart
            assert wait_for(lambda: not client.status().disk.full and client.status().disk.waiting_repetitions == 0,
                            60), client.status().disk
            box.stop()
            assert box.process.returncode == 0
            store = Store.reader(state)
            [session] = store.sessions("P-0042")
            assert session["status"] == "done"
            assert [(r.exercise, r.rep) for r in store.repetitions(session["id"])] == \
                [(e["exercise"], e["rep"]) for e in reps], "every repetition once"
            stored = len(store.trace(session["id"]))
            traced = len(list(read_trace(trace_path)))
            assert stored > 100 and traced >= stored, "the whole trace, in the records and in the trace file"
            log = (tmp_path / "daemon.log").read_text()
            assert "the disk is full" in log and "space again" in log and "Traceback" not in log, log
        finally:
            box.close()


def test_the_setup_code_is_said_without_a_sensor(tmp_path):
    """A new box is set up before its sensor is plugged in: the code is said all the same."""
    wav = tmp_path / "said.wav"
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), RUNTIME_DIRECTORY=str(tmp_path / "run"),
               INVOCATION_ID="x")   # as under systemd: a sensor not plugged in is waited for
    daemon = subprocess.Popen(RUGCOACH + ["run", "--port", str(tmp_path / "no-sensor"), "--protocol", "demo",
                                          "--audio", f"wav:{wav}"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "log").open("w"))
    try:
        client = DaemonClient(tmp_path / "run" / "rugcoach.sock")

        def answers():
            try:
                client.connect()
                return True
            except Exception:   # noqa: BLE001 - not up yet
                client.close()
                return False
        assert wait_for(answers, 60)
        assert client.status().state == "starting" and not client.status().sensor.connected
        assert client.call(api.ANNOUNCE_CODE, api.AnnounceCodeParams("482913")) == api.Announcing(True)
        # said on the wall clock, no sample needed; the sink writes what it played when done
        assert wait_for(wav.exists, 120), (tmp_path / "log").read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=patience(60))
    with wave.open(str(wav)) as said:
        audio = np.frombuffer(said.readframes(said.getnframes()), dtype=np.int16)
        seconds = said.getnframes() / said.getframerate()
    assert seconds > 3.0 and np.abs(audio).max() > 1000, "six digits, audibly"
    assert "Traceback" not in (tmp_path / "log").read_text()


def kill_tree(pid: int) -> None:
    """A power cut, as near as a process gets: SIGKILL for the daemon and all it started."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    os.kill(pid, signal.SIGKILL)
    for child in children:
        try:
            os.kill(int(child), signal.SIGKILL)
        except ProcessLookupError:
            pass


class Resting:
    """Nobody on the bladder."""

    def pressure(self, t):
        return 0.5

    def hear(self, event):
        pass


def nobody_on_it(box) -> None:
    """The simulated sensor replaced by one at rest, in real time: it waits for no clock report
    (the daemon it kept in step with is gone)."""
    box.sensor.stop()
    box.sensor = PtySensor(Resting(), rate_hz=25, link=box.tmp / "pbu")
    box.sensor.plug()
    box.sensor.start()


def test_a_power_cut_right_after_a_repetition_keeps_it_and_the_story(tmp_path):
    box = Box(tmp_path, speed=4.0)
    try:
        client = box.start()
        client.next_session(patient="P-0042", protocol="demo")
        client.start_session()
        # the moment the repetition's event is out, the power goes
        assert wait_for(lambda: any(e["type"] == "rep" for e in events_of(box.events)), 120, step=0.005)
        kill_tree(box.process.pid)
        box.process.wait(timeout=patience(10))
        before = box.events.read_text()
        rep = next(e for e in events_of(box.events) if e["type"] == "rep")
        store = Store.reader(tmp_path / "state")
        [session] = store.sessions("P-0042")
        kept = store.repetitions(session["id"])
        assert session["status"] == "running" and [r.rep for r in kept][:1] == [rep["rep"]], \
            "a repetition is in the records before anyone hears of it"
        store.close()
        # the box comes back (the patient got off: a sensor at rest, in real time, that waits for
        # no clock of the daemon that is gone): the story before the cut is still there, the cut named
        nobody_on_it(box)
        client = box.start()
        assert box.events.read_text().startswith(before), "the events file is appended to, never emptied"
        assert daemon_news(box.events, "armed")[-1] is not None
        log = (tmp_path / "daemon.log").read_text()
        assert f"session {session['id']} (patient P-0042, begun " in log and \
            f"was interrupted (a power cut or a crash): {len(kept)} repetition(s) kept" in log, log
        assert "sensor connected on" in log and "connected again" not in log, "the first connection is no return"
        box.stop()
        store = Store.reader(tmp_path / "state")
        assert [s["status"] for s in store.sessions("P-0042")] == ["interrupted"]
    finally:
        box.close()


def test_an_upgrade_restarts_the_coach_between_sessions_never_during_one(tmp_path):
    box = Box(tmp_path, speed=4.0)
    try:
        client = box.start()
        client.next_session(patient="P-0042", protocol="demo")
        client.start_session()
        assert wait_for(lambda: client.status().state == "in_session", 30)
        box.process.send_signal(signal.SIGUSR2)   # what `make install` sends
        assert wait_for(lambda: box.process.poll() is not None, 300), "no restart after the session"
        assert box.process.returncode == RESTART_EXIT
        [ended] = daemon_news(box.events, "session_ended")
        assert ended["outcome"] == "done", "the patient was never cut off"
        log = (tmp_path / "daemon.log").read_text()
        assert "the session is over: restarting for the new version" in log, log
        # idle, it restarts at once
        nobody_on_it(box)
        box.start()
        box.process.send_signal(signal.SIGUSR2)
        box.process.wait(timeout=patience(30))
        assert box.process.returncode == RESTART_EXIT
    finally:
        box.close()
