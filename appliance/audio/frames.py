"""Telephony framing: 20 ms of mono int16 PCM."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from appliance.speech.stt import Int16Audio

FRAME_MS = 20
SUPPORTED_RATES = (8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)


def samples_per_frame(sample_rate: int, frame_ms: int = FRAME_MS) -> int:
    return sample_rate * frame_ms // 1000


def split_frames(
    audio: Int16Audio, sample_rate: int, frame_ms: int = FRAME_MS
) -> Iterator[Int16Audio]:
    """Cut audio into whole frames; the last one is padded with silence."""
    size = samples_per_frame(sample_rate, frame_ms)
    for start in range(0, len(audio), size):
        frame = audio[start : start + size]
        if len(frame) < size:
            frame = np.concatenate([frame, np.zeros(size - len(frame), dtype=np.int16)])
        yield frame


def ms_of(samples: int, sample_rate: int) -> int:
    return samples * 1000 // sample_rate


def rms_dbfs(audio: Int16Audio) -> float:
    """Loudness relative to full scale; -inf for digital silence."""
    if len(audio) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(audio.astype(np.float64)))))
    return 20.0 * float(np.log10(rms / 32768.0)) if rms > 0 else float("-inf")
