"""espeak-ng says the coach's words as a Dutch therapist does: checked on espeak-ng's own phoneme
output (`espeak-ng -x`) of what the synthesiser is handed, and on a real synthesis (the phoneme
input is read as sounds, not as brackets spelled out)."""

from __future__ import annotations

import subprocess
import wave

import pytest

from coach.adapters.pronunciation import spoken_form
from coach.adapters.speech import EspeakSynthesizer
from coach.core.voice import VoiceSettings


def phonemes(text: str) -> str:
    return subprocess.run(["espeak-ng", "-v", "nl", "-q", "-x", text], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize(("sentence", "wrong", "right"), [
    ("Til nu uw linkerarm op.", "l'INkI:r", "l'INk@r,Arm"),     # LIN-keer-arm -> LINker-arm
    ("Til nu uw rechterarm op.", "r'ExtI:r", "r'Ext@r,Arm"),
    ("Til nu uw linkerbeen op.", "l,INk@rb'e:n", "l'INk@rb,e:n"),   # the stress on the first part
    ("Schuif nu uw rechterhiel langzaam weg.", "r,Ext@rh'il", "r'Ext@rh,il"),
    ("Stop dan, en roep uw therapeut.", "t'I:ra:p,Y:t", "t,e:ra:p'Y:t"),   # te-ra-PEUT
    ("Eén.", "e:e:n", "'e:n"),                                       # one vowel, not two
])
def test_espeak_ng_says_it_right_from_the_spoken_form(sentence, wrong, right):
    assert wrong in phonemes(sentence), "espeak-ng's own reading (if this fails, it was fixed upstream)"
    said = phonemes(spoken_form(sentence))
    assert right in said and wrong not in said, said


def test_the_phrase_book_keeps_its_dutch_spelling(library):
    """Only what espeak-ng is handed changes: the therapist reads and records the real words."""
    texts = [t for wordings in library.phrases.values() for t in wordings]
    for exercise in library.exercises.values():
        texts += [t for wordings in exercise.phrases.values() for t in wordings]
    assert not any("[[" in t for t in texts)
    assert any("linkerarm" in t for t in texts) and any("therapeut" in t for t in texts)


@pytest.mark.slow
def test_the_engine_reads_the_phoneme_input_as_sounds(tmp_path):
    engine = EspeakSynthesizer()
    settings = VoiceSettings()
    lengths = {}
    for name, text in (("plain", "Roep uw fysio."), ("therapist", "Roep uw therapeut.")):
        engine.synthesize(text, settings, tmp_path / f"{name}.wav")
        with wave.open(str(tmp_path / f"{name}.wav")) as wav:
            lengths[name] = wav.getnframes() / wav.getframerate()
    # "[[t,e:ra:p'Y:t]]" spelled out letter by letter would take several seconds
    assert lengths["therapist"] < 2.5 * lengths["plain"], lengths
