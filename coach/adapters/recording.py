"""A recorded sentence made ready to play: decoded, resampled, trimmed, loudness-normalised.

- Decoding is libsndfile's (soundfile): WAV, FLAC, Ogg/Vorbis, Ogg/Opus and MP3, from any
  recorder; what libsndfile cannot read (a browser's WebM/Opus, a phone's M4A) FFmpeg's
  decoders read, through PyAV. Not by hand.
- Run as `python -m coach.adapters.recording IN OUT.wav`, it prepares one recording in a process
  of its own: the console's way, so that a decoder fed a stranger's file runs apart from the
  console, and FFmpeg's 30 MB leave with that process.
- Loudness is EBU R128 (coach.adapters.loudness), the same TARGET_LUFS and peak limiter as the
  synthesised sentences around it (speech.normalise), whatever the microphone.
- A recording that would sound bad is refused with the reason in Dutch, for the therapist who
  recorded it: "te kort", "te zacht", "oversturing", "te veel ruis", "geen geluid".
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from coach.adapters.speech import SAMPLE_RATE, normalise, trim_silence

MIN_SPEECH_S = 0.3          # shorter than this after trimming: no sentence
CLIPPED_FRACTION = 0.001    # this share of samples at full scale: the recorder was overdriven
FULL_SCALE = 0.995
QUIET_PEAK = 0.02           # the loudest moment below this (-34 dBFS): too far from the microphone
MIN_SNR_DB = 20.0           # speech over the noise between the words
MAX_TAKE_S = 120.0          # one sentence; a file that decodes to more is refused, not decoded on
# The only containers FFmpeg may read here (a browser's, a phone's recorder's): no playlist or
# network demuxer, so a stranger's file cannot make the decoder open other files.
FFMPEG_FORMATS = "matroska,webm,ogg,mov,mp4,m4a,3gp,3g2,mj2,wav,flac,mp3,aac"


class RecordingRefused(Exception):
    """A recording that would sound bad; `reason` is for the therapist (Dutch)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}{f' ({detail})' if detail else ''}")
        self.reason = reason


def decode(source: Path | bytes) -> tuple[np.ndarray, int]:
    """Mono float samples and their rate."""
    try:
        data, rate = soundfile.read(io.BytesIO(source) if isinstance(source, bytes) else str(source),
                                    dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return _decode_with_ffmpeg(source)
    return data.mean(axis=1), int(rate)


def _decode_with_ffmpeg(source: Path | bytes) -> tuple[np.ndarray, int]:
    """A browser's or a phone's recording (WebM/Opus, MP4/AAC) through FFmpeg's decoders
    (PyAV), as mono float samples at the stream's own rate."""
    import av  # 30 MB of FFmpeg: loaded only for what libsndfile cannot read
    from av.error import FFmpegError

    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), mode="r",
                     container_options={"format_whitelist": FFMPEG_FORMATS, "protocol_whitelist": "file"}
                     ) as container:
            if not container.streams.audio:
                raise RecordingRefused("geen geluidsbestand")
            stream = container.streams.audio[0]
            rate = int(stream.rate or SAMPLE_RATE)
            resampler = av.AudioResampler(format="dbl", layout="mono", rate=rate)
            chunks, total = [], 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += len(chunks[-1])
                if total > MAX_TAKE_S * rate:   # a small file can decode to hours: stop here
                    raise RecordingRefused("te lang", "neem één zin op")
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except (FFmpegError, ValueError, OSError):
        raise RecordingRefused("geen geluidsbestand") from None
    if not chunks:
        raise RecordingRefused("geen geluid")
    return np.concatenate(chunks).astype(np.float64), rate


def snr_db(samples: np.ndarray, rate: int) -> float:
    """Speech over noise: the loudest 20 ms frames against the quietest (the pauses)."""
    frame = max(1, int(0.02 * rate))
    usable = len(samples) // frame * frame
    if usable < frame * 10:
        return float("inf")   # too short to tell: the length check decides
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1)) + 1e-9
    rms.sort()
    noise = np.mean(rms[: max(1, len(rms) // 10)])
    speech = np.mean(rms[-max(1, len(rms) // 5):])
    return float(20 * np.log10(speech / noise))


def prepare(source: Path | bytes) -> np.ndarray:
    """Float32 mono samples at SAMPLE_RATE, as loud as a synthesised sentence; RecordingRefused
    when it would not sound right."""
    samples, rate = decode(source)
    if len(samples) == 0 or not np.any(samples):
        raise RecordingRefused("geen geluid")
    peak = float(np.max(np.abs(samples)))
    if np.mean(np.abs(samples) >= FULL_SCALE) > CLIPPED_FRACTION:
        raise RecordingRefused("oversturing", "zet de microfoon zachter of spreek verder ervandaan")
    if peak < QUIET_PEAK:
        raise RecordingRefused("te zacht", "spreek dichter bij de microfoon")
    if snr_db(samples, rate) < MIN_SNR_DB:
        raise RecordingRefused("te veel ruis", "neem op in een stille kamer")
    if rate != SAMPLE_RATE:
        divisor = np.gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // divisor, rate // divisor)
    samples = trim_silence(samples / peak, threshold=0.05, pad_s=0.05) * peak
    if len(samples) < MIN_SPEECH_S * SAMPLE_RATE:
        raise RecordingRefused("te kort", f"{len(samples) / SAMPLE_RATE:.2f} s")
    return normalise(samples)


def main(argv: list[str] | None = None) -> int:
    """`python -m coach.adapters.recording IN OUT.wav [PACK_DIR KEY SENTENCE]`: one recording
    prepared and written as a pack keeps it (and, given a pack, added to it), and one JSON line
    on stdout: {"seconds", "lufs"}, or {"refused", "detail"}."""
    import json
    import sys

    from coach.adapters.loudness import loudness_lufs
    from coach.adapters.speech import _write_wav_atomic

    args = argv if argv is not None else sys.argv[1:]
    source, out = args[:2]
    try:
        samples = prepare(Path(source))
    except RecordingRefused as exc:
        print(json.dumps({"refused": exc.reason, "detail": str(exc)}, ensure_ascii=False))
        return 0
    lufs = loudness_lufs(samples, SAMPLE_RATE)
    _write_wav_atomic(Path(out), samples)
    if len(args) == 5:
        from coach.adapters.voice_pack import VoicePack
        VoicePack(Path(args[2])).add(args[3], args[4], samples, source="console", lufs=lufs)
    print(json.dumps({"seconds": round(len(samples) / SAMPLE_RATE, 3), "lufs": round(lufs, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
