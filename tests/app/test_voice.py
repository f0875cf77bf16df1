"""Voice packs without the console: recordings from any recorder, imported, processed, refused
with their reason, counted per programme, and spoken in a session in place of synthesis."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import soundfile

from coach.adapters.loudness import TARGET_LUFS, loudness_lufs
from coach.adapters.recording import RecordingRefused, prepare
from coach.adapters.speech import SAMPLE_RATE
from coach.adapters.voice_pack import VoicePack
from coach.app.voice import import_folder, programme_lines
from coach.app.wiring import make_sounds
from coach.config.settings import Config
from coach.core.voice import Line
from coach.sim.takes import take, tone
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow   # real espeak-ng and real decoding


@pytest.fixture
def takes(tmp_path):
    """A folder as a therapist brings it: good takes named by sentence and by key, and bad ones."""
    folder = tmp_path / "opnames"
    folder.mkdir()
    take("Span nu aan.", folder / "Span nu aan.wav")            # by sentence
    take("En ontspan maar.", folder / "relax.wav", gain=0.8)     # by key, louder
    take("We gaan samen oefenen.", folder / "welcome_2.flac")    # 2nd sentence of a key, FLAC
    tone(folder / "rest.last.wav", 1.0, 0.0)                               # silence
    tone(folder / "praise.wav", 1.0, 1.6)                                  # clipped
    tone(folder / "contract.help.wav", 0.05, 0.5)                          # 50 ms
    (folder / "correction.leak_1.wav").write_bytes(b"RIFF....WAVEfmt not really")   # not audio
    take("Dit zegt de coach nooit.", folder / "Dit zegt de coach nooit.wav")  # unknown
    take("Goed zo.", folder / "hold.start.wav")                 # a key of two sentences
    return folder


def test_import_takes_the_good_and_names_the_rest_with_its_reason(tmp_path, takes, library):
    pack = VoicePack(tmp_path / "voices" / "praktijk")
    lines = [line for lines in programme_lines(library).values() for line in lines]
    report = import_folder(takes, pack, lines, library.phrases)
    taken = {name for name, _ in report.taken}
    assert taken == {"Span nu aan.wav", "relax.wav", "welcome_2.flac"}
    refused = dict(report.refused)
    assert refused["rest.last.wav"].startswith("geen geluid")
    assert refused["praise.wav"].startswith("oversturing")
    assert refused["contract.help.wav"].startswith("te kort")
    assert refused["correction.leak_1.wav"] == "geen geluidsbestand"
    assert refused["Dit zegt de coach nooit.wav"] == "onbekende zin of sleutel"
    assert "hold.start_1 tot hold.start_2" in refused["hold.start.wav"]
    # processed: trimmed, at the playback rate, as loud as the synthesised voice (within 1 LU)
    again = VoicePack(pack.folder)   # from disk
    takes_of = [("contract", "Span nu aan."), ("relax", "En ontspan maar."), ("welcome", "We gaan samen oefenen.")]
    for key, text in takes_of:
        samples = again.audio(key, text)
        assert samples is not None, text
        assert abs(loudness_lufs(samples, SAMPLE_RATE) - TARGET_LUFS) <= 0.5
        assert np.abs(samples[: int(0.01 * SAMPLE_RATE)]).max() < 0.05, "leading silence trimmed"
        assert len(samples) / SAMPLE_RATE < 2.5, "the 0.36 s of silence around the words is gone"


def test_a_session_speaks_the_recording_and_times_it_by_its_own_length(tmp_path, takes, library, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    pack = VoicePack.named(tmp_path / "state", "praktijk")
    import_folder(takes, pack, [line for lines in programme_lines(library).values() for line in lines],
                  library.phrases)
    sounds = make_sounds(Config(voice_pack="praktijk", cache_dir=str(tmp_path / "cache")))
    recorded = Line("Span nu aan.", "contract")
    synthesised = Line("Rust even uit.", "rest")
    assert np.array_equal(sounds.samples(recorded), pack.audio("contract", "Span nu aan."))
    assert sounds.duration(recorded) == pytest.approx(len(pack.audio("contract", "Span nu aan.")) / SAMPLE_RATE)
    plain = make_sounds(Config(cache_dir=str(tmp_path / "cache")))
    assert np.array_equal(sounds.samples(synthesised), plain.samples(synthesised)), "missing: synthesis"
    assert not np.array_equal(sounds.samples(recorded), plain.samples(recorded))
    # the same words under another key need no second recording; other words never get one
    assert np.array_equal(sounds.samples(Line("Span nu aan.", "instruction.other")), sounds.samples(recorded))
    # pack and fill-ins at one level: the spread over a whole programme is at most 1 LU
    levels = [loudness_lufs(sounds.samples(line), SAMPLE_RATE) for line in programme_lines(library)["demo"]]
    assert max(levels) - min(levels) <= 1.0


def test_a_changed_wording_is_never_spoken_with_the_old_recording(tmp_path, takes, library):
    pack = VoicePack(tmp_path / "praktijk")
    lines = [line for lines in programme_lines(library).values() for line in lines]
    import_folder(takes, pack, lines, library.phrases)
    assert pack.audio("relax", "En ontspan maar nu.") is None, "other words: synthesis speaks them"
    assert pack.audio("relax", "En ontspan maar.") is not None


def test_voice_status_per_programme_and_outdated(tmp_path, takes):
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run(RUGCOACH + ["voice", "import", str(takes)], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1, "some files were refused"
    assert "refused  praise.wav: oversturing" in result.stderr and "Traceback" not in result.stderr
    # a wording the therapist has since changed: its recording is outdated, never played
    pack = VoicePack.named(tmp_path / "state", "praktijk")
    pack.add("relax", "En ontspan nu maar.", pack.audio("relax", "En ontspan maar."), "oud.wav", TARGET_LUFS)
    status = subprocess.run(RUGCOACH + ["voice", "status", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    coverage = json.loads(status.stdout)
    demo = coverage["programmes"]["demo"]
    assert demo["recorded"] == 3 and demo["recorded"] + len(demo["missing"]) == demo["sentences"]
    assert coverage["outdated"] == [["relax", "En ontspan nu maar."]]
    text = subprocess.run(RUGCOACH + ["voice", "status"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "demo: 3 of" in text.stdout and "outdated" in text.stdout


def test_bad_recordings_are_refused_with_their_reason_in_dutch(tmp_path):
    with pytest.raises(RecordingRefused, match="geen geluidsbestand"):
        prepare(b"this is text, not sound")
    with pytest.raises(RecordingRefused, match="te zacht"):
        prepare(tone(tmp_path / "zacht.wav", 1.0, 0.005))
    noisy = tmp_path / "ruis.wav"
    rng = np.random.default_rng(3)
    soundfile.write(noisy, rng.normal(0, 0.2, 44100), 44100)
    with pytest.raises(RecordingRefused, match="te veel ruis"):
        prepare(noisy)


def test_the_record_and_the_report_say_which_voice_spoke(tmp_path, takes, library):
    state = tmp_path / "state"
    pack = VoicePack.named(state, "praktijk")
    import_folder(takes, pack, [line for lines in programme_lines(library).values() for line in lines],
                  library.phrases)
    config = tmp_path / "config.yaml"
    config.write_text(f"voice_pack: praktijk\ncache_dir: {tmp_path / 'cache'}\n")
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    result = subprocess.run(RUGCOACH + ["run", "--simulate", "--config", str(config), "--protocol", "demo",
                                        "--audio", "none", "--patient", "P-0042", "--seed", "1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=patience(600))
    assert result.returncode == 0, result.stderr
    from coach.adapters.store import Store
    from coach.report.build import patient_page
    store = Store.reader(state)
    voices = store.sessions("P-0042")[0]["summary"]["voices"]
    page = patient_page(store, "P-0042", None)
    store.close()
    # "Span nu aan." (contract), "En ontspan maar." (relax) and "We gaan samen oefenen." (welcome)
    # were recorded, each said once in the demo (the cue and the relax word are worded in turn)
    assert voices["pack praktijk"] >= 3 and voices["espeak-ng"] > voices["pack praktijk"], voices
    assert f"opgenomen stem praktijk: {voices['pack praktijk']} zinnen" in page
    assert f"computerstem (espeak-ng): {voices['espeak-ng']} zinnen" in page


def test_two_writers_of_one_pack_keep_each_others_recordings(tmp_path):
    """Two console tabs (or the console and `voice import`), each with the pack read before the
    other wrote: neither recording is lost from the index."""
    first, second = VoicePack(tmp_path / "praktijk"), VoicePack(tmp_path / "praktijk")
    sound = np.full(SAMPLE_RATE // 2, 0.1, np.float32)
    first.add("contract", "Span nu aan.", sound, source="console", lufs=-20.0)
    second.add("relax", "En ontspan maar.", sound, source="console", lufs=-20.0)
    assert {r.text for r in VoicePack(tmp_path / "praktijk").recordings()} == {"Span nu aan.", "En ontspan maar."}
    assert first.refresh() and first.find("relax", "En ontspan maar.") is not None
