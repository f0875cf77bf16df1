"""Audio outputs ("sinks"), CONTRACT section 2: a sound device, a WAV file, or nothing.

Only sinks play; the speech timeline in the core has already decided *when*. A device sink plays
at once (the session runs in real time then); a WAV sink places each sound at its session time,
so the file holds the whole session's audio on the session timeline.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from coach.adapters.speech import SAMPLE_RATE, write_wav
from coach.errors import DeviceError

log = logging.getLogger(__name__)


class NullSink:
    """--audio none: nothing is played; the session runs as fast as the samples come."""

    realtime = False

    def start(self) -> None:
        pass

    def play(self, t: float, samples: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


class WavSink:
    """--audio wav:PATH: the session's audio, each sound at its moment on the session clock."""

    realtime = False

    def __init__(self, path: Path):
        self.path = path
        self._parts: list[tuple[int, np.ndarray]] = []

    def start(self) -> None:
        pass

    def play(self, t: float, samples: np.ndarray) -> None:
        self._parts.append((int(round(t * SAMPLE_RATE)), samples))

    def close(self) -> None:
        end = max((start + len(s) for start, s in self._parts), default=0) + SAMPLE_RATE // 2
        timeline = np.zeros(end, dtype=np.float32)
        for start, samples in self._parts:
            timeline[start:start + len(samples)] += samples
        write_wav(self.path, timeline)


class DeviceSink:
    """A sound card through sounddevice (PortAudio): one output stream, owned here.

    The stream's callback mixes whatever is playing; `play` only hands a sound over. Sounds never
    overlap in practice (the timeline sees to that), but the mixer would sum them without clicks.
    """

    realtime = True

    def __init__(self, device: str | int | None = None, latency: float = 0.2):
        import sounddevice as sd

        self._sd = sd
        self.device = device
        self.requested_latency = latency  # generous: a Raspberry Pi must never underrun
        self._lock = threading.Lock()
        self._playing: list[list] = []  # [samples, position]
        self.stream = None
        self.latency = 0.0
        # Check the device now, so a missing speaker is reported before anything else happens;
        # the stream itself is opened by start(), once speech is ready (synthesis would starve it).
        try:
            if device is None and sd.default.device[1] < 0:
                raise DeviceError("no sound device found")
            sd.check_output_settings(device=device, channels=1, dtype="float32", samplerate=SAMPLE_RATE)
        except DeviceError:
            raise DeviceError("no sound device found: connect a speaker, or use --audio wav:FILE "
                              "or --audio none") from None
        except (sd.PortAudioError, ValueError) as exc:
            raise self._cannot_open(exc) from None

    def _cannot_open(self, exc: Exception) -> DeviceError:
        name = f"'{self.device}'" if self.device is not None else "the default sound device"
        return DeviceError(f"cannot open {name} ({exc}); list devices with 'python -m sounddevice', "
                           "or use --audio wav:FILE or --audio none")

    def start(self) -> None:
        if self.stream is not None:
            return
        sd = self._sd
        try:
            self.stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                          device=self.device, latency=self.requested_latency,
                                          callback=self._callback)
            self.stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise self._cannot_open(exc) from None
        self.latency = float(self.stream.latency)

    def play(self, t: float, samples: np.ndarray) -> None:
        self.start()
        with self._lock:
            self._playing.append([samples, 0])

    def _callback(self, out, frames, _time, status) -> None:
        if status.output_underflow:
            log.debug("audio output underflow")
        out.fill(0)
        with self._lock:
            still = []
            for item in self._playing:
                samples, position = item
                chunk = samples[position:position + frames]
                out[:len(chunk), 0] += chunk
                item[1] = position + len(chunk)
                if item[1] < len(samples):
                    still.append(item)
            self._playing = still

    def idle(self) -> bool:
        with self._lock:
            return not self._playing

    def close(self) -> None:
        # Let the last sentence finish (SIGTERM too: the patient never hears a word cut off).
        if self.stream is None:
            return
        deadline = time.monotonic() + 10
        while not self.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(self.latency + 0.05)
        self.stream.stop()
        self.stream.close()
        self.stream = None


def open_sink(spec: str):
    """`default`, a device name or number, `wav:PATH` or `none`."""
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
    return DeviceSink(device)
