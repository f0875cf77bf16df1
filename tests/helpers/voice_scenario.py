"""Play a scripted speech scenario through the real path and print what was played, as JSON.

Used by tests/test_voice_playback.py in a subprocess, so PortAudio initialises with the test's
private PulseAudio server. The scenario:
  t=0.0  an instruction of three sentences
  t=0.3  a correction (must cut in after the first sentence, not mid-word)
  t=0.4  a second correction that is no longer true when its turn comes (must be dropped)
  t=0.5  the hold-start tone
  t=12   a long instruction, and at t=12.6 an urgent correction (the pelvis moved) that breaks it
         off mid-sentence: the sink fades it out, and the correction follows 0.2 s later
"""

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from coach.adapters.audio import DeviceSink  # noqa: E402
from coach.adapters.sounds import SoundBank  # noqa: E402
from coach.adapters.speech import EspeakSynthesizer, PhraseCache, VoiceSettings  # noqa: E402
from coach.core.voice import Priority, SpeechTimeline  # noqa: E402


def main() -> None:
    cache = PhraseCache(EspeakSynthesizer(), VoiceSettings(), Path(tempfile.mkdtemp()))
    sounds = SoundBank.synthesised(cache)
    instruction = "Zo gaat de oefening. Trek uw navel rustig naar binnen. Uw onderrug blijft stil."
    correction, stale = "Niet persen.", "Vergeet niet te ademen."
    long_instruction, urgent = "Schuif nu uw linkerhiel weg, en weer terug.", "Houd uw bekken stil."
    cache.prerender([*instruction.replace(". ", ".|").split("|"), correction, stale, long_instruction, urgent])
    timeline = SpeechTimeline(sounds.duration)
    sink = DeviceSink(None)
    sink.start()
    time.sleep(1.5)  # parec loses the first ~0.8 s after a stream connects to the sink
    script = [
        (0.0, lambda: timeline.say(instruction, Priority.INSTRUCTION)),
        (0.3, lambda: timeline.say(correction, Priority.CORRECTION)),
        (0.4, lambda: timeline.say(stale, Priority.CORRECTION, still_true=lambda: False)),
        (0.5, lambda: timeline.tone("hold_start")),
        (12.0, lambda: timeline.say(long_instruction, Priority.INSTRUCTION)),
        (12.6, lambda: timeline.say(urgent, Priority.CORRECTION, cuts_in=True)),
    ]
    played, cuts = [], []
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        while script and script[0][0] <= now:
            script.pop(0)[1]()
        started_now = timeline.poll(now)
        for cut in timeline.take_cuts():
            sink.cut(cut.t)
            cuts.append({"t": round(cut.t, 3), "sound": cut.item.sound})
        for started in started_now:
            sink.play(started.t, sounds.samples(started.item.line))
            played.append({"t": round(started.t, 3), "sound": started.item.sound,
                           "duration": round(sounds.duration(started.item.line), 3)})
        if not script and not timeline.busy(now):
            break
        time.sleep(0.005)
    sink.close()
    print(json.dumps({"played": played, "cuts": cuts, "stale": stale, "latency": sink.latency,
                      "handover_ms": [round(h * 1000, 2) for h in sink.handover_s]}))


if __name__ == "__main__":
    main()
