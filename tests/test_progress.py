"""Progress over sessions: kept per patient, told to the therapist in the records."""

from __future__ import annotations

import json
import os
import stat
import subprocess

from coach.core.progress import PhaseCriteria, criteria_met, summarise
from tests.conftest import ROOT, RUGCOACH


def session(fraction, reps=10):
    ok = round(fraction * reps)
    return summarise([{"exercise": "buiklig-a", "verdict": "ok" if i < ok else "too_weak"}
                      for i in range(reps)], {"buiklig-a": 1})


def test_three_good_sessions_in_a_row_meet_the_criteria():
    criteria = PhaseCriteria(0.8, 3)
    assert not criteria_met([session(0.9), session(0.9)], 1, criteria)
    assert criteria_met([session(0.5), session(0.8), session(0.9), session(1.0)], 1, criteria)
    assert not criteria_met([session(0.9), session(0.7), session(0.9), session(0.9)], 1, criteria)
    assert criteria_met([session(0.9), session(0.7), session(0.9), session(0.9)], 1, PhaseCriteria(0.8, 2))


def test_sessions_are_recorded_per_patient_and_the_therapist_is_told(tmp_path):
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    config = tmp_path / "config.yaml"
    config.write_text("progress:\n  good_fraction: 0.8\n  sessions_in_a_row: 2\n")
    for seed in (1, 2):
        result = subprocess.run(RUGCOACH + ["run", "--simulate", "--protocol", "demo", "--audio", "none",
                                            "--patient", "P-0042", "--seed", str(seed), "--config", str(config)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    records = tmp_path / "patients" / "P-0042" / "sessions.jsonl"
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [line["exercises"]["buiklig-a"]["ok"] for line in lines] == [3, 3]
    assert [line["next_phase_criteria_met"]["1"] for line in lines] == [False, True]
    assert "criteria to move on from phase 1 are met" in result.stderr
    said = subprocess.run(RUGCOACH + ["run", "--simulate", "--protocol", "demo", "--audio", "none",
                                      "--events", "-", "--seed", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    assert "fase" not in said.lower(), "the patient is never told"
    assert stat.S_IMODE(records.stat().st_mode) == 0o600
    assert stat.S_IMODE(records.parent.stat().st_mode) == 0o700


def test_a_patient_id_that_is_a_path_is_refused(tmp_path):
    result = subprocess.run(RUGCOACH + ["run", "--simulate", "--protocol", "demo", "--audio", "none",
                                        "--patient", "../etc"], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, STATE_DIRECTORY=str(tmp_path)), timeout=60)
    assert result.returncode == 2 and "not allowed" in result.stderr and "Traceback" not in result.stderr
