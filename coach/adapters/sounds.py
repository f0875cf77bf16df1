"""The sounds the coach asks for, as `Line`s (coach.core.voice): a sentence with its phrase key,
or a tone ("tone:NAME"), as samples to play and as lengths for the speech timeline.

A sentence comes from a chain of voices, the first that has it: a recorded voice pack (the
therapist's own voice, when there is one) before synthesis, which has every sentence. Each link
answers `audio(line)` with samples, or None for a line it does not have."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from coach.adapters import tones
from coach.adapters.speech import SAMPLE_RATE, PhraseCache
from coach.core.voice import Line


class Voice(Protocol):
    name: str   # said in the session's record: which voice spoke

    def audio(self, line: Line) -> np.ndarray | None: ...

    def prepare(self, texts: Iterable[str], stopped: Callable[[], bool]) -> int: ...

    def refresh(self) -> bool: ...


class SynthesisedVoice:
    """espeak-ng through the phrase cache: every sentence, by its text."""

    name = "espeak-ng"

    def __init__(self, cache: PhraseCache):
        self.cache = cache

    def audio(self, line: Line) -> np.ndarray:
        return self.cache.audio(line.text)

    def refresh(self) -> bool:
        return False

    def prepare(self, texts: Iterable[str], stopped: Callable[[], bool]) -> int:
        return self.cache.prerender(texts, stopped=stopped)


class SoundBank:
    """A Line -> audio samples (the first voice of the chain that has it, or a tone), and its
    duration for the timeline."""

    def __init__(self, voices: list[Voice], volume: float = 1.0):
        if not voices:
            raise ValueError("a sound bank needs at least one voice")
        self.voices = voices
        self._tones = {name: tones.load(name, 1.0) for name in tones.NOTES}
        # applied as each sound is handed out: a change is heard from the next sentence (the
        # console's volume, a patient's own), with no sentence synthesised again
        self.volume = volume
        self._lengths: dict[Line, int] = {}
        self.last_voice: str | None = None   # which voice gave the latest samples (the record says it)

    @classmethod
    def synthesised(cls, cache: PhraseCache, volume: float = 1.0) -> SoundBank:
        return cls([SynthesisedVoice(cache)], volume)

    def samples(self, line: Line | str) -> np.ndarray:
        line = Line(line) if isinstance(line, str) else line
        if line.is_tone:
            return self._louder(self._tones[line.text[5:]])
        for voice in self.voices:
            audio = voice.audio(line)
            if audio is not None:
                self._lengths[line] = len(audio)
                self.last_voice = voice.name
                return self._louder(audio)
        raise LookupError(f"no voice has '{line.text}'")   # synthesis, the last link, has all

    def _louder(self, audio: np.ndarray) -> np.ndarray:
        return audio if self.volume == 1.0 else audio * np.float32(self.volume)

    def duration(self, line: Line | str) -> float:
        line = Line(line) if isinstance(line, str) else line
        length = self._lengths.get(line)
        if length is None:
            length = len(self.samples(line))
        return length / SAMPLE_RATE

    def refresh(self) -> None:
        """Before a session: a voice pack changed since (a sentence recorded in the console) is
        read again, and the timeline's durations are measured anew."""
        if any([voice.refresh() for voice in self.voices]):
            self._lengths.clear()

    def prepare(self, texts: Iterable[str], stopped: Callable[[], bool] = lambda: False) -> int:
        """Make every sentence ready before a session (synthesis can take seconds); returns how
        many were new. `stopped` is asked between sentences."""
        texts = list(texts)
        return sum(voice.prepare(texts, stopped) for voice in self.voices)
