"""The daemon's config file (YAML), validated like the protocols. The command line wins over it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from coach.config import box_settings
from coach.config.schema import Number, Problems, Record, Text, decode_text, load_nodes
from coach.core.voice import VoiceSettings
from coach.errors import ProtocolError, UserError

DEFAULT_PATH = Path("/etc/rugcoach/config.yaml")
DEFAULT_PROTOCOL = "fase1"   # without `protocol:` (or --protocol/--exercise): the bundled phase 1

VOICE = Record({
    "voice": (Text(), False),
    "rate_wpm": (Number(80, 250, integer=True, unit="words per minute"), False),
    "pitch": (Number(0, 99, integer=True), False),
    "volume": (Number(0.05, 1.0), False),
})

CONFIG = Record({
    "name": (Text(), False),
    "clinic": (Text(), False),
    "audio": (Text(), False),
    "port": (Text(), False),
    "baudrate": (Number(1200, 2_000_000, integer=True), False),
    "unit": (Text(choices=("mmHg", "kPa", "raw")), False),
    "calibration": (Text(), False),
    "protocol": (Text(), False),
    "patient": (Text(), False),
    "events": (Text(), False),
    "cache_dir": (Text(), False),
    "voice": (VOICE, False),
    "voice_pack": (Text(), False),
    "correction_gap_s": (Number(2, 60, unit="s"), False),
    "progress": (Record({
        "good_fraction": (Number(0.5, 1.0), False),
        "sessions_in_a_row": (Number(1, 10, integer=True), False),
    }), False),
})


@dataclass
class Config:
    name: str | None = None            # the box's name (its room), as the console shows it
    clinic: str | None = None          # the clinic store (coach/clinic): a libpq URL or service=NAME
    audio: str = "default"
    port: str | None = None
    baudrate: int = 115200
    unit: str = "mmHg"
    calibration: str | None = None
    protocol: str | None = None
    patient: str | None = None         # the pseudonym of whoever uses the box now (the records)
    events: str | None = None
    cache_dir: str | None = None
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    voice_pack: str | None = None      # recorded sentences (state dir voices/NAME), synthesis for the rest
    correction_gap_s: float = 5.0      # at least this long between two corrections
    progress: dict = field(default_factory=dict)  # phase criteria: good_fraction, sessions_in_a_row


def load_config(path: str | None) -> Config:
    """`path`, else /etc/rugcoach/config.yaml when it exists, else the built-in defaults; with
    the settings the practice changed in the console over it (coach/config/box_settings.py)."""
    return box_settings.apply(_load_file(path), box_settings.load())


def _load_file(path: str | None) -> Config:
    if path is None:
        if not DEFAULT_PATH.exists():
            return Config()
        path = str(DEFAULT_PATH)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read config '{path}': {exc.strerror}", exit_code=2) from None
    root = load_nodes(decode_text(data, path), path)
    if root is None:
        return Config()
    problems = Problems(path)
    data = CONFIG.check(root, "", problems) or {}   # None only with problems
    if problems.items:
        raise ProtocolError(problems.items)
    voice = VoiceSettings(**(data.pop("voice", None) or {}))
    return Config(voice=voice, **data)
