"""Speech-to-text: the engine interface every recogniser implements.

The public ``transcribe`` owns the worker thread, the timeout, error wrapping
and timing; an engine implements only the ``_transcribe`` hook, which runs in
a worker thread (CTranslate2 releases the GIL while it computes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from appliance.errors import EngineError, ErrorCode

Int16Audio = npt.NDArray[np.int16]
Float32Audio = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class RawTranscript:
    """What an engine hook returns."""

    text: str
    language: str
    no_speech_prob: float = 0.0


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    no_speech_prob: float
    audio_s: float
    elapsed_s: float

    @property
    def real_time_factor(self) -> float:
        return self.elapsed_s / self.audio_s if self.audio_s > 0 else 0.0


class SpeechToText(ABC):
    sample_rate: ClassVar[int] = 16_000

    def __init__(self, *, name: str, timeout_s: float = 30.0, workers: int = 1) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"stt-{name}")
        # The timeout covers the work, not the wait for a free worker. A slot is
        # given back when its worker is really free: a transcription that timed out
        # or whose caller went away still runs to its end in the thread, and the
        # next request must not start its clock queued behind it.
        self._slots = asyncio.Semaphore(workers)

    async def transcribe(self, audio: Int16Audio, *, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono int16 audio."""
        if audio.ndim != 1:
            raise EngineError("STT expects mono audio", code=ErrorCode.STT_FAILED)
        samples = audio.astype(np.float32) / 32768.0
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            await self._slots.acquire()
            try:
                job = self._pool.submit(self._transcribe, samples, language)
            except BaseException:
                self._slots.release()
                raise
            job.add_done_callback(lambda _: self._free_slot(loop))
            raw = await asyncio.wait_for(asyncio.wrap_future(job), timeout=self.timeout_s)
        except TimeoutError as exc:
            raise EngineError(
                f"{self.name}: transcription exceeded {self.timeout_s:g} s",
                code=ErrorCode.STT_FAILED,
            ) from exc
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"{self.name}: {exc}", code=ErrorCode.STT_FAILED) from exc
        return Transcript(
            text=raw.text.strip(),
            language=raw.language,
            no_speech_prob=raw.no_speech_prob,
            audio_s=len(audio) / self.sample_rate,
            elapsed_s=time.perf_counter() - started,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _free_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs in the worker thread when a job ends (or at once if cancelled)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(self._slots.release)

    @abstractmethod
    def _transcribe(self, samples: Float32Audio, language: str | None) -> RawTranscript:
        """Recognise float32 samples in [-1, 1] at 16 kHz. Runs in a worker thread."""
