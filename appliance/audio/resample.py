"""Sample-rate conversion at the edges (8/16/22.05/48 kHz and friends).

soxr does the work in C; a stream resampler keeps filter state between 20 ms
frames so frame boundaries do not click.
"""

from __future__ import annotations

import numpy as np
import soxr

from appliance.speech.stt import Int16Audio


def resample(audio: Int16Audio, from_rate: int, to_rate: int) -> Int16Audio:
    if from_rate == to_rate or len(audio) == 0:
        return audio
    out = soxr.resample(audio, from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)


class StreamResampler:
    """Frame-by-frame conversion with state carried across calls."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")
        )

    def process(self, frame: Int16Audio, *, last: bool = False) -> Int16Audio:
        if self._stream is None:
            return frame
        return np.asarray(self._stream.resample_chunk(frame, last=last), dtype=np.int16)
