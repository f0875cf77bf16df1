"""The speech timeline: what is said when, on the session clock. Pure: no audio, no sleeping.

The coach asks to say phrases; the timeline decides when each sentence starts so that nothing
overlaps. It is a priority queue of sentences:
- utterances never overlap: a sentence starts only when the previous one (plus a short pause,
  kind to elderly listeners) has ended, counted with its real audio duration;
- a more urgent utterance cuts in at the next sentence boundary; only an urgent correction or
  a safety message (`cuts_in`: the pelvis moving, bearing down, the patient off the bladder)
  breaks off an instruction, an encouragement or a count-down word at once, as a therapist
  would (the owner may say a broken-off sentence again: `take_cuts`, `say_again`);
- an utterance that is no longer true when its turn comes (`still_true` returns False) or whose
  moment has passed (`expires_at`) is dropped, not spoken late.
The audio adapters only play what this timeline starts, at the moment it starts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum


class Priority(IntEnum):
    """Lower is more urgent."""

    SAFETY = 0        # sensor lost, patient off the bladder
    TONE = 1          # hold start / end tones: they mark a moment
    CORRECTION = 2
    INSTRUCTION = 3
    ENCOURAGEMENT = 4
    COUNTDOWN = 5


@dataclass(frozen=True)
class VoiceSettings:
    """How the voice speaks (the config's `voice:`); part of every synthesised phrase's identity."""

    voice: str = "nl"        # espeak-ng language/voice
    rate_wpm: int = 135      # slow and clear for elderly listeners
    pitch: int = 50          # espeak-ng 0-99
    volume: float = 1.0      # 0-1, applied after normalisation


# Between two sentences: 0.6 s, twice what it was. Older listeners follow slow speech best with
# time at sentence boundaries to take a sentence in before the next one comes (the coach's
# speaking rate of 135 words a minute alone does not give that time), and it is the pause a
# therapist leaves between two instructions. Between utterances the same: a correction that waits
# for the end of a sentence comes no later than before.
PAUSE_BETWEEN_SENTENCES = 0.6  # s
PAUSE_BETWEEN_UTTERANCES = 0.6  # s
# A correction or a safety message is about what the patient does now: after a whole sentence it
# waits only this long, not the listener's pause (it tells what to do, not the next instruction).
PAUSE_BEFORE_CORRECTION = 0.3  # s
PAUSE_AFTER_CUT = 0.2           # s: the sentence broken off fades out, then the correction

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """Split a phrase into sentences: the units that a correction may cut in between."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


@dataclass(frozen=True)
class Line:
    """One sentence as the coach means it: the phrase key, which of its wordings, which sentence
    of that wording, and the text. A recorded voice finds its recording by the key, wording and
    part (and knows it is outdated when the text changed); synthesis needs only the text. Tones
    are "tone:NAME" with no key. The key goes with the sentence to the speaker and into the
    `say` event, so nobody has to guess the meaning back from the words."""

    text: str
    key: str | None = None
    wording: int = 0    # which wording of the key (an exercise's setup or instruction list: the entry)
    part: int = 0       # which sentence of that wording

    @property
    def is_tone(self) -> bool:
        return self.text.startswith("tone:")


@dataclass
class Item:
    """One sentence (or tone) waiting for its turn."""

    line: Line
    duration: float
    priority: Priority
    seq: int
    utterance: int
    last_of_utterance: bool
    expires_at: float | None = None
    still_true: Callable[[], bool] | None = None
    on_start: Callable[[float], None] | None = None
    cuts_in: bool = False

    @property
    def sound(self) -> str:
        return self.line.text      # sentence text, or "tone:NAME"

    @property
    def is_tone(self) -> bool:
        return self.line.is_tone


@dataclass
class Started:
    """A sentence or tone that starts playing at session time `t`."""

    t: float
    item: Item


@dataclass
class SpeechTimeline:
    duration_of: Callable[[Line], float]    # audio length of a sentence or tone, in s
    _queue: list[Item] = field(default_factory=list)
    _busy_until: float = 0.0
    _current: Item | None = None
    _seq: itertools.count = field(default_factory=itertools.count)
    _utterances: itertools.count = field(default_factory=itertools.count)
    _cuts: list[Started] = field(default_factory=list)
    _current_end: float = 0.0   # when the current sentence's audio ends (the pause follows it)

    def say(self, text: str, priority: Priority, *, key: str | None = None, wording: int = 0,
            expires_at: float | None = None, still_true: Callable[[], bool] | None = None,
            on_start: Callable[[float], None] | None = None, cuts_in: bool = False) -> int:
        """Queue an utterance (wording `wording` of phrase `key`); `on_start` is called with the
        start time of its first sentence. `cuts_in` (a correction or a safety message only): it
        breaks off a less urgent sentence being spoken instead of waiting for its end."""
        lines = [Line(part, key, wording, index) for index, part in enumerate(sentences(text))]
        return self._queue_lines(lines, priority, expires_at, still_true, on_start,
                                 cuts_in and priority <= Priority.CORRECTION)

    def tone(self, name: str, *, on_start: Callable[[float], None] | None = None,
             expires_at: float | None = None) -> int:
        return self._queue_lines([Line(f"tone:{name}")], Priority.TONE, expires_at, None, on_start)

    def _queue_lines(self, lines, priority, expires_at, still_true, on_start, cuts_in=False) -> int:
        utterance = next(self._utterances)
        for index, line in enumerate(lines):
            self._queue.append(Item(
                line=line, duration=self.duration_of(line), priority=priority, seq=next(self._seq),
                utterance=utterance, last_of_utterance=index == len(lines) - 1,
                expires_at=expires_at, still_true=still_true,
                on_start=on_start if index == 0 else None, cuts_in=cuts_in and index == 0))
        return utterance

    def cuttable(self, now: float) -> bool:
        """Is a sentence being spoken that an urgent correction may break off (an instruction,
        an encouragement, a count-down word: never a tone, a safety message or a correction)?"""
        current = self._current
        return self.speaking(now) and current is not None and current.priority > Priority.CORRECTION

    def take_cuts(self) -> list[Started]:
        """The sentences broken off since the last call, with the moment: the audio fades them out."""
        cuts, self._cuts = self._cuts, []
        return cuts

    def say_again(self, item: Item, still_true: Callable[[], bool]) -> None:
        """Queue a broken-off sentence again, whole, in its old place (before the rest of its
        utterance), as long as `still_true` holds when its turn comes."""
        self._queue.append(Item(item.line, item.duration, item.priority, item.seq, item.utterance,
                                item.last_of_utterance, item.expires_at, still_true))

    def _correction_after_short_pause(self) -> None:
        """A correction queued after a whole sentence starts PAUSE_BEFORE_CORRECTION after it."""
        if self._current is None or not any(item.priority <= Priority.CORRECTION for item in self._queue):
            return
        self._busy_until = min(self._busy_until, self._current_end + PAUSE_BEFORE_CORRECTION)

    def _cut_in(self, now: float) -> None:
        """An urgent correction waits: break off the sentence being spoken."""
        urgent = [item for item in self._queue if item.cuts_in]
        if not urgent or not self.cuttable(now):
            return
        first = min(urgent, key=lambda item: (item.priority, item.seq))
        if (first.expires_at is not None and now > first.expires_at) or \
                (first.still_true is not None and not first.still_true()):
            return   # poll() drops it in its turn; nothing is broken off for it
        assert self._current is not None
        if now < self._current_end:   # mid-sentence: broken off (in the pause after it, nothing is)
            self._cuts.append(Started(now, self._current))
        self._busy_until = min(self._busy_until, now + PAUSE_AFTER_CUT)
        self._current = None

    def cancel(self, predicate: Callable[[Item], bool]) -> None:
        """Drop queued (not yet started) items, e.g. count-down words when a hold is broken off."""
        self._queue = [item for item in self._queue if not predicate(item)]

    def pending(self, priority: Priority | None = None) -> bool:
        return any(priority is None or item.priority == priority for item in self._queue)

    def speaking(self, now: float) -> bool:
        return now < self._busy_until

    def busy(self, now: float) -> bool:
        """Something is being said, or waits to be said."""
        return self.speaking(now) or bool(self._queue)

    def idle_since(self) -> float:
        return self._busy_until

    def poll(self, now: float) -> list[Started]:
        """Start whatever is due at `now`; returns the sentences that start (at most one per call
        unless they are shorter than the step, which a tone followed by speech can be)."""
        started: list[Started] = []
        self._cut_in(now)
        self._correction_after_short_pause()
        while self._queue and now >= self._busy_until:
            item = min(self._queue, key=lambda i: (i.priority, i.seq))
            self._queue.remove(item)
            if item.expires_at is not None and now > item.expires_at:
                self._drop_rest_of(item)
                continue
            if item.still_true is not None and not item.still_true():
                self._drop_rest_of(item)
                continue
            start = max(now, self._busy_until)
            pause = PAUSE_BETWEEN_SENTENCES
            if item.last_of_utterance:
                pause = 0.15 if item.is_tone else PAUSE_BETWEEN_UTTERANCES
            self._busy_until = start + item.duration + pause
            self._current, self._current_end = item, start + item.duration
            started.append(Started(start, item))
            if item.on_start is not None:
                item.on_start(start)
            if self._busy_until > now:
                break
        return started

    def _drop_rest_of(self, item: Item) -> None:
        self._queue = [other for other in self._queue if other.utterance != item.utterance]
