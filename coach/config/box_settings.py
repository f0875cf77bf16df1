"""The box's settings as the practice sets them in the console: kept by the daemon in its own
state (settings.json in the state directory, 0600, written whole by rename), never by editing
/etc by hand. They win over /etc/rugcoach/config.yaml, which stays the installer's defaults;
`rugcoach check` says which of its values the console's settings replace.

Each value is checked as the config's own (coach/config/settings.py), within the range a clinic
needs: a speaking rate elderly listeners follow (115-155 words a minute), a volume that is still
heard (30-100%).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from coach.config.paths import state_dir
from coach.errors import UserError

log = logging.getLogger("rugcoach")
T = TypeVar("T", bound=Any)

FILE_NAME = "settings.json"
_NAME = re.compile(r"^[\w .,'()-]{1,40}$")
_PACK = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str      # English, one line (the console says it in Dutch beside the field)


def path() -> Path:
    return state_dir() / FILE_NAME


def _number(values: dict, field: str, low: float, high: float, problems: list[Problem], integer=False):
    value = values[field]
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        problems.append(Problem(field, f"'{field}' must be a number from {low:g} to {high:g}"))
    elif not low <= value <= high:
        problems.append(Problem(field, f"'{field}' must be from {low:g} to {high:g}, not {value:g}"))
    elif integer and value != int(value):
        problems.append(Problem(field, f"'{field}' must be a whole number"))


def check(values: dict) -> list[Problem]:
    """Every problem of `values` (any subset of the settings), each with its field."""
    problems: list[Problem] = []
    known = {"name", "port", "audio", "correction_gap_s", "voice_pack", "volume", "rate_wpm"}
    for field in sorted(set(values) - known):
        problems.append(Problem(field, f"unknown setting '{field}'"))
    if "name" in values and (not isinstance(values["name"], str) or not _NAME.match(values["name"].strip())):
        problems.append(Problem("name", "'name' must be 1 to 40 letters, digits, spaces or . , ' ( ) -"))
    if "port" in values and values["port"] is not None and (
            not isinstance(values["port"], str) or not values["port"].startswith("/") or ".." in values["port"]
            or "://" in values["port"] or len(values["port"]) > 300):
        problems.append(Problem("port", "'port' must be the sensor's device path (e.g. /dev/serial/by-id/...)"))
    if "audio" in values and (not isinstance(values["audio"], str) or not values["audio"].strip()
                              or len(values["audio"]) > 200 or values["audio"].startswith("wav:")):
        problems.append(Problem("audio", "'audio' must be the name of one of the box's sound devices"))
    if "correction_gap_s" in values:
        _number(values, "correction_gap_s", 3, 30, problems)
    if "voice_pack" in values and values["voice_pack"] is not None and (
            not isinstance(values["voice_pack"], str) or not _PACK.match(values["voice_pack"])):
        problems.append(Problem("voice_pack", "'voice_pack' must be null (the computer voice) or a pack's name"))
    if "volume" in values:
        _number(values, "volume", 0.3, 1.0, problems)
    if "rate_wpm" in values:
        _number(values, "rate_wpm", 115, 155, problems, integer=True)
    return problems


def load(file: Path | None = None) -> dict:
    """The settings kept, checked; a file that does not read or check is said in the log and
    left out (the config's own values then hold: the box still coaches)."""
    file = file or path()
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("the console's settings in %s cannot be read (%s): the config's own values hold", file, exc)
        return {}
    problems = check(values) if isinstance(values, dict) else [Problem("", "not a JSON object")]
    if problems:
        log.error("the console's settings in %s are not valid (%s): the config's own values hold", file,
                  "; ".join(p.message for p in problems))
        return {}
    return values


def save(values: dict, file: Path | None = None) -> None:
    """Kept whole or not at all (a rename), readable by the service only."""
    file = file or path()
    try:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".settings-", suffix=".tmp")   # 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle, indent=2, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
    except OSError as exc:
        raise UserError(f"cannot keep the settings in '{file}': {exc.strerror}") from None


def apply(config: T, values: dict) -> T:
    """The config (coach.config.settings.Config, which imports this module) with the console's
    settings over it."""
    voice = config.voice
    if "volume" in values or "rate_wpm" in values:
        voice = replace(voice, volume=float(values.get("volume", voice.volume)),
                        rate_wpm=int(values.get("rate_wpm", voice.rate_wpm)))
    changed = {name: values[name] for name in ("port", "audio", "correction_gap_s") if values.get(name) is not None}
    if "voice_pack" in values:
        changed["voice_pack"] = values["voice_pack"]
    return replace(config, voice=voice, name=values.get("name", config.name), **changed)


def overridden(_config: object, values: dict) -> list[str]:
    """The config's keys the console's settings replace (for `rugcoach check`)."""
    return [name for name in ("name", "port", "audio", "correction_gap_s", "voice_pack", "volume", "rate_wpm")
            if name in values]
