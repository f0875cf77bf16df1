"""Speech synthesis to audio, behind one small interface, with a phrase cache on disk.

`Synthesizer` is the interface (one method: text -> WAV file), so another engine (a neural Dutch
voice, say) can be added without touching the coach. `EspeakSynthesizer` drives pyttsx3 with
espeak-ng's Dutch voice. pyttsx3's own playback shells out to aplay and blocks, so we only ever
use `save_to_file` and play the audio ourselves.

`PhraseCache` keys each sentence by a hash of (text, voice settings, engine and its version), keeps
the normalised audio as WAV files (written atomically, checked on load, rebuilt when damaged) and
pre-renders every sentence a session can say before the patient is waiting for it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import wave
import zlib
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from coach.adapters import pronunciation
from coach.adapters.loudness import TARGET_LUFS, loudness_lufs
from coach.core.voice import VoiceSettings
from coach.errors import UserError

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050        # espeak-ng's native rate; tones and the output stream use it too
PEAK_DBFS = -1.0


class Synthesizer(Protocol):
    name: str
    version: str

    def synthesize(self, text: str, settings: VoiceSettings, path: Path) -> None:
        """Write `text` spoken with `settings` as a mono 16-bit WAV file at `path`."""


class EspeakSynthesizer:
    """pyttsx3 + espeak-ng. One engine, used from one thread only (pyttsx3 hangs otherwise).

    espeak-ng keeps one global state per process, and pyttsx3 queues property changes: with
    fixed settings the rate is exact from the first sentence (measured: 110/135/180 wpm give
    lengths in the ratio of the rates), but switching settings back and forth within one process
    is unreliable. A process therefore speaks with one VoiceSettings; new voice settings mean a
    new process.

    The engine itself is started on the first sentence to synthesise, not before: a box whose
    phrases are all cached never loads espeak-ng's voice data (measured: 5.5 MB of RSS).
    """

    name = "pyttsx3-espeak"

    def __init__(self):
        try:
            import pyttsx3
        except ImportError as exc:  # pragma: no cover - a broken install
            raise UserError(f"speech engine not installed ({exc}); run 'make demo' to set up") from None
        self._pyttsx3 = pyttsx3
        self.version = f"pyttsx3-{getattr(pyttsx3, '__version__', '2')}/{_espeak_version()}/{pronunciation.VERSION}"
        self._engine: Any = None   # a pyttsx3 engine, started on the first sentence to synthesise
        self._synchronize = None
        self._voices: dict = {}
        self._applied: VoiceSettings | None = None
        self._espeak: Any = None

    def _start(self) -> None:
        try:
            self._engine = self._pyttsx3.init("espeak")  # held here: pyttsx3 keeps only a weak reference
        except Exception as exc:  # pyttsx3 raises bare RuntimeError/OSError when espeak-ng is missing
            raise UserError(f"cannot start espeak-ng ({exc}); install it: sudo apt-get install espeak-ng") from None
        self._voices = {v.id: v for v in self._engine.getProperty("voices")}
        try:
            from pyttsx3.drivers import _espeak
            self._synchronize = _espeak.Synchronize
            self._espeak = _espeak
            _read_phonemes(_espeak)
        except (ImportError, AttributeError):  # pragma: no cover - a pyttsx3 without it
            self._synchronize = None
            self._espeak = None

    def _apply(self, settings: VoiceSettings) -> None:
        if settings == self._applied:
            return
        if self._engine is None:
            self._start()
        engine: Any = self._engine
        voice_id = self._voice_id(settings.voice)
        engine.setProperty("voice", voice_id)
        engine.setProperty("rate", settings.rate_wpm)  # pyttsx3 forces 200 wpm at init
        with contextlib.suppress(Exception):
            engine.setProperty("pitch", settings.pitch)
        self._applied = settings
        # pyttsx3's espeak driver applies a property change one utterance late (measured: the
        # first sentence after a change keeps the old rate, the second can come out empty), so a
        # throwaway utterance carries the change before any real one.
        with tempfile.TemporaryDirectory(dir=scratch_dir()) as scratch:
            self._save(".", Path(scratch) / "flush.wav")

    def _voice_id(self, wanted: str) -> str:
        for voice_id, voice in self._voices.items():
            languages = [str(lang) for lang in (voice.languages or [])]
            if voice_id == wanted or wanted in languages or voice_id.endswith("/" + wanted):
                return voice_id
        raise UserError(f"espeak-ng has no voice '{wanted}'; install espeak-ng-data "
                        "or set voice: nl in the config")

    def synthesize(self, text: str, settings: VoiceSettings, path: Path) -> None:
        self._apply(settings)
        spoken = pronunciation.spoken_form(text) if self._espeak is not None else text
        for _attempt in range(3):
            self._save(spoken, path)
            if self._whole(path):
                return
            log.debug("espeak-ng returned no audio for %r; trying again", text)
        raise UserError(f"the speech engine produced no audio for '{text}'")

    @staticmethod
    def _whole(path: Path, patience_s: float = 2.0) -> bool:
        """Whether `path` is a complete WAV with audio. pyttsx3 writes the file from espeak-ng's
        thread (opened empty, then the header, then the audio), which on a loaded machine can
        still be under way when espeak-ng says it is idle: seen once in a loaded run, a sentence
        refused as "no audio" that was being written. So the file is given a moment to be whole
        before the sentence is synthesised again (a WAV of only a header: espeak-ng said nothing)."""
        deadline = time.monotonic() + patience_s
        while True:
            if _read_wav(path) is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _save(self, text: str, path: Path) -> None:
        """Synthesise `text` into `path`, complete when this returns.

        pyttsx3 2.99 runs espeak-ng in its asynchronous retrieval mode: `runAndWait` can return
        before the synthesis has ended, and the WAV file is then written (and "Audio saved to
        ..." printed) from espeak-ng's own thread afterwards. `espeak_Synchronize` returns only
        when that thread is idle, so the file is whole and the print has happened by then: both
        inside the redirection, which keeps the print off stdout (`--events -` is JSON only)."""
        with contextlib.redirect_stdout(io.StringIO()):
            # The rate and pitch straight into espeak-ng, idle at this point, just before the
            # sentence: seen once in a loaded CI run, a whole `rugcoach say` at 110 wpm came out
            # at pyttsx3's forced 200 (its queued property change was lost), and a cached
            # sentence stays as it was made. espeak-ng's settings are one global state per process.
            if self._espeak is not None and self._applied is not None:
                self._espeak.SetParameter(self._espeak.RATE, int(self._applied.rate_wpm), 0)
                with contextlib.suppress(Exception):
                    self._espeak.SetParameter(self._espeak.PITCH, int(self._applied.pitch), 0)
            self._engine.save_to_file(text, str(path))
            self._engine.runAndWait()
            if self._synchronize is not None:
                self._synchronize()


def _read_phonemes(espeak) -> None:
    """Make espeak-ng read `[[...]]` as its own phoneme codes (coach/adapters/pronunciation.py).
    pyttsx3 synthesises through `_espeak.Synth` without the PHONEMES flag; this process has one
    engine, so the flag is added there once, for every sentence."""
    original = espeak.Synth
    if getattr(original, "reads_phonemes", False):
        return

    def synth(text, *args, flags=0, **kwargs):
        return original(text, *args, flags=flags | espeak.PHONEMES, **kwargs)

    synth.reads_phonemes = True   # type: ignore[attr-defined]
    espeak.Synth = synth


def _espeak_version() -> str:
    """espeak-ng's own version: part of the cache key, so an upgrade re-renders every phrase."""
    try:
        from pyttsx3.drivers import _espeak
        return "espeak-ng-" + _espeak.Info(None).decode()
    except Exception:  # pragma: no cover - an unusual build of pyttsx3
        return "espeak-ng"


class PhraseCache:
    """Sentence -> normalised float32 audio at SAMPLE_RATE, synthesised once and kept on disk.

    Memory holds only the lengths of every sentence (the timeline needs them) and the audio of
    the last `MEMORY_PHRASES` spoken: a whole programme in memory is some 40 MB on a box with
    1 GB, while reading a phrase back from disk (page cache, checksum checked) takes about 1 ms."""

    MEMORY_PHRASES = 16

    def __init__(self, synthesizer: Synthesizer, settings: VoiceSettings, directory: Path):
        self.synthesizer = synthesizer
        self.settings = settings
        self.directory = directory
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the phrase cache '{self.directory}': {exc.strerror}") from None
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()   # least recently used first
        self._lengths: dict[str, int] = {}
        self.synthesised = 0  # how many sentences had to be synthesised (not found on disk)

    def key(self, text: str) -> str:
        # the volume is applied as a sentence is played (coach.adapters.sounds): one cache for all
        voice = {name: value for name, value in asdict(self.settings).items() if name != "volume"}
        identity = {"text": text, **voice, "engine": self.synthesizer.name,
                    "engine_version": self.synthesizer.version, "level": f"R128 {TARGET_LUFS:g} LUFS"}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]

    def path(self, text: str) -> Path:
        """The sentence's file in the cache (it may not be there yet)."""
        return self.directory / f"{self.key(text)}.wav"

    def audio(self, text: str) -> np.ndarray:
        cached = self._memory.get(text)
        if cached is not None:
            self._memory.move_to_end(text)
            return cached
        path = self.path(text)
        samples = _read_cached(path)
        if samples is None:
            samples = self._render(text, path)
        self._memory[text] = samples
        self._lengths[text] = len(samples)
        while len(self._memory) > self.MEMORY_PHRASES:
            self._memory.popitem(last=False)
        return samples

    def duration(self, text: str) -> float:
        length = self._lengths.get(text)
        if length is None:
            length = len(self.audio(text))
        return length / SAMPLE_RATE

    def prerender(self, texts, stopped=lambda: False) -> int:
        """Load or synthesise every sentence; returns how many were new. `stopped` is asked
        between sentences, so a SIGTERM during a long first synthesis (minutes on a slow box)
        ends it after the current sentence instead of after all of them."""
        before = self.synthesised
        for text in dict.fromkeys(texts):
            if stopped():
                break
            if text in self._lengths and self.path(text).exists():
                continue   # read and checked since start, still there: not read again before each session
            self.audio(text)
        return self.synthesised - before

    def _render(self, text: str, path: Path) -> np.ndarray:
        with tempfile.TemporaryDirectory(dir=scratch_dir()) as scratch:
            raw_path = Path(scratch) / "raw.wav"
            self.synthesizer.synthesize(text, self.settings, raw_path)
            raw = _read_wav(raw_path)
            if raw is None or len(raw) == 0:
                raise UserError(f"the speech engine produced no audio for '{text}'")
        samples = _quantise(normalise(trim_silence(raw)))
        try:
            _write_wav_atomic(path, samples)
            _write_text_atomic(path.with_suffix(".crc32"), f"{_checksum(samples):08x}\n")
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # a full card: the sentence is said from memory now, and cached another time
            log.warning("the phrase cache is full: '%s' is kept in memory only", text)
        self.synthesised += 1
        return samples


def scratch_dir() -> str | None:
    """Where espeak-ng writes a sentence before it is read back: memory (/dev/shm) where the box
    has it, so synthesis neither wears the SD card nor fails when the card is full; else the
    system's temporary folder."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def trim_silence(samples: np.ndarray, threshold: float = 0.01, pad_s: float = 0.03) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if len(loud) == 0:
        return samples
    pad = int(pad_s * SAMPLE_RATE)
    return samples[max(0, loud[0] - pad): loud[-1] + pad]


def normalise(samples: np.ndarray) -> np.ndarray:
    """Bring a sentence (synthesised or recorded) to TARGET_LUFS, then limit the peaks."""
    samples = samples.astype(np.float64)
    lufs = loudness_lufs(samples, SAMPLE_RATE)
    if np.isfinite(lufs):
        samples = samples * (10 ** ((TARGET_LUFS - lufs) / 20))
    peak_limit = 10 ** (PEAK_DBFS / 20)
    # A soft limiter: below the limit nothing changes, above it peaks bend smoothly towards it.
    over = np.abs(samples) > peak_limit * 0.7
    knee = peak_limit * 0.7
    samples[over] = np.sign(samples[over]) * (
        knee + (peak_limit - knee) * np.tanh((np.abs(samples[over]) - knee) / (peak_limit - knee)))
    return samples.astype(np.float32)


def _checksum(samples: np.ndarray) -> int:
    return zlib.crc32(_to_pcm(samples).tobytes())


def _read_cached(path: Path) -> np.ndarray | None:
    """A cached phrase, or None when it is missing, half-written or damaged (then it is rebuilt,
    never played): the WAV must be complete and match the checksum written beside it."""
    samples = _read_wav(path)
    if samples is None:
        return None
    try:
        expected = int(path.with_suffix(".crc32").read_text().strip(), 16)
    except (OSError, ValueError):
        expected = None
    if expected != _checksum(samples):
        log.warning("phrase cache file %s is damaged; synthesising it again", path.name)
        return None
    return samples


def _read_wav(path: Path) -> np.ndarray | None:
    """Float samples of a mono 16-bit WAV at SAMPLE_RATE, or None if missing or damaged."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, frames = (wav.getnchannels(), wav.getsampwidth(),
                                             wav.getframerate(), wav.getnframes())
            data = wav.readframes(frames)
    except (OSError, EOFError, wave.Error):
        return None
    if width != 2 or rate != SAMPLE_RATE or len(data) != frames * channels * 2 or frames == 0:
        return None
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples


def _to_pcm(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")


def _quantise(samples: np.ndarray) -> np.ndarray:
    """Exactly what the 16-bit file holds, so a phrase sounds the same from memory or disk."""
    return (_to_pcm(samples).astype(np.float32) / 32768.0).astype(np.float32)


def _write_wav_atomic(path: Path, samples: np.ndarray) -> None:
    """Write to a temporary file and rename: a crash never leaves a half-written phrase."""
    pcm = _to_pcm(samples).tobytes()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle, wave.open(handle, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(pcm)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write a whole mono float signal as 16-bit WAV (used for the `wav:` sink): the user's file,
    so it gets the usual permissions (mkstemp would leave it readable by its owner only)."""
    try:
        _write_wav_atomic(path, samples)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)
    except OSError as exc:
        raise UserError(f"cannot write '{path}': {exc.strerror}") from None
