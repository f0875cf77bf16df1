"""A sentence recorded through the console in Debian's Chromium, with a fake microphone fed from
a WAV file (another voice than the coach's, with silence around the words): the browser's
MediaRecorder WebM goes to the box, which keeps it trimmed and at the synthesised sentences'
loudness. The recordings can be chosen as the box's voice at once, and a choice made while the
box's answer is on its way is kept."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from coach.adapters.loudness import TARGET_LUFS, loudness_lufs
from coach.adapters.speech import SAMPLE_RATE
from coach.adapters.voice_pack import VoicePack
from coach.sim.takes import fake_microphone
from tests.app.test_control import Box
from tests.console.conftest import ADMIN, ConsoleUnderTest
from tests.helpers.browser import CHROMIUM_ARGS, launch_browser
from tests.patience import patience

pytestmark = pytest.mark.slow

SENTENCE = "Goedendag."   # the first sentence a session says: the first the console asks for
SILENCE_S = 6.0   # after the sentence in the microphone's file, which Chromium plays in a loop


@pytest.fixture
def microphone(tmp_path):
    """What the fake microphone hears: the sentence, then silence long enough that the file
    (which Chromium loops) does not start again during the take."""
    return fake_microphone(SENTENCE, tmp_path, SILENCE_S)


@pytest.fixture
def browser(microphone):
    path, _seconds = microphone
    yield from launch_browser(CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                               f"--use-file-for-fake-audio-capture={path}"])


def take(page, seconds: float) -> None:
    page.click("#voice-record")
    expect(page.locator("#voice-stop")).to_be_visible()
    page.wait_for_timeout(int(seconds * 1000))
    page.click("#voice-stop")
    expect(page.locator("#voice-keep")).to_be_visible()
    expect(page.locator("#voice-listen")).to_be_visible()   # heard back before it is kept
    page.click("#voice-keep")
    expect(page.locator("#voice-state")).to_contain_text("Bewaard", timeout=patience(60_000))


def test_a_sentence_recorded_through_the_browser_is_kept_trimmed_and_at_the_right_loudness(
        browser, microphone, tmp_path):
    _path, spoken_s = microphone
    box = Box(tmp_path)   # the daemon: it says which voices the box has
    box.start()
    console = ConsoleUnderTest(tmp_path / "state", box.socket).start()
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
        take(page, spoken_s + 1.0)   # the sentence, and a second of room
        expect(page.locator("#voice-count")).to_contain_text("1 van de")
        assert page.locator("#voice-sentence").inner_text() != SENTENCE, "on to the next sentence"
        assert float(page.locator("#voice-progress").get_attribute("value") or 0) == 1
        # the recordings can be chosen as the box's voice at once, without loading the page again
        expect(page.locator("#speech-voice option[value=praktijk]")).to_have_count(1)
        expect(page.locator("#speech-recorded")).to_contain_text('"praktijk"')
        counted = page.locator("#speech-recorded").inner_text()

        # a voice chosen while the box's answer to the next take is on its way stays chosen: the
        # answer is held until the therapist has chosen, then let through
        held = []
        page.route("**/api/settings", lambda route: held.append(route))
        take(page, spoken_s + SILENCE_S + 0.5)   # a whole turn of the microphone's file: the sentence is in it
        expect(page.locator("#voice-count")).to_contain_text("2 van de")
        for _ in range(int(patience(100))):   # Playwright hands over the request while it waits
            if held:
                break
            page.wait_for_timeout(100)
        assert len(held) == 1, "the take asks the box for the voices it has now"
        page.select_option("#speech-voice", "praktijk")
        page.fill("#speech-volume", "80")
        with page.expect_response("**/api/settings"):
            held[0].continue_()
        expect(page.locator("#speech-recorded")).not_to_have_text(counted)   # the answer has arrived
        expect(page.locator("#speech-voice")).to_have_value("praktijk")
        expect(page.locator("#speech-volume")).to_have_value("80")
    finally:
        context.close()
        console.stop()
        box.stop()
        box.close()
    assert errors == []
    stored = VoicePack.named(tmp_path / "state", "praktijk").audio("welcome", SENTENCE)
    assert stored is not None, "kept in the pack"
    seconds = len(stored) / SAMPLE_RATE
    assert 0.3 < seconds < spoken_s, f"trimmed: {seconds:.2f} s of {spoken_s + 1.0:.2f} s recorded"
    assert abs(loudness_lufs(stored, SAMPLE_RATE) - TARGET_LUFS) <= 1.0
