"""Loudness as people hear it: EBU R128 integrated loudness (ITU-R BS.1770, via pyloudnorm), in
LUFS. Synthesised and recorded sentences are both brought to TARGET_LUFS, so the coach's voice
does not jump in level from one sentence to the next, whoever or whatever speaks it."""

from __future__ import annotations

from typing import Any

import numpy as np

TARGET_LUFS = -21.0   # about where espeak-ng's sentences stood at -20 dBFS RMS (their median)
GATE_S = 0.4          # BS.1770 measures in 400 ms blocks

_meters: dict[int, Any] = {}


def loudness_lufs(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness. A sound shorter than one 400 ms block ("Drie.") is measured repeated:
    its loudness is its own, the gate needs the length."""
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) == 0 or not np.any(samples):
        return float("-inf")
    block = int(GATE_S * rate) + 1
    if len(samples) < block:
        samples = np.tile(samples, block // len(samples) + 1)
    meter = _meters.get(rate)
    if meter is None:
        # imported when first measured (a new sentence, a recording): pyloudnorm brings scipy,
        # some 70 MB that a daemon with its sentences cached never needs
        import pyloudnorm
        meter = _meters[rate] = pyloudnorm.Meter(rate)
    return float(meter.integrated_loudness(samples))
