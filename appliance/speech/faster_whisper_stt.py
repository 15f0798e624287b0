"""Whisper speech-to-text through faster-whisper (CTranslate2).

The model is loaded from a verified local directory only (see
models.registry); faster-whisper would otherwise fetch a model or a tokenizer
from the Hugging Face hub, which the appliance must never do.

Decoding is tuned for short turns cut by our own VAD: no built-in VAD filter,
no conditioning on previous text (each turn stands alone, and it stops
hallucinated text from snowballing), no timestamps (fewer tokens to decode).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faster_whisper
import numpy as np

from appliance.errors import ErrorCode, ModelError
from appliance.speech.stt import Float32Audio, RawTranscript, SpeechToText

logger = logging.getLogger(__name__)

# Files faster-whisper needs locally; without tokenizer.json it would download one.
_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")


class FasterWhisperSTT(SpeechToText):
    """A faster-whisper model serving ``SpeechToText.transcribe``."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        name: str = "faster-whisper",
        timeout_s: float = 30.0,
        temperatures: tuple[float, ...] = (0.0,),
    ) -> None:
        """Load the model.

        ``temperatures`` defaults to greedy decoding only: faster-whisper's
        fallback ladder re-decodes a low-confidence segment up to five times,
        which multiplies latency on exactly the noisy phone audio where the
        answer is least likely to improve.
        """
        super().__init__(name=name, timeout_s=timeout_s)
        self.model_dir = model_dir
        self.beam_size = beam_size
        self.temperatures = temperatures
        self._model = _load_model(model_dir, device, compute_type, cpu_threads)
        self.multilingual: bool = bool(self._model.model.is_multilingual)
        logger.info(
            "%s: loaded %s (%s, %s, %d threads, multilingual=%s)",
            name,
            model_dir,
            device,
            compute_type,
            cpu_threads,
            self.multilingual,
        )

    def warmup(self) -> None:
        """Transcribe 1 s of silence so the first caller does not pay for lazy init."""
        self._transcribe(np.zeros(self.sample_rate, dtype=np.float32), None)

    def _language_for(self, language: str | None) -> str | None:
        """English-only models must be told "en"; anything else would be an error."""
        if self.multilingual:
            return language
        if language not in (None, "en"):
            logger.warning("%s is English-only; ignoring language %r", self.name, language)
        return "en"

    def _transcribe(self, samples: Float32Audio, language: str | None) -> RawTranscript:
        segments, info = self._model.transcribe(
            samples,
            language=self._language_for(language),
            task="transcribe",
            beam_size=self.beam_size,
            temperature=list(self.temperatures),
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return _collect(segments, str(info.language))


def _collect(segments: Iterable[Any], language: str) -> RawTranscript:
    """Join the segments (decoding happens lazily while iterating).

    No segment at all means Whisper skipped the audio as non-speech, so the
    no-speech probability is reported as 1.0 rather than an optimistic 0.0.
    """
    texts: list[str] = []
    no_speech = 0.0
    seen = False
    for segment in segments:
        seen = True
        texts.append(str(segment.text).strip())
        no_speech = max(no_speech, float(segment.no_speech_prob))
    return RawTranscript(
        text=" ".join(t for t in texts if t),
        language=language,
        no_speech_prob=no_speech if seen else 1.0,
    )


def _load_model(model_dir: Path, device: str, compute_type: str, cpu_threads: int) -> Any:
    missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelError(
            f"Whisper model directory {model_dir} lacks {', '.join(missing)}",
            code=ErrorCode.MODEL_MISSING,
        )
    try:
        return faster_whisper.WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"Whisper model in {model_dir} cannot be loaded: {exc}",
            code=ErrorCode.MODEL_CORRUPT,
        ) from exc
