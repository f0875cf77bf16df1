"""Recorded takes as a therapist's recorder makes them, for the voice-pack tests and benchmark:
another voice than the coach's (espeak-ng with other settings, run directly, so the tests can
tell it from the coach's), at 44.1 kHz in stereo, quieter, with a little room noise and silence
around the words."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly


def take(text: str, path: Path, gain: float = 0.3, rate: int = 44100) -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", "nl", "-s", "150", "-p", "80", "-w", str(raw), text], check=True)
        voice, voice_rate = soundfile.read(raw, dtype="float64")
    voice = voice / max(1e-9, float(np.max(np.abs(voice)))) * gain
    pad = np.zeros(int(0.36 * voice_rate))
    recording = np.concatenate([pad, voice, pad])
    recording += np.random.default_rng(len(text)).normal(0, 0.0005, len(recording))
    divisor = np.gcd(rate, voice_rate)
    recording = resample_poly(recording, rate // divisor, voice_rate // divisor)
    soundfile.write(path, np.stack([recording, recording], axis=1), rate)
    return path


def fake_microphone(text: str, folder: Path, silence_s: float = 6.0) -> tuple[Path, float]:
    """A file for Chromium's fake microphone (`--use-file-for-fake-audio-capture`): the sentence
    at 48 kHz, then silence long enough that the file, which Chromium loops, does not start
    again during a take. The file, and the sentence's length in seconds."""
    spoken = take(text, folder / "spoken.wav", gain=0.3, rate=48000)
    samples, rate = soundfile.read(spoken, dtype="float32")
    padded = np.concatenate([samples, np.zeros((int(silence_s * rate), samples.shape[1]), np.float32)])
    path = folder / "microphone.wav"
    soundfile.write(path, padded, rate, subtype="PCM_16")
    return path, len(samples) / rate


def tone(path: Path, seconds: float, amplitude: float, rate: int = 44100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, np.clip(amplitude * np.sin(2 * np.pi * 220 * t), -1, 1), rate)
    return path


def as_webm(wav: Path, path: Path) -> Path:
    """The take as a browser's MediaRecorder sends it: WebM with Opus at 48 kHz, mono."""
    import av

    samples, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    divisor = np.gcd(rate, 48000)
    mono = resample_poly(mono, 48000 // divisor, rate // divisor).astype(np.float32)
    with av.open(str(path), mode="w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"   # type: ignore[attr-defined]
        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.rate = 48000
        for packet in stream.encode(frame):   # type: ignore[attr-defined]
            container.mux(packet)
        for packet in stream.encode(None):   # type: ignore[attr-defined]
            container.mux(packet)
    return path
