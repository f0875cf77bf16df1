"""Something the box says between sessions that is no part of coaching: the console's setup code.

Said on the samples' clock through a speech timeline, as the calibration's prompts are: one
sentence after the other, played as the samples come, so the main loop never waits for it.
It is no event and is never logged: only who stands by the box hears it."""

from __future__ import annotations

from coach.core.voice import Priority, SpeechTimeline, sentences


class Announcement:
    def __init__(self, text: str, sounds, sink, t: float, stopped=lambda: False):
        self.sounds = sounds
        self.sink = sink
        self.voice = SpeechTimeline(sounds.duration)
        # a digit is a sentence: ten of them, cached for good; `stopped` between sentences keeps
        # the watchdog fed (and SIGTERM heard) while a slow box synthesises them the first time
        sounds.prepare(sentences(text), stopped=stopped)
        sink.start()
        self.voice.say(text, Priority.SAFETY)
        self.feed(t)

    def feed(self, t: float) -> bool:
        """The session clock now; True when everything has been said."""
        for started in self.voice.poll(t):
            self.sink.play(started.t, self.sounds.samples(started.item.line))
        return not self.voice.busy(t)

    def close(self) -> None:
        self.sink.close(max_wait_s=1.0)
