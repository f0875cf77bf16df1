"""Measure, through the real audio path, the time from a request to play a cached phrase to its
first frame handed to PortAudio. Run by bench/run.py in a subprocess with a private PulseAudio.

Usage: playback_latency.py [LATENCY_S]   prints JSON {latency, handover_ms: [...]}"""

import json
import random
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coach.adapters.audio import DeviceSink  # noqa: E402
from coach.adapters.tones import generate  # noqa: E402


def main() -> None:
    latency = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    sink = DeviceSink(None, latency=latency)
    sink.start()
    time.sleep(0.5)
    sound = generate("tick")  # a cached phrase is already in memory: any array plays the same
    rng = random.Random(1)
    for _ in range(60):
        sink.play(0.0, sound)
        time.sleep(0.1 + rng.random() * 0.1)
    sink.close()
    print(json.dumps({"latency": sink.latency, "handover_ms": [h * 1000 for h in sink.handover_s]}))


if __name__ == "__main__":
    main()
