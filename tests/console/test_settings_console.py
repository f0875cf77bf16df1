"""The box's settings and voice from the console, with the real daemon behind it: read, changed
(refused beside the field in Dutch, nothing changed), admin-only where the box is concerned,
and every change in the access log."""

from __future__ import annotations

import pytest

from coach.api import methods as api
from tests.app.test_control import Box, wait_for
from tests.console.conftest import ADMIN, ConsoleUnderTest
from tests.console.test_routes import THERAPIST

pytestmark = pytest.mark.slow


def test_settings_and_voice_from_the_console(tmp_path, clock):
    box = Box(tmp_path)
    console = None
    try:
        daemon = box.start()
        console = ConsoleUnderTest(tmp_path / "state", box.socket, clock).start()
        admin = console.client().before_login()
        code = console.console.setup_code.get()
        assert admin.post("/api/setup", {"code": code, "name": ADMIN[0], "password": ADMIN[1]}).status == 200
        admin.csrf = admin.get("/api/me").json["csrf"]
        assert wait_for(lambda: admin.get("/api/status").json["link"] == "up", 30)
        shown = admin.get("/api/settings")
        assert shown.status == 200 and shown.json["volume"] == 1.0 and "default" in shown.json["sound_devices"]
        named = admin.post("/api/settings", {"name": "Kamer 2", "correction_gap_s": "8"})
        assert named.status == 200, named.body
        assert named.json["takes_effect_nl"] == {"name": "meteen", "correction_gap_s": "vanaf de volgende sessie"}
        assert daemon.status().name == "Kamer 2"
        for body, field, words in (({"rate_wpm": "200"}, "rate_wpm", "115 tot 155"),
                                   ({"volume": "5"}, "volume", "30 tot 100%"),
                                   ({"voice_pack": "bestaat-niet"}, "voice_pack", "computerstem")):
            refused = admin.post("/api/settings/voice", body)
            assert refused.status == 400 and refused.json["field"] == field and words in refused.json["error"], \
                refused.body
        refused = admin.post("/api/settings", {"name": "<b>Kamer</b>"})
        assert refused.status == 400 and refused.json["field"] == "name"
        assert daemon.call(api.SETTINGS).name == "Kamer 2", "a refusal changes nothing"
        # calibration from the box's page: started, refused twice, cancelled
        refused = admin.post("/api/calibration", {"span_mmhg": 500})
        assert refused.status == 400 and refused.json["field"] == "span_mmhg"
        assert admin.post("/api/calibration", {"span_mmhg": 40}).status == 200
        assert daemon.status().calibration.step == "zero"
        again = admin.post("/api/calibration", {"span_mmhg": 40})
        assert again.status == 409 and "gekalibreerd" in again.json["error"], again.body
        assert admin.post("/api/calibration/cancel", {}).json == {"cancelled": True}
        assert daemon.status().calibration is None
        # a therapist sets the voice, not the box
        made = admin.post("/api/accounts", {"name": THERAPIST[0], "password": THERAPIST[1], "role": "therapist",
                                            "my_password": ADMIN[1]})
        assert made.status == 200, made.body
        therapist = console.client()
        assert therapist.login(*THERAPIST).status == 200
        assert therapist.post("/api/settings", {"name": "Kamer 3"}).status == 403
        voice = therapist.post("/api/settings/voice", {"volume": "0,7", "rate_wpm": "125"})
        assert voice.status == 200, voice.body
        assert voice.json["takes_effect_nl"] == {"volume": "vanaf de volgende zin",
                                                 "rate_wpm": "vanaf de volgende sessie"}
        assert therapist.post("/api/settings/say", {"volume": 0.7, "rate_wpm": 125}).status == 200
        # a patient who hears poorly: their own volume and rate, in their sessions
        assert therapist.post("/api/patients", {"pseudonym": "P-9"}).status == 200
        refused = therapist.post("/api/patients/P-9/voice", {"volume": 0.5, "rate_wpm": "200"})
        assert refused.status == 400 and refused.json["field"] == "rate_wpm", refused.body
        assert therapist.post("/api/patients/P-9/voice", {"volume": 0.5, "rate_wpm": "120"}).status == 200
        assert therapist.get("/api/patients/P-9").json["rate_wpm"] == 120
        assert therapist.post("/api/next", {"patient": "P-9", "protocol": "demo"}).status == 200
        upcoming = daemon.status().next
        assert (upcoming.patient, upcoming.volume, upcoming.rate_wpm) == ("P-9", 0.5, 120)
        assert therapist.post("/api/next", {"patient": "P-10", "protocol": "demo"}).status == 200
        assert daemon.status().next.rate_wpm == 125, "another patient: the box's own"
        log = {(e["account"], e["action"], e["outcome"]) for e in console.console.accounts.access_log()}
        assert (ADMIN[0], "box_settings", "ok") in log and (THERAPIST[0], "voice_settings", "ok") in log
        assert (THERAPIST[0], "box_settings", "refused: role") in log
        assert (ADMIN[0], "voice_settings", "refused: 400") in log or \
            any(a == ADMIN[0] and act == "voice_settings" and o.startswith("refused") for a, act, o in log)
    finally:
        if console is not None:
            console.stop()
        box.close()
