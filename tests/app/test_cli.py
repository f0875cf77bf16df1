"""The command line as a user meets it: real subprocesses, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import time
import wave

import pytest

from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast


def rugcoach(*args, env=None, timeout=120):
    return subprocess.run(RUGCOACH + list(args), capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=patience(timeout))


def assert_one_line_error(result, code, *words):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


def no_sound_env():
    """An environment in which PortAudio finds no sound device (no PulseAudio reachable)."""
    env = dict(os.environ, PULSE_SERVER="unix:/nonexistent/pulse")
    return env


def test_whole_exercise_runs_in_seconds_with_audio_none():
    started = time.monotonic()
    result = rugcoach("run", "--simulate", "--exercise", "buiklig-a", "--audio", "none",
                      "--events", "-", "--seed", "1")
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {e["type"] for e in events}
    assert {"state", "cue", "say", "rep"} <= kinds
    assert len([e for e in events if e["type"] == "rep"]) == 15
    session_s = events[-1]["t"]
    assert session_s > 400
    print(f"\n{session_s:.0f} s of session in {wall:.1f} s of wall time")


def test_python_dash_m_coach_is_the_same_command():
    result = subprocess.run(["rugcoach" if False else RUGCOACH[0], "-m", "coach", "--version"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "rugcoach" in result.stdout


def test_wav_sink_holds_the_session_on_its_timeline(tmp_path):
    path = tmp_path / "session.wav"
    result = rugcoach("run", "--simulate", "--protocol", "demo", "--audio", f"wav:{path}",
                      "--events", "-", "--seed", "2")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        audio = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / rate
    import numpy as np
    samples = np.frombuffer(audio, dtype="<i2").astype(float) / 32768
    assert abs(seconds - events[-1]["t"]) < 8, "the file spans the whole session"
    for say in [e for e in events if e["type"] == "say"]:
        start = int(say["t"] * rate)
        window = samples[start:start + int(0.3 * rate)]
        assert np.sqrt(np.mean(window ** 2)) > 0.01, f"speech at {say['t']} s: {say['text']}"
    # and silence while the patient lies still for the rest measurement
    rest = next(e["t"] for e in events if e.get("state") == "instructing")
    quiet = samples[int((rest - 8) * rate):int((rest - 1) * rate)]
    assert np.sqrt(np.mean(quiet ** 2)) < 0.001


def test_events_on_stdout_are_pure_json(tmp_path):
    """With an empty phrase cache, so every sentence is synthesised in this very run: pyttsx3
    prints "Audio saved to ..." for each, from espeak-ng's thread in pyttsx3 2.99."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = rugcoach("run", "--simulate", "--protocol", "demo", "--audio", "none", "--events", "-",
                      "--seed", "3", env=env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # nothing but JSON
    assert len(events) > 50 and events[-1]["type"] in ("say", "cue", "state")
    assert any(e["type"] == "rep" for e in events)
    assert list((tmp_path / "cache" / "rugcoach" / "phrases").glob("*.wav")), "synthesised here"


def test_unknown_exercise():
    result = rugcoach("run", "--simulate", "--exercise", "buiklig-x", "--audio", "none")
    assert_one_line_error(result, 2, "unknown exercise 'buiklig-x'", "did you mean")


def test_missing_protocol_file():
    result = rugcoach("run", "--simulate", "--protocol", "/nonexistent/mijn.yaml", "--audio", "none")
    assert_one_line_error(result, 2, "/nonexistent/mijn.yaml", "not found")


def test_serial_port_that_does_not_exist():
    result = rugcoach("run", "--port", "/dev/ttyNOPE0", "--exercise", "buiklig-a", "--audio", "none")
    assert_one_line_error(result, 3, "/dev/ttyNOPE0", "does not exist")


def test_no_audio_device():
    result = rugcoach("run", "--simulate", "--exercise", "buiklig-a", "--audio", "default",
                      env=no_sound_env())
    assert_one_line_error(result, 3, "no sound device", "--audio wav:")


def test_demo_without_a_sound_card_writes_demo_wav(tmp_path):
    target = tmp_path / "demo.wav"
    result = rugcoach("demo", "--wav", str(target), env=no_sound_env(), timeout=patience(300))
    assert result.returncode == 0, result.stderr
    assert "No sound device found" in result.stderr
    assert target.exists() and target.stat().st_size > 100_000


def test_check_accepts_the_bundled_protocols():
    result = rugcoach("check")
    assert result.returncode == 0, result.stderr


SHORT_EXERCISE = """exercises:
  - id: kort
    title: "Kort"
    phase: 1
    position: prone
    placement: under_belly
    start_pressure: 70
    target: {kind: change, change: -10, tolerance: 5}
    hold_s: 3
    repetitions: 2
    rest_s: 2
    setup: ["Ga op uw buik liggen."]
    instructions: ["Trek uw navel in."]
"""


@pytest.mark.parametrize("content,expected", [
    ("exercises:\n  - id: x\n    titel: y\n", ["exercises[0].titel: unknown key; did you mean 'title'?",
                                               "exercises[0].title: is missing"]),
    ("programme:\n  - exercise: buiklig-a\n    repetitions: 500\n",
     [":3: programme[0].repetitions: 500 is out of range"]),
    ("programme:\n  - exercise: buiklig-a\n    hold_s: lang\n", [":3: programme[0].hold_s: 'lang' is not a number"]),
    ("exercises: [\n", ["not valid YAML"]),
    ("programme:\n  - exercise: buiklig-a\n  - exercise: buikig-b\n",
     [":3: programme[1].exercise: unknown exercise 'buikig-b'; did you mean"]),
    # sides are a dose of a limb exercise only
    ("programme:\n  - exercise: buiklig-b\n    sides: [links]\n  - exercise: buiklig-a\n    sides: [links]\n",
     [":4: programme[1].sides: exercise 'buiklig-a' moves no limb"]),
    ("programme:\n  - exercise: buiklig-b\n    sides: [links, links]\n",
     [":2: programme[0].sides: name each side once"]),
    # a misspelt phrase key would never be said: the therapist's new wording would go unused
    ("phrases:\n  inflate.morex: \"Nog meer.\"\n",
     [":2: phrases.inflate.morex: unknown phrase key; did you mean 'inflate.more'?"]),
    (SHORT_EXERCISE + "    phrases:\n      contractt: \"Span aan.\"\n",
     [":15: exercises[0].phrases.contractt: unknown phrase key; did you mean 'contract'?"]),
    # a NUL byte (a file saved by a word processor, say) is one line, not an internal error
    ("title: x\nphrases:\n  welcome: \"Hallo\x00\"\n", [":3: not valid YAML: character #x0000"]),
    ("title: x\nphrases:\n  welcome: \"Hallo\xff\"\n", [":3: not valid YAML: byte 0xff is not UTF-8"]),
    # where the broken construct starts, not where the parser gave up
    ("exercises: [\n  buiklig-a,\n  buiklig-b\n\nprogramme:\n  - exercise: buiklig-a\n",
     [":1: not valid YAML: a flow sequence that starts here is not complete", "at line 5"]),
    # in a block mapping, the line that breaks it, with the mapping's first line as context
    ("title: x\nphrases:\n  welcome: \"Hallo\"\n  contract: \"Span aan.\"\n  - [unclosed\n  relax: \"Ontspan.\"\n",
     [":5: not valid YAML: expected <block end>, but found '-' (in a block mapping that starts at line 3)"]),
])
def test_check_reports_every_problem_with_file_and_line(tmp_path, content, expected):
    path = tmp_path / "mijn.yaml"
    path.write_bytes(content.encode("utf-8").replace("\xff".encode(), b"\xff"))
    result = rugcoach("check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert all(line.startswith(str(path) + ":") for line in result.stderr.splitlines())


@pytest.mark.parametrize("content,expected", [
    ("t,druk\n0.1,70\n", ":1: missing column 'mmhg'"),
    ("t,mmhg,cue\n0.1,70,\n0.2,zeventig,\n", ":3: t and mmhg must be numbers"),
    ("t,mmhg,cue\n0.1,70,\n0.3,70,\n0.2,70,\n", ":4: time goes backwards"),
    ("", ":1: the file is empty"),
    ("t,mmhg,cue\n0.1,70,span\n", ":2: unknown cue 'span'"),
])
def test_analyze_reports_bad_traces_by_file_and_line(tmp_path, content, expected):
    path = tmp_path / "trace.csv"
    path.write_text(content)
    result = rugcoach("analyze", str(path), "--exercise", "buiklig-a")
    assert_one_line_error(result, 2, str(path) + expected)
