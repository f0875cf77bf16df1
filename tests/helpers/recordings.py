"""Recordings as a therapist's recorder makes them: another voice (espeak-ng with other settings,
so the tests can tell it from the coach's), at 44.1 kHz in stereo, quieter, with a little room
noise and silence around the words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from coach.adapters.speech import EspeakSynthesizer, PhraseCache
from coach.core.voice import VoiceSettings

OTHER_VOICE = VoiceSettings(voice="nl", rate_wpm=150, pitch=80)


def record(text: str, path: Path, cache_dir: Path, gain: float = 0.3, rate: int = 44100) -> Path:
    voice = PhraseCache(EspeakSynthesizer(), OTHER_VOICE, cache_dir).audio(text).astype(np.float64) * gain
    pad = np.zeros(8000)
    take = np.concatenate([pad, voice, pad])
    take += np.random.default_rng(len(text)).normal(0, 0.0005, len(take))
    take = resample_poly(take, rate // 2450, 22050 // 2450)
    soundfile.write(path, np.stack([take, take], axis=1), rate)
    return path


def tone(path: Path, seconds: float, amplitude: float, rate: int = 44100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, np.clip(amplitude * np.sin(2 * np.pi * 220 * t), -1, 1), rate)
    return path
