"""The box's settings, changed over the socket as the console does: each checked as `rugcoach
check` checks the config and refused beside its field, kept by the daemon in its state (not in
/etc), in force without a restart (a new sensor port is opened between sessions), and still
there after one."""

from __future__ import annotations

import stat
import subprocess

import pytest

from coach.adapters.control_client import DaemonError
from coach.api import methods as api
from coach.sim.pty_sensor import PtySensor
from tests.app.test_box_survives import Resting
from tests.app.test_control import Box, wait_for
from tests.conftest import ROOT, RUGCOACH

pytestmark = pytest.mark.slow


def test_settings_are_checked_kept_by_the_daemon_and_in_force_without_a_restart(tmp_path):
    box = Box(tmp_path)
    second = None
    config = tmp_path / "config.yaml"   # the installer's defaults: the console's settings go over them
    config.write_text(f"port: {tmp_path / 'pbu'}\nprotocol: demo\n")
    before_text = config.read_text()
    try:
        client = box.start("--config", str(config), port=False)
        before = client.call(api.SETTINGS)
        assert before.name is None and before.volume == 1.0 and before.rate_wpm == 135
        assert before.from_console == [] and "default" in before.sound_devices
        changed = client.call(api.CHANGE_SETTINGS, api.ChangeSettingsParams(
            name="Kamer 2", volume=0.6, rate_wpm=125, correction_gap_s=8))
        assert changed.takes_effect == {"name": "now", "volume": "next_sentence", "rate_wpm": "next_session",
                                        "correction_gap_s": "next_session"}
        assert changed.settings.name == "Kamer 2" and changed.settings.volume == 0.6
        assert client.status().name == "Kamer 2"
        # refused beside the field, and nothing changes
        for params, field in ((api.ChangeSettingsParams(volume=2.0), "volume"),
                              (api.ChangeSettingsParams(rate_wpm=200), "rate_wpm"),
                              (api.ChangeSettingsParams(name="<script>"), "name"),
                              (api.ChangeSettingsParams(port="tcp://evil:1"), "port"),
                              (api.ChangeSettingsParams(correction_gap_s=0.5), "correction_gap_s"),
                              (api.ChangeSettingsParams(voice_pack="geen-pack"), "voice_pack")):
            with pytest.raises(DaemonError) as refused:
                client.call(api.CHANGE_SETTINGS, params)
            assert refused.value.field == field, (params, refused.value)
        assert client.call(api.SETTINGS) == changed.settings
        kept = tmp_path / "state" / "settings.json"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        # a sensor on another port: opened between sessions, no restart
        second = PtySensor(Resting(), rate_hz=25, link=tmp_path / "pbu2")
        second.plug()
        second.start()
        moved = client.call(api.CHANGE_SETTINGS, api.ChangeSettingsParams(port=str(tmp_path / "pbu2")))
        assert moved.takes_effect == {"port": "now"}
        assert wait_for(lambda: client.status().sensor.port == str(tmp_path / "pbu2")
                        and client.status().sensor.connected, 30), client.status().sensor
        # kept across a restart, in the daemon's state; the config file is as the installer left it
        box.stop()
        again = box.start("--config", str(config), port=False)
        assert again.status().name == "Kamer 2" and again.call(api.SETTINGS).rate_wpm == 125
        assert again.status().sensor.port == str(tmp_path / "pbu2")
        assert config.read_text() == before_text
        # `rugcoach check` says which wins
        checked = subprocess.run(RUGCOACH + ["check", str(config)], cwd=ROOT, env=box.env, capture_output=True,
                                 text=True)
        assert checked.returncode == 0, checked.stderr
        assert "settings changed in the console" in checked.stderr and "port" in checked.stderr
        assert "rate_wpm" in checked.stderr
        assert again.call(api.SAY_SAMPLE, api.SaySampleParams(volume=0.8, rate_wpm=140)).saying
        with pytest.raises(DaemonError) as refused:
            again.call(api.SAY_SAMPLE, api.SaySampleParams(rate_wpm=90))
        assert refused.value.field == "rate_wpm"
    finally:
        if second is not None:
            second.stop()
        box.close()
