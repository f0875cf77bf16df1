"""`make bench`: one line per figure, `name: value unit`. Speeds are ratios, not wall-clock limits."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coach.adapters.speech import EspeakSynthesizer, PhraseCache, VoiceSettings  # noqa: E402
from coach.config.protocols import Library  # noqa: E402
from coach.core.analysis import Analyzer, replay  # noqa: E402
from coach.core.vocabulary import library_sentences  # noqa: E402
from coach.sim.core_run import simulate  # noqa: E402


def report(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.4g} {unit}", flush=True)


def bench_protocols() -> None:
    """Reading and checking the bundled protocols and phrases: the daemon does it in its main
    loop for each programme a therapist chooses."""
    times = []
    for _ in range(20):
        started = time.perf_counter()
        Library()
        times.append((time.perf_counter() - started) * 1000)
    report("protocols_load_median", statistics.median(times), "ms (bundled library, checked)")


def bench_session(library: Library) -> None:
    session = library.session(exercise="buiklig-a")
    simulate(session, seed=0)  # warm up imports and caches
    runs = []
    for seed in range(3):
        started = time.perf_counter()
        events, _, _ = simulate(session, seed=seed)
        runs.append((events[-1]["t"], time.perf_counter() - started))
    session_s, wall = min(runs, key=lambda r: r[1])
    report("session_buiklig_a_length", session_s, "s")
    report("session_simulated_realtime_factor", session_s / wall, "x")
    # the live path: analysis, compensations, state machine and speech timeline, per 50 Hz sample
    # (the simulated patient's own cost is included, so this is an upper bound)
    report("coach_live_cost_per_sample", wall / (session_s * 50) * 1e6, "us")


def bench_analysis(library: Library) -> None:
    exercise = library.exercise("buiklig-a")
    rate, seconds = 100.0, 3600.0
    t = np.arange(1, int(rate * seconds) + 1) / rate
    rng = np.random.default_rng(0)
    p = 70 + 0.6 * np.sin(2 * np.pi * t / 5) + rng.normal(0, 0.15, len(t))
    cycle = t % 30.0
    p -= np.where((cycle > 12) & (cycle < 28), 9.0, 0.0)
    times, values = t.tolist(), np.round(p, 2).tolist()
    # a repetition every 30 s: contract at 10 s into the cycle, relax at 29 s (the trace's cues)
    cues = ["contract" if ti > 15 and 10.0 <= ti % 30.0 < 10.01 else "relax" if 29.0 <= ti % 30.0 < 29.01 else ""
            for ti in times]
    analyzer = Analyzer(exercise.target, exercise.hold_s, exercise.id)
    started = time.perf_counter()
    for _event in replay(analyzer, zip(times, values, cues)):   # the very replay of `rugcoach analyze`
        pass
    wall = time.perf_counter() - started
    report("analysis_realtime_factor_1h_100hz", seconds / wall, "x")
    report("analysis_cost_per_sample", wall / len(times) * 1e6, "us")


def bench_speech(library: Library) -> None:
    engine = EspeakSynthesizer()
    sentences = list(dict.fromkeys(library_sentences(library)))  # the whole bundled programme
    with tempfile.TemporaryDirectory() as scratch:
        cache = PhraseCache(engine, VoiceSettings(), Path(scratch))
        started = time.perf_counter()
        per_sentence = []
        for text in sentences:
            t0 = time.perf_counter()
            cache.audio(text)
            per_sentence.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        audio_s = sum(cache.duration(text) for text in sentences)
        report("speech_prerender_programme", total, "s")
        report("speech_prerender_sentences", len(sentences), "sentences")
        report("speech_synthesis_per_sentence_median", statistics.median(per_sentence) * 1000, "ms")
        report("speech_synthesis_realtime_factor", audio_s / total, "x")
        warm = PhraseCache(engine, VoiceSettings(), Path(scratch))
        started = time.perf_counter()
        for text in sentences:
            warm.audio(text)
        report("speech_warm_cache_load_programme", (time.perf_counter() - started) * 1000, "ms")


def bench_voice_pack(library: Library) -> None:
    """A pack recorded for the whole demo programme: processing time per recorded sentence, the
    loudness spread of pack and synthesised fill-ins, and a session's start with the pack
    against synthesis only (a cold phrase cache both times, in the same run)."""
    from coach.adapters.loudness import loudness_lufs
    from coach.adapters.sounds import SoundBank, SynthesisedVoice
    from coach.adapters.speech import SAMPLE_RATE
    from coach.adapters.voice_pack import RecordedVoice, VoicePack
    from coach.app.voice import import_folder, programme_lines
    from coach.sim.takes import take

    lines = programme_lines(library)["demo"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "takes"
        folder.mkdir()
        recorded = lines[: len(lines) * 2 // 3]    # two thirds recorded, synthesis for the rest
        for line in recorded:
            take(line.text, folder / f"{line.text.replace('/', ' ')}.wav")
        pack = VoicePack(Path(scratch) / "pack")
        started = time.perf_counter()
        result = import_folder(folder, pack, lines, library.phrases)
        report("voice_pack_processing_per_sentence", (time.perf_counter() - started) / len(recorded) * 1000, "ms")
        report("voice_pack_sentences_taken", len(result.taken), "sentences")
        for name, start in (("synthesis_only", False), ("with_pack", True)):
            cache = PhraseCache(EspeakSynthesizer(), VoiceSettings(), Path(scratch) / f"cache-{name}")
            synthesised = SynthesisedVoice(cache)
            bank = SoundBank([RecordedVoice(VoicePack(pack.folder)), synthesised] if start else [synthesised])
            t0 = time.perf_counter()
            for line in lines:
                bank.samples(line)
            report(f"voice_session_start_{name}", time.perf_counter() - t0, "s")
        levels = [loudness_lufs(bank.samples(line), SAMPLE_RATE) for line in lines]
        report("voice_pack_loudness_spread", max(levels) - min(levels), "LU")
        # a take as the console gets it from a browser (WebM/Opus), processed the console's way:
        # in a process of its own (Python, numpy, scipy and FFmpeg started for each take)
        from coach.sim.takes import as_webm
        webm = as_webm(folder / f"{recorded[0].text.replace('/', ' ')}.wav", Path(scratch) / "take.webm")
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = Path(scratch) / "out.wav"
            subprocess.run([sys.executable, "-m", "coach.adapters.recording", str(webm), str(out)],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        report("voice_console_take_processing", statistics.median(times), "s (a browser's WebM, median of 3)")


def bench_playback() -> None:
    """Request -> first frame handed to PortAudio (goal: p95 <= 20 ms), for a sentence from the
    phrase cache, a count-down number and a tone, on JACK's dummy backend: a clocked device with
    256-frame periods (11.6 ms at 22050 Hz), as an ALSA card on a Raspberry Pi. The end-to-end
    tests keep PulseAudio, where what counts is what is heard."""
    import json
    import os
    import shutil
    import subprocess

    if not shutil.which("jackd"):
        print("playback: jackd not installed (make bench installs jackd2); not measured", flush=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, JACK_DEFAULT_SERVER=f"rugcoach-bench-{os.getpid()}", JACK_NO_AUDIO_RESERVATION="1")
        jackd = subprocess.Popen(["jackd", "-n", env["JACK_DEFAULT_SERVER"], "--no-realtime", "-d", "dummy",
                                  "-r", "22050", "-p", "256"], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while subprocess.run(["jack_wait", "-s", env["JACK_DEFAULT_SERVER"], "-c"], env=env,
                                 capture_output=True, text=True).stdout.strip() != "running":
                if jackd.poll() is not None or time.monotonic() > deadline:
                    print("playback: jackd did not start; not measured", flush=True)
                    return
                time.sleep(0.02)
            result = subprocess.run([sys.executable, str(Path(__file__).with_name("playback_latency.py")),
                                     "JACK Audio", scratch], env=env, capture_output=True, text=True, timeout=300)
        finally:
            jackd.terminate()
            jackd.wait(timeout=10)
    if result.returncode != 0:
        print(f"playback: not measured: {result.stderr.strip().splitlines()[-1:]}", flush=True)
        return
    data = json.loads(result.stdout.splitlines()[-1])
    bench_mixer()
    report("portaudio_output_latency_jack", data["latency"] * 1000, "ms (one 256-frame period)")
    everything = []
    for kind, values in data["kinds"].items():
        everything += values
        report(f"playback_request_to_portaudio_{kind}_median", float(np.median(values)), "ms (JACK dummy, 256 frames)")
        report(f"playback_request_to_portaudio_{kind}_p95", float(np.percentile(values, 95)), "ms")
    report("playback_request_to_portaudio_median", float(np.median(everything)), "ms (all kinds)")
    report("playback_request_to_portaudio_p95", float(np.percentile(everything, 95)), "ms (goal <= 20)")


def bench_mixer() -> None:
    """Our share of the hand-over: one callback block mixed (a sentence playing), no device."""
    from types import SimpleNamespace

    from coach.adapters.audio import DeviceSink
    from coach.adapters.tones import generate

    sink = DeviceSink.__new__(DeviceSink)  # the mixer alone: no PortAudio stream
    sink._lock, sink.handover_s = threading.Lock(), []
    out = np.zeros((DeviceSink.BLOCK, 1), dtype=np.float32)
    status = SimpleNamespace(output_underflow=False)
    sound = np.tile(generate("hold_start"), 20)
    sink._playing = [[sound, 0, time.perf_counter()]]
    started = time.perf_counter()
    blocks = 0
    while sink._playing:
        sink._callback(out, DeviceSink.BLOCK, None, status)
        blocks += 1
    report("playback_mix_cost_per_block", (time.perf_counter() - started) / blocks * 1e6, "us")


def bench_serial() -> None:
    """Lines parsed per second on one core, and the reader's CPU at 100 Hz from a real pty."""
    import subprocess

    from coach.adapters.serial_sensor import LineAssembler, SerialSensor

    lines = b"".join(f"{1000 + i * 10},{70 + (i % 50) / 10:.2f}\n".encode() for i in range(400_000))
    assembler = LineAssembler()
    started = time.perf_counter()
    count = 0
    for offset in range(0, len(lines), 4096):
        count += len(assembler.feed(lines[offset:offset + 4096]))
    report("serial_lines_parsed_per_second", count / (time.perf_counter() - started), "lines/s")

    with tempfile.TemporaryDirectory() as scratch:
        link = Path(scratch) / "pbu"
        sim = subprocess.Popen([sys.executable, "-m", "coach", "sensor-sim", "--rate", "100",
                                "--link", str(link), "--seed", "1"],
                               cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
        try:
            sim.stdout.readline()
            sensor = SerialSensor(str(link))
            time.sleep(1.0)
            cpu0, wall0, got0 = time.process_time(), time.perf_counter(), sensor.received
            time.sleep(10.0)
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            got = sensor.received - got0
            sensor.close()
        finally:
            sim.terminate()
            sim.wait(timeout=5)
    report("serial_reader_cpu_at_100hz", cpu / wall * 100, "% of one core")
    report("serial_reader_samples_per_second", got / wall, "samples/s")


def main() -> None:
    library = Library()
    bench_protocols()
    bench_session(library)
    bench_analysis(library)
    bench_speech(library)
    bench_voice_pack(library)
    bench_serial()
    bench_playback()
    from bench.service import bench_daemon, bench_records
    bench_records(library, report)
    bench_daemon(report)
    from bench.console import bench_console
    bench_console(report)
    from bench.clinic import bench_clinic, bench_clinic_daemon, bench_clinic_scale, bench_clinic_visible
    bench_clinic(report)
    bench_clinic_visible(report)
    bench_clinic_daemon(report)
    bench_clinic_scale(report)


if __name__ == "__main__":
    main()
