import struct
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.wav import read_wav, write_wav
from appliance.errors import AudioInputError, ErrorCode


def test_roundtrip_and_stereo_mixdown(tmp_path: Path) -> None:
    mono = (np.sin(np.arange(800) / 5) * 8000).astype(np.int16)
    write_wav(tmp_path / "m.wav", mono, 8000)
    audio, rate = read_wav(tmp_path / "m.wav")
    assert rate == 8000
    assert np.array_equal(audio, mono)
    with wave.open(str(tmp_path / "s.wav"), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.stack([mono, mono], axis=1).astype("<i2").tobytes())
    stereo, _ = read_wav(tmp_path / "s.wav")
    assert np.array_equal(stereo, mono)


def test_24_bit_pcm_is_converted(tmp_path: Path) -> None:
    values = np.array([0, 1 << 20, -(1 << 20)], dtype=np.int32)
    raw = b"".join(struct.pack("<i", v)[:3] for v in values)
    with wave.open(str(tmp_path / "24.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(3)
        wav.setframerate(16000)
        wav.writeframes(raw)
    audio, _ = read_wav(tmp_path / "24.wav")
    assert audio.tolist() == [0, 1 << 12, -(1 << 12)]


def float_wav(path: Path) -> None:
    data = np.zeros(100, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda p: p.write_text("this is not audio"), ErrorCode.AUDIO_NOT_WAV, "not a WAV"),
        (float_wav, ErrorCode.AUDIO_UNSUPPORTED_FORMAT, "IEEE float"),
        (
            lambda p: write_wav(p, np.zeros(0, dtype=np.int16), 16000),
            ErrorCode.AUDIO_EMPTY,
            "no audio",
        ),
        (lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt "), ErrorCode.AUDIO_NOT_WAV, "WAV"),
    ],
)
def test_bad_files_get_a_clear_coded_error(
    tmp_path: Path, make: Callable[[Path], object], code: ErrorCode, words: str
) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioInputError) as caught:
        read_wav(path)
    assert caught.value.code is code
    assert words in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError) as caught:
        read_wav(tmp_path / "nope.wav")
    assert caught.value.code is ErrorCode.AUDIO_NOT_FOUND
