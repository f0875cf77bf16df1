"""A patient who is stuck calls the therapist, end to end: a real daemon on a simulated sensor
(a pty), the call in its status for every console, answered over the socket, then resumed."""

from __future__ import annotations

import pytest

from coach.api import methods as api
from tests.app.test_control import Box, wait_for

pytestmark = pytest.mark.slow


class TooMuchAir:
    """Lies down on an empty bladder; once the session begins, pumps it far past the start
    pressure and never opens the valve."""

    def __init__(self):
        self.pumped = False

    def pressure(self, t):
        return 95.0 if self.pumped else 0.5

    def hear(self, event):
        if event.get("type") == "state" and event.get("state") == "positioning":
            self.pumped = True


def test_a_stuck_patient_calls_the_therapist_and_every_console_sees_it(tmp_path):
    box = Box(tmp_path, patient=TooMuchAir(), speed=6.0)
    try:
        client = box.start()
        client.next_session(patient="P-0042", protocol="demo")
        client.start_session()
        assert wait_for(lambda: client.status().help is not None, 120), "no call for the therapist"
        status = client.status()
        assert status.help.reason == "stuck" and status.help.patient == "P-0042"
        assert status.coach.paused == "help"
        assert wait_for(lambda: "Ik roep uw therapeut erbij." in box.said(), 30), box.said()
        other = client.__class__(box.socket).connect()   # a second console sees the same call
        assert other.status().help == status.help
        assert client.call(api.ACKNOWLEDGE_HELP, api.AcknowledgeParams("anna")) == api.Acknowledged(True)
        assert other.status().help is None, "the alert ends in every console"
        assert client.status().coach.paused == "help", "the session waits for the therapist's resume"
        assert client.call(api.ACKNOWLEDGE_HELP, api.AcknowledgeParams("anna")) == api.Acknowledged(False)
        client.resume_session()
        assert wait_for(lambda: client.status().coach is None or client.status().coach.paused is None, 30)
        log = (tmp_path / "daemon.log").read_text()
        assert "is stuck (stuck): the therapist is called" in log and "answered by anna" in log, log
    finally:
        box.close()
