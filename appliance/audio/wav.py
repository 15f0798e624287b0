"""Reading and writing WAV files with errors a person can act on."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from appliance.errors import AudioInputError, ErrorCode
from appliance.speech.stt import Int16Audio

_CONVERT_HINT = "convert it with e.g. `sox IN.wav -b 16 -c 1 OUT.wav`"
_FORMAT_NAMES = {3: "32-bit IEEE float", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x55: "MP3"}


def _format_tag(path: Path) -> int | None:
    """The WAVE fmt tag, read by hand because the wave module rejects non-PCM."""
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        while chunk := handle.read(8):
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                fmt = handle.read(2)
                return int(struct.unpack("<H", fmt)[0]) if len(fmt) == 2 else None
            handle.seek(size + (size & 1), 1)
    return None


def read_wav(path: Path) -> tuple[Int16Audio, int]:
    """Mono int16 samples and the sample rate of a PCM WAV file.

    Stereo is mixed down; 8/24/32-bit PCM is converted. Anything else raises
    AudioInputError with a stable code and a hint.
    """
    if not path.is_file():
        raise AudioInputError(f"{path}: no such file", code=ErrorCode.AUDIO_NOT_FOUND)
    tag = _format_tag(path)
    if tag is None:
        raise AudioInputError(
            f"{path}: not a WAV file (no RIFF/WAVE header); {_CONVERT_HINT}",
            code=ErrorCode.AUDIO_NOT_WAV,
        )
    if tag not in (1, 0xFFFE):
        name = _FORMAT_NAMES.get(tag, f"format tag {tag}")
        raise AudioInputError(
            f"{path}: unsupported sample format ({name}); only PCM is accepted; {_CONVERT_HINT}",
            code=ErrorCode.AUDIO_UNSUPPORTED_FORMAT,
        )
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise AudioInputError(
            f"{path}: damaged WAV file ({exc}); {_CONVERT_HINT}", code=ErrorCode.AUDIO_NOT_WAV
        ) from exc
    if not 8_000 <= rate <= 192_000:
        raise AudioInputError(
            f"{path}: sample rate {rate} Hz is outside 8-192 kHz",
            code=ErrorCode.AUDIO_UNSUPPORTED_FORMAT,
        )
    samples = _to_int16(raw, width, path)
    if channels > 1:
        usable = len(samples) - len(samples) % channels
        samples = samples[:usable].reshape(-1, channels).mean(axis=1).astype(np.int16)
    if len(samples) == 0:
        raise AudioInputError(f"{path}: the file contains no audio", code=ErrorCode.AUDIO_EMPTY)
    return samples, rate


def _to_int16(raw: bytes, width: int, path: Path) -> Int16Audio:
    if width == 2:
        return np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2").astype(np.int16)
    if width == 1:
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if width == 3:
        usable = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3)
        return (usable[:, 2].astype(np.int8).astype(np.int16) << 8 | usable[:, 1]).astype(np.int16)
    if width == 4:
        return (np.frombuffer(raw[: len(raw) - len(raw) % 4], dtype="<i4") >> 16).astype(np.int16)
    raise AudioInputError(
        f"{path}: {width * 8}-bit samples are not supported; {_CONVERT_HINT}",
        code=ErrorCode.AUDIO_UNSUPPORTED_FORMAT,
    )


def write_wav(path: Path, audio: Int16Audio, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.asarray(audio, dtype="<i2").tobytes())
