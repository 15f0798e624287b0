"""Helpers for tests that place simulated calls through the real voice loop."""

from __future__ import annotations

import numpy as np

from appliance.audio.frames import rms_dbfs
from appliance.audio.resample import resample
from appliance.engines import Engines
from appliance.speech.stt import Int16Audio

RATE = 16_000


async def say(engines: Engines, text: str, rate: int = RATE) -> Int16Audio:
    """The caller's words, spoken by the Piper voice at the line rate."""
    speech = await engines.tts.synthesize(text)
    return resample(speech.audio, speech.sample_rate, rate)


def voiced_ms(audio: Int16Audio, rate: int = RATE, *, floor_dbfs: float = -45.0) -> int:
    """How many milliseconds of 20 ms frames are louder than the floor."""
    size = rate // 50
    frames = [audio[i : i + size] for i in range(0, len(audio) - size + 1, size)]
    return 20 * sum(1 for frame in frames if rms_dbfs(frame) > floor_dbfs)


def first_loud_ms(audio: Int16Audio, rate: int = RATE, *, floor_dbfs: float = -40.0) -> int:
    size = rate // 100
    for index in range(0, len(audio) - size + 1, size):
        if rms_dbfs(audio[index : index + size]) > floor_dbfs:
            return index * 1000 // rate
    return -1


def concat(*parts: Int16Audio) -> Int16Audio:
    return np.concatenate(parts)
