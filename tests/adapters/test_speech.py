"""Real espeak-ng synthesis through pyttsx3, and the phrase cache on disk."""

from __future__ import annotations

import numpy as np
import pytest

from coach.adapters import speech
from coach.adapters.loudness import loudness_lufs
from coach.adapters.sounds import SoundBank
from coach.adapters.speech import SAMPLE_RATE, EspeakSynthesizer, PhraseCache, VoiceSettings
from coach.core.vocabulary import session_sentences
from tests.patience import patience

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast


@pytest.fixture(scope="module")
def engine():
    return EspeakSynthesizer()


def test_dutch_speech_is_synthesised_and_cached_across_restarts(engine, tmp_path):
    cache = PhraseCache(engine, VoiceSettings(), tmp_path)
    audio = cache.audio("Span nu aan.")
    assert 0.5 < len(audio) / SAMPLE_RATE < 3.0
    assert cache.synthesised == 1
    again = PhraseCache(engine, VoiceSettings(), tmp_path)  # a restart
    assert np.array_equal(again.audio("Span nu aan."), audio)
    assert again.synthesised == 0


def test_the_configured_rate_slows_the_voice_down(tmp_path):
    """Through `rugcoach say` with two configs, as a therapist would try the voice settings."""
    import subprocess
    import wave

    from tests.conftest import ROOT, RUGCOACH
    seconds = {}
    for rate in (110, 180):
        config = tmp_path / f"config{rate}.yaml"
        config.write_text(f"cache_dir: {tmp_path / 'cache'}\nvoice:\n  rate_wpm: {rate}\n")
        out = tmp_path / f"say{rate}.wav"
        result = subprocess.run(RUGCOACH + ["say", "Trek uw navel rustig naar binnen, naar uw rug.",
                                            "--config", str(config), "--audio", f"wav:{out}"],
                                cwd=ROOT, capture_output=True, text=True, timeout=patience(60))
        assert result.returncode == 0, result.stderr
        with wave.open(str(out)) as wav:
            seconds[rate] = wav.getnframes() / wav.getframerate()
    assert seconds[110] > seconds[180] * 1.3


def test_a_damaged_cache_file_is_rebuilt_not_played(engine, tmp_path):
    cache = PhraseCache(engine, VoiceSettings(), tmp_path)
    good = cache.audio("Rust even uit.")
    path = cache.path('Rust even uit.')
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # half-written
    fresh = PhraseCache(engine, VoiceSettings(), tmp_path)
    rebuilt = fresh.audio("Rust even uit.")
    assert fresh.synthesised == 1, "the damaged file was synthesised again"
    assert len(rebuilt) > 0.75 * len(good), "a whole sentence again, not the half that was left"
    assert PhraseCache(engine, VoiceSettings(), tmp_path).synthesised == 0


def test_all_phrases_of_the_programme_are_equally_loud(engine, tmp_path, library):
    session = library.session(exercise="buiklig-a")
    cache = PhraseCache(engine, VoiceSettings(), tmp_path)
    sounds = SoundBank.synthesised(cache)
    # EBU R128, as a listener hears it; the tones sit 3 LU under the speech
    levels = {text: loudness_lufs(sounds.samples(text), SAMPLE_RATE) for text in set(session_sentences(session))}
    levels["tone:hold_start"] = loudness_lufs(sounds.samples("tone:hold_start"), SAMPLE_RATE) + 3
    spread = max(levels.values()) - min(levels.values())
    assert spread <= 1.0, sorted(levels.items(), key=lambda kv: kv[1])[:3]
    peaks = [np.abs(sounds.samples(text)).max() for text in levels]
    assert max(peaks) <= 0.9


def test_a_cache_file_with_flipped_bits_is_rebuilt_not_played(engine, tmp_path):
    cache = PhraseCache(engine, VoiceSettings(), tmp_path)
    cache.audio("Nog een klein beetje.")
    path = cache.path('Nog een klein beetje.')
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damage in the middle: the WAV header still looks fine
    path.write_bytes(bytes(data))
    fresh = PhraseCache(engine, VoiceSettings(), tmp_path)
    fresh.audio("Nog een klein beetje.")
    assert fresh.synthesised == 1


def test_the_engine_version_is_part_of_the_key(engine):
    assert "espeak-ng-1." in engine.version


def test_memory_holds_the_recent_phrases_and_every_length(engine, tmp_path):
    """A whole programme is not kept in memory (some 40 MB): the last phrases are, and every
    phrase's length, so the timeline never waits for the disk to learn how long a sentence is."""
    texts = [f"Herhaling {n}." for n in range(1, 8)]
    PhraseCache(engine, VoiceSettings(), tmp_path).prerender(texts)  # synthesised once
    fresh = EspeakSynthesizer()
    cache = PhraseCache(fresh, VoiceSettings(), tmp_path)
    cache.MEMORY_PHRASES = 3
    cache.prerender(texts)
    assert fresh._engine is None, "all phrases were on disk: espeak-ng was never started"
    assert list(cache._memory) == texts[-3:]
    first = cache.audio(texts[0])   # read back from disk after it left memory: the same audio
    assert np.array_equal(first, PhraseCache(engine, VoiceSettings(), tmp_path).audio(texts[0]))
    assert all(cache.duration(text) == len(cache.audio(text)) / SAMPLE_RATE for text in texts)
    assert cache.synthesised == 0 and len(cache._memory) == 3


def test_before_each_session_only_what_is_gone_is_made_again(engine, tmp_path, monkeypatch):
    """The daemon prepares the programme before every session: sentences read and checked since
    start are not read again (a whole programme from the card, each session, stalled the main
    loop); one whose file has gone since is synthesised again before the session, not during it."""
    texts = [f"Oefening {n}." for n in range(1, 6)]
    cache = PhraseCache(engine, VoiceSettings(), tmp_path)
    cache.MEMORY_PHRASES = 2
    assert cache.prerender(texts) == 5
    reads = []
    read_cached = speech._read_cached
    monkeypatch.setattr(speech, "_read_cached", lambda path: reads.append(path) or read_cached(path))
    assert cache.prerender(texts) == 0 and reads == [], "a prepared programme was read from disk again"
    cache.path(texts[1]).unlink()
    assert cache.prerender(texts) == 1 and len(reads) == 1
