"""Voice packs: the coach's sentences recorded in a person's own voice, one pack per voice, in the
state directory (voices/NAME/). A recording belongs to a phrase key and the exact sentence it
speaks: when a wording changes in phrases.yaml or a protocol, its old recording is never played
for the new words (it is listed as outdated until it is recorded again).

The pack is one link of the voice chain (coach.adapters.sounds): it has the lines recorded, and
synthesis speaks the rest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from coach.adapters.speech import _quantise, _read_wav, _write_wav_atomic
from coach.adapters.voice_index import PackIndex, Recording, read_index
from coach.core.voice import Line
from coach.errors import UserError


class VoicePack(PackIndex):
    """voices/NAME/: index.json (key, sentence, file) and a 16-bit WAV per recorded sentence."""

    MEMORY_SENTENCES = 64   # as the phrase cache: a whole pack is not kept in memory

    def __init__(self, folder: Path):
        super().__init__(folder)
        self._memory: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()   # the latest few

    def _load(self) -> None:
        loaded, stamp = read_index(self.folder)
        if stamp is None:
            return
        self._index, self._loaded = loaded, stamp
        self._memory.clear()

    def refresh(self) -> bool:
        """Read the index again if another process (the console, `voice import`) changed it;
        True when it did. The daemon asks before each session, so a sentence recorded between
        sessions is used in the next one."""
        try:
            stamp = (self.folder / "index.json").stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if stamp == self._loaded:
            return False
        try:
            self._load()
        except UserError:
            return False   # a damaged index: the recordings read before stay in use
        return True

    def audio(self, key: str | None, text: str) -> np.ndarray | None:
        recording = self.find(key, text)
        if recording is None:
            return None
        samples = self._memory.get((recording.key, text))
        if samples is None:
            samples = _read_wav(self.folder / recording.file)
            if samples is None:
                return None   # a damaged file: synthesis speaks it (`voice status` shows it missing)
            self._memory[(recording.key, text)] = samples
            while len(self._memory) > self.MEMORY_SENTENCES:
                self._memory.popitem(last=False)
        return samples

    def add(self, key: str, text: str, samples: np.ndarray, source: str, lufs: float) -> Recording:
        """Store (or replace) the recording of one sentence; the index is written atomically."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest = hashlib.sha256(f"{key}\n{text}".encode()).hexdigest()[:20]
        name = f"{digest}.wav"
        _write_wav_atomic(self.folder / name, _quantise(samples))
        recording = Recording(key, text, name, datetime.now(UTC).isoformat(timespec="seconds"),
                              source, round(lufs, 2))
        # another process (a second console tab, `voice import`) may have added recordings since
        # this pack was read: read them in under a lock, so neither overwrites the other's
        with open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.refresh()
            self._index[(key, text)] = recording
            self._memory.pop((key, text), None)
            self._save_index()
            self._loaded = (self.folder / "index.json").stat().st_mtime_ns
        return recording

    def _save_index(self) -> None:
        data = json.dumps([vars(r) for r in sorted(self._index.values(), key=lambda r: (r.key, r.text))],
                          ensure_ascii=False, indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.folder / "index.json")


class RecordedVoice:
    """The pack as a link of the voice chain: the lines it has, None for the rest."""

    def __init__(self, pack: VoicePack, volume: float = 1.0):
        self.pack = pack
        self.volume = volume
        self.name = f"pack {pack.name}"

    def audio(self, line: Line) -> np.ndarray | None:
        samples = self.pack.audio(line.key, line.text)
        return None if samples is None else samples * np.float32(self.volume)

    def refresh(self) -> bool:
        return self.pack.refresh()

    def prepare(self, texts: Iterable[str], stopped: Callable[[], bool]) -> int:
        return 0   # read when first said: a pack's files are small and on the same card
