"""A voice pack's index (voices/NAME/index.json), read without the audio: which sentences are
recorded, under which key, in which file. What the console needs to show a pack, without
loading numpy into its process (coach.adapters.voice_pack plays and writes the recordings)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from coach.errors import UserError

PACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_PACK = "praktijk"   # where recordings go when the config names no pack yet


@dataclass(frozen=True)
class Recording:
    key: str
    text: str
    file: str
    recorded: str       # ISO date
    source: str         # the file it was imported from, or "console"
    lufs: float


def check_pack_name(name: str) -> str:
    if not PACK_NAME.match(name):
        raise UserError(f"voice pack name '{name}' is not allowed: use 1-64 letters, digits, '-', '_' "
                        "or '.'", exit_code=2)
    return name


def read_index(folder: Path) -> tuple[dict[tuple[str, str], Recording], int | None]:
    """The recordings by (key, sentence), and the index file's mtime (None: no index yet)."""
    index = folder / "index.json"
    try:
        stamp = index.stat().st_mtime_ns
        entries = json.loads(index.read_text(encoding="utf-8"))
        found = {}
        for entry in entries:
            recording = Recording(**entry)
            found[(recording.key, recording.text)] = recording
    except FileNotFoundError:
        return {}, None
    except (ValueError, TypeError) as exc:
        raise UserError(f"{index}: damaged voice pack index ({exc}); import the recordings again",
                        exit_code=2) from None
    return found, stamp


class PackIndex:
    """A pack as its index says it is, at the moment it was read (VoicePack adds its audio)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.name = folder.name
        self._index, self._loaded = read_index(folder)   # _loaded: the index file's mtime when read

    @classmethod
    def named(cls, state: Path, name: str) -> Self:
        return cls(state / "voices" / check_pack_name(name))

    def recordings(self) -> list[Recording]:
        return list(self._index.values())

    def find(self, key: str | None, text: str) -> Recording | None:
        """The recording of this sentence under this key; else the very same words recorded under
        another key (the same sentence need not be recorded twice). Never other words."""
        return find(self._index, key, text)


def find(index: dict[tuple[str, str], Recording], key: str | None, text: str) -> Recording | None:
    if key is not None and (key, text) in index:
        return index[(key, text)]
    return next((r for r in index.values() if r.text == text), None)
