"""Audio outputs ("sinks"), CONTRACT section 2: a sound device, a WAV file, or nothing.

Only sinks play; the speech timeline in the core has already decided *when*. A device sink plays
at once (the session runs in real time then); a WAV sink places each sound at its session time,
so the file holds the whole session's audio on the session timeline.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import cast

import numpy as np

from coach.adapters.speech import SAMPLE_RATE, write_wav
from coach.api.status import SoundStatus
from coach.errors import DeviceError

log = logging.getLogger(__name__)


FADE_S = 0.03   # a sentence broken off fades out over this long: no click, and no word goes on


def _faded_at(samples: np.ndarray, position: int) -> np.ndarray:
    """`samples` cut at `position` with a short fade-out (the rest is dropped)."""
    fade = min(int(FADE_S * SAMPLE_RATE), max(0, len(samples) - position))
    kept = samples[:position + fade].copy()
    if fade:
        kept[position:] *= np.linspace(1.0, 0.0, fade, dtype=kept.dtype)
    return kept


class NullSink:
    """--audio none: nothing is played; the session runs as fast as the samples come."""

    realtime = False

    def status(self) -> SoundStatus:
        return SoundStatus("none", True, 0)

    def start(self) -> None:
        pass

    def play(self, t: float, samples: np.ndarray, requested_at: float | None = None) -> None:
        pass

    def cut(self, t: float) -> None:
        pass

    def close(self, max_wait_s: float | None = None) -> None:
        pass


class WavSink:
    """--audio wav:PATH: the session's audio, each sound at its moment on the session clock."""

    realtime = False

    def __init__(self, path: Path):
        self.path = path
        self._parts: list[tuple[int, np.ndarray]] = []

    def status(self) -> SoundStatus:
        return SoundStatus(f"wav:{self.path}", True, 0)

    def start(self) -> None:
        pass

    def play(self, t: float, samples: np.ndarray, requested_at: float | None = None) -> None:
        self._parts.append((int(round(t * SAMPLE_RATE)), samples))

    def cut(self, t: float) -> None:
        """What sounds at session time t fades out there."""
        at = int(round(t * SAMPLE_RATE))
        self._parts = [(start, _faded_at(samples, at - start) if start <= at < start + len(samples) else samples)
                       for start, samples in self._parts]

    def close(self, max_wait_s: float | None = None) -> None:
        end = max((start + len(s) for start, s in self._parts), default=0) + SAMPLE_RATE // 2
        timeline = np.zeros(end, dtype=np.float32)
        for start, samples in self._parts:
            timeline[start:start + len(samples)] += samples
        write_wav(self.path, timeline)


class DeviceSink:
    """A sound card through sounddevice (PortAudio): one output stream, owned here.

    The stream's callback mixes whatever is playing; `play` only hands a sound over. Sounds never
    overlap in practice (the timeline sees to that), but the mixer would sum them without clicks.

    Small callback blocks (256 frames, 12 ms) under a generous buffer (0.2 s, so a Raspberry Pi
    never underruns): a sound handed over reaches PortAudio within one block.

    A missing or vanished device never stops the coaching: with `required=False` a keeper thread
    notices the loss (the stream goes inactive), logs it once, and keeps re-initialising PortAudio
    (which sees devices only at initialisation) until the device is back, then sound resumes.
    """

    realtime = True
    BLOCK = 256
    RETRY_S = 2.0

    def __init__(self, device: str | int | None = None, latency: float = 0.2, required: bool = True):
        import sounddevice as sd

        self._sd = sd
        self.device = device
        self.requested_latency = latency
        self.required = required
        self._lock = threading.Lock()          # guards the mixer
        self._stream_lock = threading.Lock()   # guards opening and closing the stream
        self._playing: list[list] = []         # [samples, position, requested_at]
        self.stream = None
        self.latency = 0.0
        self.handover_s: list[float] = []      # request -> first frame handed to PortAudio
        self.lost_count = 0
        self._available = False
        self._closing = threading.Event()
        self._keeper: threading.Thread | None = None
        self._last_try = 0.0                   # when the keeper last tried to reopen the device
        # Check the device now, so a missing speaker is reported before anything else happens;
        # the stream itself is opened by start(), once speech is ready (synthesis would starve it).
        problem = self._check()
        if problem is not None:
            if required:
                raise problem
            log.warning("%s; coaching goes on without sound until a device appears", problem)
        else:
            self._available = True

    def _check(self) -> DeviceError | None:
        sd = self._sd
        try:
            if self.device is None and sd.default.device[1] < 0:
                return DeviceError("no sound device found: connect a speaker, or use --audio "
                                   "wav:FILE or --audio none")
            sd.check_output_settings(device=self.device, channels=1, dtype="float32",
                                     samplerate=SAMPLE_RATE)
        except (sd.PortAudioError, ValueError) as exc:
            return self._cannot_open(exc)
        return None

    def _cannot_open(self, exc: Exception) -> DeviceError:
        name = f"'{self.device}'" if self.device is not None else "the default sound device"
        return DeviceError(f"cannot open {name} ({exc}); list devices with 'python -m sounddevice', "
                           "or use --audio wav:FILE or --audio none")

    def start(self) -> None:
        if self._keeper is None and not self.required:
            self._keeper = threading.Thread(target=self._keep, name="audio-keeper", daemon=True)
            self._keeper.start()
        if self._available and self.stream is None:
            try:
                self._open()
            except DeviceError as exc:
                if self.required:
                    raise
                self._lose(str(exc))

    def _open(self) -> None:
        sd = self._sd
        with self._stream_lock:
            try:
                stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                         device=self.device, latency=self.requested_latency,
                                         blocksize=self.BLOCK, callback=self._callback)
                stream.start()
            except (sd.PortAudioError, ValueError) as exc:
                raise self._cannot_open(exc) from None
            self.stream = stream
            self.latency = float(cast(float, stream.latency))   # one output stream: one figure

    def play(self, t: float, samples: np.ndarray, requested_at: float | None = None) -> None:
        """Hand a sound over; `requested_at` (perf_counter) is when it was asked for, if earlier
        than now (the benchmark counts the lookup of its samples too)."""
        if self.stream is None:
            self.start()
        if self.stream is None:
            return  # no device right now: the coaching goes on, this sound is not heard
        with self._lock:
            self._playing.append([samples, 0, requested_at or time.perf_counter()])

    def cut(self, t: float) -> None:
        """Fade out what is playing now (an urgent correction broke the sentence off). The
        session clock runs with the sound, so "now" is the moment asked for."""
        with self._lock:
            for item in self._playing:
                item[0] = _faded_at(item[0], item[1])

    def _callback(self, out, frames, _time, status) -> None:
        if status.output_underflow:
            log.debug("audio output underflow")
        out.fill(0)
        now = time.perf_counter()
        with self._lock:
            still = []
            for item in self._playing:
                samples, position, requested = item
                if position == 0:
                    self.handover_s.append(now - requested)
                chunk = samples[position:position + frames]
                out[:len(chunk), 0] += chunk
                item[1] = position + len(chunk)
                if item[1] < len(samples):
                    still.append(item)
            self._playing = still

    def _keep(self) -> None:
        """Watch the stream; when the device is gone, wait for it and reopen."""
        while not self._closing.wait(0.25):
            stream = self.stream
            if stream is not None and not stream.active and not self._closing.is_set():
                self._lose("the sound device stopped")
            if self.stream is None and self._retry_due():
                self._reconnect()

    def _retry_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_try < self.RETRY_S:
            return False
        self._last_try = now
        return True

    def _lose(self, reason: str) -> None:
        with self._stream_lock:
            stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.abort()
                stream.close()
        with self._lock:
            self._playing = []
        self.lost_count += 1
        if self._available or self.lost_count == 1:
            log.warning("sound lost (%s); coaching goes on, sound comes back with the device", reason)
        self._available = False
        self._last_try = time.monotonic()

    def _reconnect(self) -> None:
        sd = self._sd
        with self._stream_lock:
            with contextlib.suppress(Exception):
                sd._terminate()   # PortAudio sees devices only at initialisation
            with contextlib.suppress(Exception):
                sd._initialize()
        if self._check() is not None:
            return
        try:
            self._open()
        except DeviceError:
            return
        self._available = True
        log.warning("sound is back (%s)", self.device or "default device")

    def status(self) -> SoundStatus:
        """The sound device: there or not, how often it was lost, its latency."""
        return SoundStatus(str(self.device) if self.device is not None else "default",
                           self._available and self.stream is not None, self.lost_count,
                           round(self.latency * 1000, 1))

    def idle(self) -> bool:
        with self._lock:
            return not self._playing

    def close(self, max_wait_s: float | None = None) -> None:
        """Let the sentence being spoken finish (the patient never hears a word cut off), but
        for no longer than `max_wait_s` (SIGTERM: systemd waits, but not for ever)."""
        deadline = time.monotonic() + (10.0 if max_wait_s is None else max_wait_s)
        self._closing.set()
        if self._keeper is not None:
            self._keeper.join(timeout=2)
        if self.stream is None:
            return
        while not self.idle() and time.monotonic() < deadline and self.stream.active:
            time.sleep(0.02)
        time.sleep(min(self.latency + 0.05, max(0.0, deadline - time.monotonic())))
        with contextlib.suppress(Exception):
            self.stream.stop()
            self.stream.close()
        self.stream = None


def open_sink(spec: str, required: bool = True):
    """`default`, a device name or number, `wav:PATH` or `none`.

    `required`: a device asked for on the command line must be there (one-line error otherwise);
    the daemon's configured device is waited for instead, and coaching goes on meanwhile."""
    if spec == "none":
        return NullSink()
    if spec.startswith("wav:"):
        path = Path(spec[4:])
        if not spec[4:]:
            raise DeviceError("--audio wav: needs a file name, e.g. --audio wav:session.wav")
        if not path.parent.exists():
            raise DeviceError(f"cannot write '{path}': folder '{path.parent}' does not exist")
        return WavSink(path)
    device = None if spec == "default" else (int(spec) if spec.isdigit() else spec)
    return DeviceSink(device, required=required)
