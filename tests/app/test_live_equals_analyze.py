"""`rugcoach analyze` on a session's trace gives the very events the live coach gave."""

from __future__ import annotations

import json

import pytest

from coach.adapters.files import TraceWriter
from coach.app.cli import main
from coach.app.runner import SessionRunner
from coach.app.simulate import SimulatedSource
from coach.core.coach import Coach
from coach.sim.patient import Behaviour, SimulatedPatient
from tests.conftest import estimated_duration


class Recorder:
    def __init__(self):
        self.events = []

    def write(self, event):
        self.events.append(event)

    def close(self):
        pass


class Silent:
    realtime = False

    def start(self):
        pass

    def play(self, t, samples, requested_at=None):
        pass

    def cut(self, t):
        pass

    def close(self, max_wait_s=None):
        pass


class Sounds:
    def samples(self, sound):
        return None

    duration = staticmethod(estimated_duration)


@pytest.mark.slow
def test_live_and_analyze_agree(library, tmp_path, capsys):
    session = library.session(exercise="buiklig-a")
    for seed, behaviour in [(11, Behaviour()), (12, Behaviour(depth=-4.0)), (13, Behaviour(pushes=True))]:
        trace_path = tmp_path / f"trace{seed}.csv"
        trace = TraceWriter(str(trace_path))
        recorder = Recorder()
        coach = Coach(session, estimated_duration)
        patient = SimulatedPatient(session, seed=seed, behaviour=behaviour)
        runner = SessionRunner(coach, Sounds(), Silent(), recorder, trace, listeners=[patient])
        runner.run(SimulatedSource(patient, rate_hz=50.0))
        trace.close()
        live = [e for e in recorder.events if e["type"] in ("rep", "compensation")]
        assert len([e for e in live if e["type"] == "rep"]) >= 15

        capsys.readouterr()
        assert main(["analyze", str(trace_path), "--exercise", "buiklig-a"]) == 0
        offline = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert offline == live
