"""Silero VAD v6, run with onnxruntime directly.

The model is stateful: an LSTM state (``h``, ``c``) and the last 64 samples of
the previous chunk are carried from one 512-sample chunk to the next. That
state belongs to one audio stream, so one call gets one ``VadStream`` while
every stream shares the single ``InferenceSession`` (``run`` is thread-safe).

Context handling follows faster_whisper.vad.SileroVADModel exactly (zeros
before the first chunk, then the tail of the previous chunk), so probabilities
match its batched computation bit for bit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import onnxruntime

from appliance.errors import ErrorCode, ModelError

logger = logging.getLogger(__name__)

_STATE_SHAPE = (1, 1, 128)


class SileroVad:
    """One loaded Silero model; hands out per-stream state holders."""

    sample_rate: ClassVar[int] = 16_000

    def __init__(self, model_path: Path) -> None:
        # A 576-sample LSTM step is far too small to gain from threads; extra
        # threads would only compete with Whisper and Piper for the CPU cores.
        self._session = open_onnx_session(
            model_path, threads=1, what="Silero VAD model", memory_arena=False
        )
        self._check_signature(model_path)

    def _check_signature(self, model_path: Path) -> None:
        """Fail at load, not mid-call, when the file is some other ONNX model."""
        inputs = {node.name for node in self._session.get_inputs()}
        outputs = [node.name for node in self._session.get_outputs()]
        if inputs != {"input", "h", "c"} or outputs[:1] != ["speech_probs"]:
            raise ModelError(
                f"{model_path} is not a Silero VAD v6 model "
                f"(inputs {sorted(inputs)}, outputs {outputs})",
                code=ErrorCode.MODEL_CORRUPT,
            )

    def stream(self) -> VadStream:
        """Fresh state for one audio stream (one call leg)."""
        return VadStream(self._session)


class VadStream:
    """Speech probability per 32 ms chunk of one continuous audio stream."""

    CHUNK_SAMPLES: ClassVar[int] = 512
    CONTEXT_SAMPLES: ClassVar[int] = 64

    def __init__(self, session: Any) -> None:
        self._session = session
        self.reset()

    def reset(self) -> None:
        """Forget the stream (after a gap in the audio, or to reuse the object)."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(self.CONTEXT_SAMPLES, dtype=np.float32)

    def process(self, chunk: npt.NDArray[np.floating[Any]] | npt.NDArray[np.int16]) -> float:
        """Speech probability of the next 512 samples at 16 kHz.

        Takes float samples in [-1, 1]; int16 PCM is scaled for convenience.
        """
        samples = _as_float32(chunk)
        if samples.shape != (self.CHUNK_SAMPLES,):
            raise ValueError(
                f"VAD expects {self.CHUNK_SAMPLES} mono samples per chunk, got shape {chunk.shape}"
            )
        window = np.concatenate((self._context, samples))[np.newaxis, :]
        probs, self._h, self._c = self._session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        self._context = samples[-self.CONTEXT_SAMPLES :].copy()
        return float(probs.reshape(-1)[0])


def open_onnx_session(
    model_path: Path, *, threads: int, what: str, memory_arena: bool = True
) -> Any:
    """A CPU InferenceSession with bounded threads; load failures become ModelError.

    Shared by the ONNX engines (VAD, Piper). onnxruntime's own exceptions derive
    directly from Exception and are not importable in a stable way, hence the
    broad catch, which always re-raises with a stable code.
    """
    if not model_path.is_file():
        raise ModelError(f"{what} not found: {model_path}", code=ErrorCode.MODEL_MISSING)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = memory_arena
    try:
        return onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelError(
            f"{what} {model_path} cannot be loaded: {exc}", code=ErrorCode.MODEL_CORRUPT
        ) from exc


def _as_float32(chunk: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    if chunk.dtype == np.int16:
        return chunk.astype(np.float32) / 32768.0
    return np.ascontiguousarray(chunk, dtype=np.float32)
