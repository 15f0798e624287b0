"""The STT engine interface's worker slots, with a hook that hangs on purpose.

The fault injected is a recogniser slower than its timeout; the interface
around it (slots, timeout, errors) is the real one.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from appliance.errors import EngineError, ErrorCode
from appliance.speech.stt import Float32Audio, RawTranscript, SpeechToText


class _StallingSTT(SpeechToText):
    """The first job stalls until released; later jobs answer at once."""

    def __init__(self) -> None:
        super().__init__(name="stalling", timeout_s=0.3, workers=1)
        self.release = threading.Event()
        self.started: list[float] = []
        self.ended: list[float] = []

    def _transcribe(self, samples: Float32Audio, language: str | None) -> RawTranscript:
        self.started.append(time.monotonic())
        if len(self.started) == 1:
            self.release.wait(10.0)
        self.ended.append(time.monotonic())
        return RawTranscript(text=f"job {len(self.started)}", language=language or "en")


AUDIO = np.zeros(1600, dtype=np.int16)


@pytest.mark.asyncio
async def test_a_timed_out_job_keeps_its_worker_until_it_really_ends() -> None:
    stt = _StallingSTT()
    try:
        with pytest.raises(EngineError) as first:
            await stt.transcribe(AUDIO)
        assert first.value.code is ErrorCode.STT_FAILED
        # The first job still runs in the worker thread. The next request waits for
        # the worker instead of starting its 0.3 s clock queued behind that job.
        second = asyncio.create_task(stt.transcribe(AUDIO))
        await asyncio.sleep(0.5)  # longer than the timeout
        assert not second.done()
        assert len(stt.started) == 1
        stt.release.set()
        result = await asyncio.wait_for(second, 5.0)
        assert result.text == "job 2"
        assert stt.started[1] >= stt.ended[0]
    finally:
        stt.release.set()
        stt.close()


@pytest.mark.asyncio
async def test_a_cancelled_request_frees_its_slot_when_the_job_ends() -> None:
    stt = _StallingSTT()
    try:
        first = asyncio.create_task(stt.transcribe(AUDIO))
        await asyncio.sleep(0.1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        stt.release.set()
        result = await asyncio.wait_for(stt.transcribe(AUDIO), 5.0)
        assert result.text == "job 2"
    finally:
        stt.release.set()
        stt.close()
