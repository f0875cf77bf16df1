"""A sentence recorded through the console in Debian's Chromium, with a fake microphone fed from
a WAV file (another voice than the coach's, with silence around the words): the browser's
MediaRecorder WebM goes to the box, which keeps it trimmed and at the synthesised sentences'
loudness."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from coach.adapters.loudness import TARGET_LUFS, loudness_lufs
from coach.adapters.speech import SAMPLE_RATE
from coach.adapters.voice_pack import VoicePack
from coach.sim.takes import fake_microphone
from tests.console.conftest import ADMIN, ConsoleUnderTest
from tests.helpers.browser import CHROMIUM_ARGS, launch_browser
from tests.patience import patience

pytestmark = pytest.mark.slow

SENTENCE = "Goedendag."   # the first sentence a session says: the first the console asks for


@pytest.fixture
def microphone(tmp_path):
    """What the fake microphone hears: the sentence, then silence long enough that the file
    (which Chromium loops) does not start again during the take."""
    return fake_microphone(SENTENCE, tmp_path)


@pytest.fixture
def browser(microphone):
    path, _seconds = microphone
    yield from launch_browser(CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                               f"--use-file-for-fake-audio-capture={path}"])


def test_a_sentence_recorded_through_the_browser_is_kept_trimmed_and_at_the_right_loudness(
        browser, microphone, tmp_path):
    _path, spoken_s = microphone
    console = ConsoleUnderTest(tmp_path / "state", tmp_path / "no-daemon.sock").start()
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        client = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": ADMIN[0], "password": ADMIN[1]}
        assert client.post("/api/setup", claim).status == 200
        context.add_cookies([{"name": k, "value": v, "domain": "localhost", "path": "/", "secure": True,
                              "httpOnly": True, "sameSite": "Strict"} for k, v in client.cookies.items()])
        page.goto(console.url + "/#/stem")   # the page of one's own voice
        expect(page.locator("#voice-sentence")).to_have_text(SENTENCE, timeout=patience(60_000))
        expect(page.locator("#voice-count")).to_contain_text("0 van de")
        page.click("#voice-record")
        expect(page.locator("#voice-stop")).to_be_visible()
        page.wait_for_timeout(int((spoken_s + 1.0) * 1000))   # the sentence, and a second of room
        page.click("#voice-stop")
        expect(page.locator("#voice-keep")).to_be_visible()
        expect(page.locator("#voice-listen")).to_be_visible()   # heard back before it is kept
        page.click("#voice-keep")
        expect(page.locator("#voice-state")).to_contain_text("Bewaard", timeout=patience(60_000))
        expect(page.locator("#voice-count")).to_contain_text("1 van de")
        assert page.locator("#voice-sentence").inner_text() != SENTENCE, "on to the next sentence"
        assert float(page.locator("#voice-progress").get_attribute("value") or 0) == 1
    finally:
        context.close()
        console.stop()
    assert errors == []
    stored = VoicePack.named(tmp_path / "state", "praktijk").audio("welcome", SENTENCE)
    assert stored is not None, "kept in the pack"
    seconds = len(stored) / SAMPLE_RATE
    assert 0.3 < seconds < spoken_s, f"trimmed: {seconds:.2f} s of {spoken_s + 1.0:.2f} s recorded"
    assert abs(loudness_lufs(stored, SAMPLE_RATE) - TARGET_LUFS) <= 1.0
