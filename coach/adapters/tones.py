"""The tones that mark the start and end of a hold.

A WAV file in sounds/ named after the tone (hold_start.wav, hold_end.wav) replaces the built-in
one; otherwise the tone is generated: two soft sine notes with raised-cosine edges (no clicks),
rising for "start", falling for "end", at the same loudness as the speech.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coach.adapters.loudness import TARGET_LUFS, loudness_lufs
from coach.adapters.speech import SAMPLE_RATE, _read_wav

TONE_UNDER_SPEECH_LU = 3.0   # a pure tone sounds louder than speech at the same loudness: 3 LU under it

NOTES = {
    "hold_start": (660.0, 880.0),
    "hold_end": (880.0, 660.0),
    "tick": (1000.0,),
}


def sounds_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sounds"


def generate(name: str, note_s: float = 0.18, gap_s: float = 0.04) -> np.ndarray:
    parts = []
    for frequency in NOTES[name]:
        n = int(note_s * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        note = np.sin(2 * np.pi * frequency * t)
        edge = int(0.02 * SAMPLE_RATE)
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))
        note[:edge] *= ramp
        note[-edge:] *= ramp[::-1]
        parts += [note, np.zeros(int(gap_s * SAMPLE_RATE))]
    # A pure tone's loudness follows from its level (the K-weighting is flat here, 500-1000 Hz):
    # no meter needed, so loading the tones never loads the loudness meter
    signal = np.concatenate(parts[:-1])
    rms = float(np.sqrt(np.mean(signal ** 2)))
    return (signal * 10 ** ((TARGET_LUFS - TONE_UNDER_SPEECH_LU + 0.691) / 20) / rms).astype(np.float32)


def at_tone_level(signal: np.ndarray) -> np.ndarray:
    lufs = loudness_lufs(signal, SAMPLE_RATE)
    if not np.isfinite(lufs):
        return signal.astype(np.float32)
    signal = signal * 10 ** ((TARGET_LUFS - TONE_UNDER_SPEECH_LU - lufs) / 20)
    peak = float(np.max(np.abs(signal)))
    return (signal * min(1.0, 0.9 / peak)).astype(np.float32)


def load(name: str, volume: float = 1.0) -> np.ndarray:
    custom = _read_wav(sounds_dir() / f"{name}.wav")
    samples = at_tone_level(custom) if custom is not None else generate(name)
    return (samples * volume).astype(np.float32)
