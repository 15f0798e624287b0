"""Piper text-to-speech (VITS voices exported to ONNX).

``PiperVoice.load`` offers no way to bound onnxruntime's threads, and by
default onnxruntime takes every core, which starves Whisper on a small box.
So the session is created here with ``threads`` intra-op threads and handed to
``PiperVoice`` together with the parsed voice config.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from piper import PiperConfig, PiperVoice, SynthesisConfig

from appliance.errors import ErrorCode, ModelError
from appliance.speech.stt import Int16Audio
from appliance.speech.tts import TextToSpeech
from appliance.speech.vad import open_onnx_session

logger = logging.getLogger(__name__)

# piper.voice logs the text it speaks at DEBUG; the appliance never logs what
# callers hear, even with the root logger at DEBUG.
_PIPER_TEXT_LOGGER = "piper.voice"


class PiperTTS(TextToSpeech):
    """A Piper voice serving ``TextToSpeech.synthesize``."""

    def __init__(
        self,
        model_path: Path,
        *,
        config_path: Path | None = None,
        length_scale: float = 1.0,
        threads: int = 1,
        volume: float = 0.9,
        name: str = "piper",
        timeout_s: float = 20.0,
    ) -> None:
        """Load the voice; ``config_path`` defaults to ``<model>.json`` beside it.

        ``volume`` < 1 leaves headroom: Piper normalises every sentence to full
        scale, and resampling to the line rate would otherwise clip peaks.
        """
        config_path = config_path or model_path.with_name(model_path.name + ".json")
        config_dict = _read_config(config_path)
        config = _parse_config(config_dict, config_path)
        session = open_onnx_session(model_path, threads=threads, what="Piper voice")
        super().__init__(
            name=name,
            sample_rate=config.sample_rate,
            language=_voice_language(config_dict, config),
            timeout_s=timeout_s,
        )
        _silence_text_logging()
        self.model_path = model_path
        self._voice = PiperVoice(session=session, config=config, use_tashkeel=False)
        self._synthesis = SynthesisConfig(length_scale=length_scale, volume=volume)
        logger.info(
            "%s: loaded %s (%d Hz, language %s, %d threads)",
            name,
            model_path,
            self.sample_rate,
            self.language,
            threads,
        )

    def warmup(self) -> None:
        """Speak one word so the first caller does not pay for lazy initialisation."""
        self._synthesize("Hello.")

    def _synthesize(self, text: str) -> Int16Audio:
        """All sentence chunks Piper yields, joined into one int16 array."""
        chunks = [
            chunk.audio_int16_array for chunk in self._voice.synthesize(text, self._synthesis)
        ]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)


def _read_config(config_path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(config_path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(
            f"Piper voice config not found: {config_path}", code=ErrorCode.MODEL_MISSING
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"Piper voice config {config_path} is unreadable: {exc}", code=ErrorCode.MODEL_CORRUPT
        ) from exc
    if not isinstance(raw, dict):
        raise ModelError(
            f"Piper voice config {config_path} is not a JSON object", code=ErrorCode.MODEL_CORRUPT
        )
    return raw


def _parse_config(config_dict: dict[str, Any], config_path: Path) -> PiperConfig:
    try:
        return PiperConfig.from_dict(config_dict)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"Piper voice config {config_path} lacks or mistypes {exc}",
            code=ErrorCode.MODEL_CORRUPT,
        ) from exc


def _voice_language(config_dict: dict[str, Any], config: PiperConfig) -> str:
    """Two-letter language: the config's language family, else the espeak voice's prefix."""
    language = config_dict.get("language")
    if isinstance(language, dict) and isinstance(language.get("family"), str):
        return str(language["family"]).lower()
    return config.espeak_voice.split("-")[0].split("_")[0].lower()


def _silence_text_logging() -> None:
    text_logger = logging.getLogger(_PIPER_TEXT_LOGGER)
    if text_logger.level < logging.INFO:  # NOTSET would inherit a DEBUG root
        text_logger.setLevel(logging.INFO)
