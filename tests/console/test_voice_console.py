"""The therapist's own voice recorded in the console, against the real server: the sentences in
the order a session says them, a take as a browser sends it (WebM/Opus) processed and kept
(trimmed, at the synthesised sentences' loudness), heard back, and bad takes refused with
their reason in Dutch."""

from __future__ import annotations

import pytest
import soundfile

from coach.adapters.loudness import TARGET_LUFS, loudness_lufs
from coach.adapters.speech import SAMPLE_RATE
from coach.adapters.voice_pack import VoicePack
from coach.sim.takes import as_webm, take, tone

pytestmark = pytest.mark.slow   # real decoding (FFmpeg), real espeak-ng for the takes


def test_a_sentence_recorded_in_the_console_is_kept_trimmed_and_at_the_right_loudness(claimed, tmp_path):
    server, admin = claimed
    overview = admin.get("/api/voice").json
    texts = [s["text"] for s in overview["sentences"]]
    assert overview["pack"] == "praktijk" and overview["in_use"] is False   # no daemon: none in use
    assert overview["total"] == len(texts) > 100 and overview["recorded"] == 0
    # in the order a session says them: the welcome, the first exercise's setup, pumping up,
    # lying still, then the contraction
    order = [texts.index(t) for t in ("Goedendag.", "Ga rustig op uw buik liggen.", "Pomp het kussen op.",
                                      "Lig nu even stil.", "Span nu aan.")]
    assert order == sorted(order), order
    sentence = "Span nu aan."
    wav = take(sentence, tmp_path / "take.wav")
    webm = as_webm(wav, tmp_path / "take.webm")
    kept = admin.post_form("/api/voice/take", [("text", sentence.encode(), None),
                                               ("file", webm.read_bytes(), "opname.webm")])
    assert kept.status == 200, kept.body
    assert kept.json["pack"] == "praktijk" and abs(kept.json["lufs"] - TARGET_LUFS) <= 1.0
    pack = VoicePack.named(server.state, "praktijk")
    stored = pack.audio("contract", sentence)
    assert stored is not None
    raw, rate = soundfile.read(wav)
    assert len(stored) / SAMPLE_RATE < len(raw) / rate - 0.5, "the silence around the words is trimmed"
    assert abs(loudness_lufs(stored, SAMPLE_RATE) - TARGET_LUFS) <= 1.0
    assert admin.get("/api/voice").json["recorded"] == 1
    heard = admin.get("/api/voice/audio?text=" + sentence.replace(" ", "%20"))
    assert heard.status == 200 and heard.headers["content-type"] == "audio/wav" and heard.body[:4] == b"RIFF"
    log = [(e["action"], e["outcome"]) for e in server.console.accounts.access_log()]
    assert ("voice_take", "ok: contract in pack praktijk") in log
    # a wording changed since: its old recording is listed as outdated, never played for new words
    pack.add("contract", "Span nu maar aan.", stored, source="console", lufs=TARGET_LUFS)
    assert admin.get("/api/voice").json["outdated"] == ["Span nu maar aan."]


@pytest.mark.parametrize("make,reason", [
    (lambda path: tone(path, 1.0, 0.0), "geen geluid"),
    (lambda path: tone(path, 1.0, 1.6), "oversturing"),
    (lambda path: tone(path, 0.05, 0.5), "te kort"),
    (lambda path: path.write_bytes(b"\x1aE\xdf\xa3 not really a webm") and path, "geen geluidsbestand"),
    # a playlist that points FFmpeg at a file of the box: no such container is read
    (lambda path: path.write_text("#EXTM3U\n/etc/passwd\n") and path, "geen geluidsbestand"),
])
def test_a_bad_take_is_refused_with_its_reason(claimed, tmp_path, make, reason):
    _server, admin = claimed
    path = tmp_path / "take.wav"
    make(path)
    reply = admin.post_form("/api/voice/take", [("text", b"Span nu aan.", None), ("file", path.read_bytes(), "x")])
    assert reply.status == 400 and reply.json["field"] == "take" and reason in reply.json["error"], reply.body
    assert admin.get("/api/voice").json["recorded"] == 0


def test_a_sentence_no_programme_says_is_refused(claimed, tmp_path):
    _server, admin = claimed
    wav = take("Dit zegt de coach nooit.", tmp_path / "take.wav")
    reply = admin.post_form("/api/voice/take", [("text", b"Dit zegt de coach nooit.", None),
                                                ("file", wav.read_bytes(), "x.wav")])
    assert reply.status == 400 and reply.json["code"] == "unknown"


def test_a_damaged_pack_index_is_said_in_dutch_not_a_traceback(claimed):
    server, admin = claimed
    folder = server.state / "voices" / "praktijk"
    folder.mkdir(parents=True)
    (folder / "index.json").write_text("[{not json")
    reply = admin.get("/api/voice")
    assert reply.status == 409 and reply.json["code"] == "damaged_pack" and "beschadigd" in reply.json["error"]
