"""Request -> first frame handed to PortAudio, for the phrase cache's real path, on a clocked
sound device. Run by bench/run.py in a subprocess, with a JACK server on its dummy backend
(`jackd -d dummy -r 22050 -p 256`): callbacks on a real clock in 256-frame periods, as an ALSA
card on a Raspberry Pi gives them, which a PulseAudio null sink (bursts of 40 ms to 1.5 s) does not.

The request is what the runner does for every Play the coach asks for: look the sound up in the
SoundBank (a sentence from the phrase cache, which may have to read it back from disk; a
count-down number, recently said, in memory; a tone), then hand it to the sink.

Usage: playback_latency.py DEVICE CACHE_DIR   prints JSON {latency, period_ms, kinds: {kind: [ms]}}"""

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coach.adapters.audio import DeviceSink  # noqa: E402
from coach.adapters.sounds import SoundBank  # noqa: E402
from coach.adapters.speech import EspeakSynthesizer, PhraseCache, VoiceSettings  # noqa: E402

ROUNDS = 40
# a sentence the cache no longer holds in memory (read back from disk), a count-down number
# said a moment ago (in memory), and the hold-start tone
SENTENCES = ["Span nu aan.", "Goed zo. Houd dit vast.", "En ontspan maar.", "Rust even uit.",
             "Nog een klein beetje.", "Vergeet niet te ademen."]


def main() -> None:
    device, cache_dir = sys.argv[1], Path(sys.argv[2])
    cache = PhraseCache(EspeakSynthesizer(), VoiceSettings(), cache_dir)
    cache.MEMORY_PHRASES = 2   # so every sentence below comes from disk, as after a long hold
    sounds = SoundBank.synthesised(cache)
    sounds.prepare(SENTENCES + ["Drie."])
    sink = DeviceSink(device, latency=0.2)
    sink.start()
    time.sleep(0.5)
    rng = random.Random(1)
    # ms from request to first frame, per kind of sound
    requests: dict[str, list[float]] = {"sentence": [], "count": [], "tone": []}
    for n in range(ROUNDS):
        for kind, sound in (("sentence", SENTENCES[n % len(SENTENCES)]), ("count", "Drie."),
                            ("tone", "tone:hold_start")):
            time.sleep(0.1 + rng.random() * 0.1)   # anywhere in the device's period
            before = len(sink.handover_s)
            requested = time.perf_counter()
            sink.play(0.0, sounds.samples(sound), requested_at=requested)
            deadline = time.monotonic() + 2.0
            while len(sink.handover_s) == before and time.monotonic() < deadline:
                time.sleep(0.001)   # this one handed over before the next request: no mix-up
            if len(sink.handover_s) > before:
                requests[kind].append(sink.handover_s[before] * 1000)
        time.sleep(0.3)
    sink.close(max_wait_s=2.0)
    print(json.dumps({"latency": sink.latency, "kinds": requests}))


if __name__ == "__main__":
    main()
