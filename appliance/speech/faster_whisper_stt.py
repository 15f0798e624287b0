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
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from appliance.errors import ErrorCode, ModelError
from appliance.speech.stt import Float32Audio, RawTranscript, SpeechToText

logger = logging.getLogger(__name__)

SHORT_WINDOW_MAX_S = 25.0  # longer audio goes through faster-whisper's 30 s windows
FULL_WINDOW_FRAMES = 3000
WINDOW_MARGIN_FRAMES = 300
LOOP_CHECK_LONG_S = 8.0
TOKENS_PER_S = 7  # fast speech is about 4 words a second, 5-6 Whisper tokens

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
        short_window: bool = True,
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
        self.short_window = short_window
        self._decoding: dict[str, tuple[Tokenizer, list[int]]] = {}
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
        language = self._language_for(language)
        if self.short_window and language and len(samples) <= SHORT_WINDOW_MAX_S * self.sample_rate:
            short = self._transcribe_short(samples, language)
            if short is not None:
                return short
        segments, info = self._model.transcribe(
            samples,
            language=language,
            task="transcribe",
            beam_size=self.beam_size,
            temperature=list(self.temperatures),
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return _collect(segments, str(info.language))

    def _decoding_for(self, language: str) -> tuple[Tokenizer, list[int]]:
        """Tokenizer and suppressed tokens per language, built once, not per turn."""
        if language not in self._decoding:
            tokenizer = Tokenizer(
                self._model.hf_tokenizer, self.multilingual, task="transcribe", language=language
            )
            self._decoding[language] = (tokenizer, list(get_suppressed_tokens(tokenizer, [-1])))
        return self._decoding[language]

    def _transcribe_short(self, samples: Float32Audio, language: str) -> RawTranscript | None:
        """One greedy decode over an encoder window cut to the utterance.

        Whisper's encoder is always fed 30 s (3000 mel frames) by
        faster-whisper, whatever the audio length: for a four-second caller
        turn that is most of the latency. The encoder accepts a shorter window
        (the same idea as whisper.cpp's audio_ctx); the window is rounded up
        to whole seconds with three seconds to spare. Measured: 320 ms -> 50 ms of
        encoding for a 3 s question with tiny.en, same words.

        A cut window sometimes makes the decoder loop ("results? Can you tell
        me my ... results? Can you ..."): a token budget for the audio's length
        and a repeated 4-gram both send the audio down the full 30 s path
        instead (None).
        """
        features = self._model.feature_extractor(samples)
        frames = int(features.shape[-1])
        window = min(FULL_WINDOW_FRAMES, -(-(frames + WINDOW_MARGIN_FRAMES) // 100) * 100)
        tokenizer, suppressed = self._decoding_for(language)
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        budget = int(TOKENS_PER_S * len(samples) / self.sample_rate) + 8
        encoded = self._model.encode(pad_or_trim(features, window))
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            max_length=len(prompt) + budget,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppressed,
        )[0]
        tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        # Long turns repeat short phrases naturally; only a long repeat is a loop there.
        gram = 4 if len(samples) < LOOP_CHECK_LONG_S * self.sample_rate else 8
        if len(tokens) >= budget or _repeats(tokens, gram):
            logger.debug("%s: short window looped; using the full window", self.name)
            return None
        return RawTranscript(
            text=tokenizer.decode(tokens).strip(),
            language=language,
            no_speech_prob=float(result.no_speech_prob),
        )


def _repeats(tokens: list[int], n: int) -> bool:
    """Does any run of n tokens occur twice?"""
    seen: set[tuple[int, ...]] = set()
    for start in range(len(tokens) - n + 1):
        gram = tuple(tokens[start : start + n])
        if gram in seen:
            return True
        seen.add(gram)
    return False


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
