"""Test-time speech: synthesise known sentences and compare transcripts tolerantly.

espeak-ng gives a second, very different voice (and German) next to Piper, so a
recogniser is not only tested on the voice the appliance itself speaks with.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from appliance.audio.resample import resample
from appliance.speech.piper_tts import PiperTTS

Int16Audio = npt.NDArray[np.int16]

ESPEAK = "/usr/bin/espeak-ng"
_APOSTROPHES = "'\u2019"  # ASCII and typographic, both used by Whisper
_DOTTED_ACRONYM = re.compile(r"\b(?:[^\W\d_]\.){2,}")
_INNER_HYPHEN = re.compile(r"(?<=[^\W_])-(?=[^\W_])")
_WORD = re.compile(rf"[^\W_]+(?:[{_APOSTROPHES}][^\W_]+)*")


def silence(ms: int, sample_rate: int = 16_000) -> Int16Audio:
    return np.zeros(sample_rate * ms // 1000, dtype=np.int16)


def espeak_speech(
    text: str, *, lang: str = "en", rate_wpm: int = 160, sample_rate: int = 16_000
) -> Int16Audio:
    """Speak ``text`` with espeak-ng and return mono int16 at ``sample_rate``."""
    executable = shutil.which(ESPEAK) or ESPEAK
    result = subprocess.run(
        [executable, "--stdout", "-v", lang, "-s", str(rate_wpm), text],
        capture_output=True,
        check=True,
        timeout=30,
    )
    audio, rate = _parse_wav(result.stdout)
    return resample(audio, rate, sample_rate)


def _parse_wav(data: bytes) -> tuple[Int16Audio, int]:
    """Parse 16-bit mono PCM WAV bytes.

    espeak-ng writes to a pipe, so its RIFF and data sizes are placeholders
    (0x7fffffff); the standard ``wave`` module would trust them.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    offset, rate = 12, 0
    while offset + 8 <= len(data):
        chunk_id, size = (
            data[offset : offset + 4],
            struct.unpack("<I", data[offset + 4 : offset + 8])[0],
        )
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", data[body : body + 8])
            bits = struct.unpack("<H", data[body + 14 : body + 16])[0]
            if (fmt, channels, bits) != (1, 1, 16):
                raise ValueError(f"unsupported WAV format {fmt}/{channels}ch/{bits}bit")
        elif chunk_id == b"data":
            end = min(body + size, len(data))
            end -= (end - body) % 2
            return np.frombuffer(data[body:end], dtype="<i2").astype(np.int16), rate
        offset = body + size + (size & 1)
    raise ValueError("WAV stream has no data chunk")


def piper_speech(tts: PiperTTS, text: str, sample_rate: int = 16_000) -> Int16Audio:
    """Speak ``text`` with a Piper engine, resampled; synchronous, for fixtures.

    The coroutine runs on a private event loop in a helper thread, so this
    neither needs nor disturbs the loop pytest-asyncio keeps for this thread.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper-speech") as pool:
        speech = pool.submit(asyncio.run, tts.synthesize(text)).result()
    return resample(speech.audio, speech.sample_rate, sample_rate)


def normalise_words(text: str) -> list[str]:
    """Casefolded words without punctuation, for tolerant transcript comparison.

    "Don't!" -> "dont", "ß" -> "ss", and spellings that only differ in
    punctuation count as the same word: "P.I.N." -> "pin", "Wi-Fi" -> "wifi".
    """
    text = _DOTTED_ACRONYM.sub(lambda match: match.group(0).replace(".", ""), text)
    text = _INNER_HYPHEN.sub("", text)
    strip = str.maketrans("", "", _APOSTROPHES)
    return [word.translate(strip) for word in _WORD.findall(text.casefold())]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance divided by the reference length."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution
                )
            )
        previous = current
    return previous[-1] / len(ref)
