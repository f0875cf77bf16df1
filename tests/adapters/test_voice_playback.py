"""The voice through the real audio path: PortAudio -> PulseAudio null sink -> parec.

Order, no overlap, a correction cutting in at a sentence boundary, an urgent one breaking a
sentence off (nothing of it is heard after the fade), a stale correction dropped, equal
loudness; and a sound device that disappears mid-session and comes back."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from coach.adapters.loudness import loudness_lufs
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

# slow: not in make test-fast; audio: real-time sound, run on their own after the rest (Makefile)
pytestmark = [pytest.mark.slow, pytest.mark.audio]

RATE = 22050
FRAME = int(0.01 * RATE)


def levels_db(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    return 20 * np.log10(np.sqrt(np.mean(frames ** 2, axis=1)) + 1e-9)


def record_while(server, path, command, timeout=240):
    recorder = server.record(path, RATE)
    time.sleep(0.5)
    try:
        result = subprocess.run(command, cwd=ROOT, env=server.env, capture_output=True, text=True,
                                timeout=patience(timeout))
        time.sleep(0.5)
    finally:
        recorder.terminate()
        recorder.wait(timeout=patience(5))
    # parec starts when our stream connects: treat the recording as preceded by silence
    samples = np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    return result, np.concatenate([np.zeros(int(0.5 * RATE), np.float32), samples])


def test_order_cut_in_stale_drop_and_no_overlap(pulse_server, tmp_path):
    server = pulse_server.start()
    result, samples = record_while(server, tmp_path / "voice.raw",
                                   [sys.executable, str(ROOT / "tests/helpers/voice_scenario.py")])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    played = report["played"]
    sounds = [p["sound"] for p in played]
    # the correction cut in at the first sentence boundary; the stale one was never played;
    # the urgent one broke the long instruction off mid-sentence
    assert sounds == ["Zo gaat de oefening.", "tone:hold_start", "Niet persen.",
                      "Trek uw navel rustig naar binnen.", "Uw onderrug blijft stil.",
                      "Schuif nu uw linkerhiel weg, en weer terug.", "Houd uw bekken stil."]
    assert report["stale"] not in sounds
    cut = report["cuts"]
    assert [c["sound"] for c in cut] == ["Schuif nu uw linkerhiel weg, en weer terug."]
    for item in played:   # what was broken off lasted until the cut (and its fade-out)
        if item["sound"] == cut[0]["sound"]:
            assert item["t"] < cut[0]["t"] < item["t"] + item["duration"] - 0.5, "cut mid-sentence"
            item["duration"] = cut[0]["t"] + 0.03 - item["t"]
    for before, after in zip(played, played[1:]):
        assert after["t"] >= before["t"] + before["duration"], "no overlap in the plan"

    # The recording: sound inside each planned interval, silence between them (so nothing
    # overlapped, nothing extra, such as the stale sentence, was played).
    active = levels_db(samples) > -45
    first = np.flatnonzero(active)[0] * 0.01
    offset = first - played[0]["t"]
    for item in played:
        a, b = item["t"] + offset, item["t"] + offset + item["duration"]
        inside = active[int((a + 0.05) * 100): int((b - 0.05) * 100)]
        assert inside.mean() > 0.3, f"{item['sound']} not heard where planned"
    outside = active.copy()
    for item in played:
        a, b = item["t"] + offset, item["t"] + offset + item["duration"]
        outside[max(0, int((a - 0.15) * 100)): int((b + 0.15) * 100)] = False
    assert outside.sum() == 0, f"sound outside the plan at {np.flatnonzero(outside)[:5] * 0.01} s"
    # between the fade-out and the correction 0.2 s later: quiet (the sentence did not go on)
    after_cut = next(p["t"] for p in played if p["sound"] == "Houd uw bekken stil.")
    gap = active[int((cut[0]["t"] + offset + 0.08) * 100): int((after_cut + offset - 0.03) * 100)]
    assert len(gap) >= 5 and gap.mean() < 0.3, f"the broken-off sentence went on: {gap}"

    # Loudness of the sentences as played through the real path, as people hear it: the same
    # EBU R128 meter the sentences were brought to one level with. Its gate leaves out the
    # silence at a segment's ends, so where PulseAudio's latency puts a sentence a few frames
    # early or late does not count (an unweighted RMS of the loudest frames moved by 2 dB with it).
    loudness = []
    for item in played:
        if item["sound"].startswith("tone:") or item["sound"] == cut[0]["sound"]:
            continue   # a tone, or a fragment of a sentence (its loudness is the whole one's)
        a = int((item["t"] + offset - 0.1) * RATE)
        segment = samples[max(0, a): a + int((item["duration"] + 0.2) * RATE)]
        loudness.append(round(loudness_lufs(segment, RATE), 2))
    assert max(loudness) - min(loudness) < 1.5, loudness


def test_a_sound_device_that_disappears_and_comes_back(pulse_server, tmp_path):
    """Coaching goes on without sound, the loss is logged once, sound returns without a restart."""
    server = pulse_server.start()
    command = RUGCOACH + ["run", "--simulate", "--protocol", str(ROOT / "tests/data/e2e.yaml"),
                          "--events", "-", "--seed", "8"]  # no --audio: the configured default
    process = subprocess.Popen(command, cwd=ROOT, env=server.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "state" and events[-1]["state"] == "measuring_rest":
            break
    server.kill()                       # the USB speaker is pulled
    time.sleep(4)
    server.start()                      # and plugged in again
    raw = tmp_path / "after.raw"
    recorder = server.record(raw, RATE)
    try:
        for line in process.stdout:
            events.append(json.loads(line))
        process.wait(timeout=patience(240))
    finally:
        recorder.terminate()
        recorder.wait(timeout=patience(5))
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    reps = [e for e in events if e["type"] == "rep"]
    assert len(reps) == 2 and events[-1]["type"] == "say", "the coaching went on to the end"
    assert stderr.count("sound lost") == 1, stderr
    assert stderr.count("sound is back") == 1, stderr
    samples = np.frombuffer(raw.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    voiced_s = (levels_db(samples) > -45).sum() * 0.01
    assert voiced_s > 5, "speech was heard again after the device came back"
