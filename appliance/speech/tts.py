"""Text-to-speech: the engine interface every voice implements.

``synthesize`` is called once per sentence chunk (the agent's chunker streams
them), so the first sentence is heard while the LLM still writes the rest. The
public method owns the worker thread, the timeout and error wrapping; an engine
implements ``_synthesize``.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from appliance.errors import EngineError, ErrorCode
from appliance.speech.stt import Int16Audio


@dataclass(frozen=True, slots=True)
class Speech:
    audio: Int16Audio
    sample_rate: int
    elapsed_s: float

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        return self.elapsed_s / self.duration_s if self.duration_s > 0 else 0.0


class TextToSpeech(ABC):
    def __init__(
        self, *, name: str, sample_rate: int, language: str, timeout_s: float = 20.0
    ) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.language = language
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{name}")
        # The timeout covers the work, not the wait for the worker.
        self._slots = asyncio.Semaphore(1)

    async def synthesize(self, text: str) -> Speech:
        """Speak one chunk of text; mono int16 at ``self.sample_rate``."""
        if not text.strip():
            return Speech(np.zeros(0, dtype=np.int16), self.sample_rate, 0.0)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            async with self._slots:
                audio = await asyncio.wait_for(
                    loop.run_in_executor(self._pool, self._synthesize, text),
                    timeout=self.timeout_s,
                )
        except TimeoutError as exc:
            raise EngineError(
                f"{self.name}: synthesis exceeded {self.timeout_s:.0f} s", code=ErrorCode.TTS_FAILED
            ) from exc
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"{self.name}: {exc}", code=ErrorCode.TTS_FAILED) from exc
        return Speech(audio, self.sample_rate, time.perf_counter() - started)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @abstractmethod
    def _synthesize(self, text: str) -> Int16Audio:
        """Synthesize text to mono int16 samples. Runs in a worker thread."""
