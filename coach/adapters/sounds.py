"""The sounds the coach asks for, by name: a sentence's text (from the phrase cache) or a tone
("tone:NAME"), as samples to play and as lengths for the speech timeline."""

from __future__ import annotations

import numpy as np

from coach.adapters import tones
from coach.adapters.speech import SAMPLE_RATE, PhraseCache


class SoundBank:
    """Sentence text or "tone:NAME" -> audio samples, and their durations for the timeline."""

    def __init__(self, cache: PhraseCache, volume: float = 1.0):
        self.cache = cache
        self._tones = {name: tones.load(name, volume) for name in tones.NOTES}

    def samples(self, sound: str) -> np.ndarray:
        if sound.startswith("tone:"):
            return self._tones[sound[5:]]
        return self.cache.audio(sound)

    def duration(self, sound: str) -> float:
        if sound.startswith("tone:"):
            return len(self._tones[sound[5:]]) / SAMPLE_RATE
        return self.cache.duration(sound)
