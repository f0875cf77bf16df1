"""The box's settings over the control socket: read them with what may be chosen, change them
(kept by the daemon in its state, coach/config/box_settings.py), and hear the voice they give.

When a change is heard: the volume from the next sentence; the box's name at once; the sensor's
port at once between sessions (else after the session); the voice, the rate, the sound device
and the time between corrections from the next session. Never by a restart.
"""

from __future__ import annotations

import glob
import logging
from typing import Any, Protocol

from coach.api import methods as api
from coach.api.wire import ApiError, ErrorCode
from coach.app.voice import coverage, programme_lines
from coach.config import box_settings
from coach.config.paths import state_dir
from coach.config.settings import load_config
from coach.errors import UserError

log = logging.getLogger("rugcoach")

BY_ID = "/dev/serial/by-id/*"
SAMPLE_SENTENCE = "Goedendag. Zo klinkt de stem van de box."
WHEN = {"name": "now", "volume": "next_sentence", "port": "now", "audio": "next_session",
        "correction_gap_s": "next_session", "voice_pack": "next_session", "rate_wpm": "next_session"}


class Owner(Protocol):
    options: Any
    setup: Any
    runner: Any
    calibration: Any

    def settings_changed(self, changed: set[str]) -> None: ...

    def say_sample(self, text: str, volume: float | None, rate_wpm: int | None) -> None: ...


def sound_devices() -> list[str]:
    """The box's sound outputs, by name (PortAudio through ALSA), and "default"."""
    try:
        import sounddevice as sd

        names = [device["name"] for device in sd.query_devices() if device["max_output_channels"] > 0]
    except Exception as exc:   # noqa: BLE001 - no PortAudio, no ALSA: only the default is offered
        log.info("the sound devices cannot be listed: %s", exc)
        names = []
    return ["default"] + [name for name in names if name != "default"]


def voice_packs() -> list[api.PackChoice]:
    folder = state_dir() / "voices"
    if not folder.is_dir():
        return []
    from coach.adapters.voice_pack import VoicePack
    from coach.config.protocols import Library

    programmes = programme_lines(Library())
    packs = []
    for pack_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            covered = coverage(VoicePack(pack_dir), programmes)["programmes"]
        except (UserError, OSError, ValueError):
            continue
        packs.append(api.PackChoice(pack_dir.name, {n: c["recorded"] for n, c in covered.items()},
                                    {n: c["sentences"] for n, c in covered.items()}))
    return packs


class SettingsEndpoints:
    def __init__(self, daemon: Owner):
        self.daemon = daemon

    def register(self, control) -> None:
        control.register(api.SETTINGS, self.settings)
        control.register(api.CHANGE_SETTINGS, self.change)
        control.register(api.SAY_SAMPLE, self.say_sample)

    def settings(self, _params: api.NoParams | None = None) -> api.BoxSettings:
        # the box's own (the config with the console's settings over it): not the next
        # session's, which may carry a patient's own volume and rate
        config = load_config(self.daemon.options.config)
        kept = box_settings.load()
        present = sorted(glob.glob(BY_ID))
        ports = [api.PortChoice(path, True) for path in present]
        if config.port and config.port not in present:
            ports.append(api.PortChoice(config.port, False))   # set, and not plugged in: "niet gevonden"
        between = self.daemon.runner is None
        return api.BoxSettings(
            config.name, config.port, config.audio, config.correction_gap_s, config.voice_pack,
            config.voice.volume, config.voice.rate_wpm, box_settings.overridden(None, kept), ports,
            sound_devices() if between else [], voice_packs())

    def change(self, params: api.ChangeSettingsParams) -> api.SettingsChanged:
        given = {name: getattr(params, name) for name in WHEN if getattr(params, name) is not None}
        if "voice_pack" in given and given["voice_pack"] == "":
            given["voice_pack"] = None   # the computer voice
        if "name" in given and isinstance(given["name"], str):
            given["name"] = given["name"].strip()
        problems = box_settings.check(given)
        pack = given.get("voice_pack")
        if not problems and pack is not None and not (state_dir() / "voices" / str(pack)).is_dir():
            raise ApiError(ErrorCode.INVALID, f"no voice pack '{pack}' on the box", "voice_pack")
        if problems:
            raise ApiError(ErrorCode.BAD_ARGUMENT, problems[0].message, problems[0].field)
        if not given:
            raise ApiError(ErrorCode.MISSING_ARGUMENT, "give at least one setting to change")
        try:
            box_settings.save({**box_settings.load(), **given})
        except UserError as exc:   # a full card, a read-only state directory
            raise ApiError(ErrorCode.INTERNAL, str(exc)) from None
        log.info("settings changed in the console: %s", ", ".join(f"{k} {v!r}" for k, v in sorted(given.items())))
        self.daemon.settings_changed(set(given))
        when = {name: WHEN[name] for name in given}
        if "port" in when and self.daemon.runner is not None:
            when["port"] = "next_session"
        return api.SettingsChanged(self.settings(), when)

    def say_sample(self, params: api.SaySampleParams) -> api.Saying:
        if self.daemon.runner is not None or self.daemon.calibration is not None:
            raise ApiError(ErrorCode.BUSY, "a patient is being coached or the sensor calibrated: the sample "
                           "sentence after it")
        problems = box_settings.check({name: value for name, value in
                                       (("volume", params.volume), ("rate_wpm", params.rate_wpm)) if value is not None})
        if problems:
            raise ApiError(ErrorCode.BAD_ARGUMENT, problems[0].message, problems[0].field)
        self.daemon.say_sample(SAMPLE_SENTENCE, params.volume, params.rate_wpm)
        return api.Saying(True, SAMPLE_SENTENCE)
