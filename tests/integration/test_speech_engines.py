"""The real speech engines on the packaged models: Piper, Whisper, Silero VAD.

Each engine is loaded once per module (loading costs seconds, the box has two
cores). Speech comes from Piper itself and from espeak-ng, so recognition is
also checked on a voice the appliance does not speak with. Real-time factors
are printed (run with ``-s``) and attached as junit properties.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import SileroVADModel

from appliance.errors import ErrorCode, ModelError
from appliance.speech.faster_whisper_stt import FasterWhisperSTT, _repeats
from appliance.speech.piper_tts import PiperTTS
from appliance.speech.vad import SileroVad, VadStream
from models import ModelRegistry
from tests.support.speech import (
    Int16Audio,
    espeak_speech,
    normalise_words,
    piper_speech,
    silence,
    word_error_rate,
)

Report = Callable[[str, object], None]

ENGLISH_QUESTION = "What are the visiting hours on the cardiology ward on Sunday?"
ENGLISH_KEY_WORDS = {"visiting", "hours", "cardiology", "sunday"}
GERMAN_QUESTION = "Wann kann ich meinen Vater besuchen?"
GERMAN_KEY_WORDS = {"wann", "vater", "besuchen"}
# espeak-ng's default German voice is recognised poorly by Whisper base
# ("Wann" -> "Man", "besuchen" -> "benutzen"); the klatt variant is stable.
GERMAN_ESPEAK_VOICE = "de+klatt"


@pytest.fixture
def report(record_property: Callable[[str, object], None]) -> Report:
    def emit(name: str, value: object) -> None:
        record_property(name, value)
        print(f"\n[speech] {name} = {value}")  # measured figures, shown with -s

    return emit


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def piper(registry: ModelRegistry) -> Iterator[PiperTTS]:
    tts = PiperTTS(registry.path("piper-en_US-joe-medium"), threads=1)
    tts.warmup()
    yield tts
    tts.close()


@pytest.fixture(scope="module")
def tiny_en(registry: ModelRegistry) -> Iterator[FasterWhisperSTT]:
    stt = FasterWhisperSTT(registry.path("whisper-tiny.en"), name="whisper-tiny.en")
    stt.warmup()
    yield stt
    stt.close()


@pytest.fixture(scope="module")
def whisper_base(registry: ModelRegistry) -> Iterator[FasterWhisperSTT]:
    stt = FasterWhisperSTT(registry.path("whisper-base"), name="whisper-base")
    stt.warmup()
    yield stt
    stt.close()


@pytest.fixture(scope="module")
def vad(registry: ModelRegistry) -> SileroVad:
    return SileroVad(registry.path("silero-vad"))


@pytest.fixture(scope="module")
def english_speech(piper: PiperTTS) -> Int16Audio:
    """The English question spoken by Piper at 16 kHz, framed by short silences."""
    return np.concatenate([silence(300), piper_speech(piper, ENGLISH_QUESTION), silence(300)])


def _rms(audio: Int16Audio) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def _probabilities(stream: VadStream, audio: Int16Audio) -> list[float]:
    size = VadStream.CHUNK_SAMPLES
    usable = len(audio) - len(audio) % size
    return [stream.process(audio[i : i + size]) for i in range(0, usable, size)]


# --------------------------------------------------------------------------- Piper


@pytest.mark.asyncio
async def test_piper_speaks_english_sentence(piper: PiperTTS, report: Report) -> None:
    speech = await piper.synthesize(ENGLISH_QUESTION)

    assert piper.language == "en"
    assert speech.sample_rate == 22_050
    assert speech.audio.dtype == np.int16
    assert 1.5 < speech.duration_s < 8.0
    assert _rms(speech.audio) > 1000  # speech, not near-silence
    assert int(np.abs(speech.audio.astype(np.int32)).max()) <= 32767 * 0.95  # volume headroom
    report("tts_rtf", round(speech.real_time_factor, 3))
    assert speech.real_time_factor < 2.0


@pytest.mark.asyncio
async def test_piper_first_chunk_latency(piper: PiperTTS, report: Report) -> None:
    """The agent speaks sentence by sentence, so a short first sentence sets latency."""
    speech = await piper.synthesize("Certainly.")

    assert 0.2 < speech.duration_s < 2.0
    report("tts_first_chunk_latency_s", round(speech.elapsed_s, 3))
    assert speech.elapsed_s < 2.0


@pytest.mark.asyncio
async def test_piper_joins_every_sentence(piper: PiperTTS) -> None:
    one = await piper.synthesize("Good morning.")
    two = await piper.synthesize("Good morning. The clinic opens at nine.")

    assert two.duration_s > one.duration_s + 0.8


# --------------------------------------------------------------------------- Whisper


@pytest.mark.asyncio
async def test_tiny_en_transcribes_piper_question(
    tiny_en: FasterWhisperSTT, english_speech: Int16Audio, report: Report
) -> None:
    transcript = await tiny_en.transcribe(english_speech)

    words = set(normalise_words(transcript.text))
    assert len(ENGLISH_KEY_WORDS & words) >= 3, transcript.text
    assert word_error_rate(ENGLISH_QUESTION, transcript.text) <= 0.3, transcript.text
    assert transcript.language == "en"
    assert transcript.no_speech_prob < 0.5
    report("stt_tiny_en_rtf", round(transcript.real_time_factor, 3))


def test_short_window_agrees_with_the_full_window(
    tiny_en: FasterWhisperSTT, english_speech: Int16Audio
) -> None:
    samples = english_speech.astype(np.float32) / 32768.0
    short = tiny_en._transcribe_short(samples, "en")
    tiny_en.short_window = False
    try:
        full = tiny_en._transcribe(samples, "en")
    finally:
        tiny_en.short_window = True
    assert short is not None
    assert word_error_rate(full.text, short.text) <= 0.1, (short.text, full.text)


def test_a_looping_short_window_falls_back_to_the_full_window() -> None:
    assert _repeats([1, 2, 3, 4, 9, 1, 2, 3, 4], 4)
    assert not _repeats([1, 2, 3, 4, 1, 2, 3, 5], 4)


@pytest.mark.asyncio
async def test_english_only_model_ignores_other_language(
    tiny_en: FasterWhisperSTT, english_speech: Int16Audio
) -> None:
    transcript = await tiny_en.transcribe(english_speech, language="de")

    assert transcript.language == "en"
    assert "cardiology" in normalise_words(transcript.text)


@pytest.mark.asyncio
async def test_silence_yields_no_text(tiny_en: FasterWhisperSTT) -> None:
    transcript = await tiny_en.transcribe(silence(1500))

    assert transcript.text == "" or transcript.no_speech_prob > 0.5


@pytest.mark.asyncio
async def test_whisper_base_transcribes_german_espeak(
    whisper_base: FasterWhisperSTT, report: Report
) -> None:
    audio = np.concatenate(
        [silence(300), espeak_speech(GERMAN_QUESTION, lang=GERMAN_ESPEAK_VOICE), silence(300)]
    )

    transcript = await whisper_base.transcribe(audio, language="de")

    assert whisper_base.multilingual
    assert transcript.language == "de"
    assert len(GERMAN_KEY_WORDS & set(normalise_words(transcript.text))) >= 2, transcript.text
    report("stt_base_de_rtf", round(transcript.real_time_factor, 3))


# --------------------------------------------------------------------------- VAD


def test_vad_high_in_speech(vad: SileroVad, english_speech: Int16Audio) -> None:
    probs = _probabilities(vad.stream(), english_speech[4800:-4800])  # speech part only

    assert max(probs) > 0.95
    assert np.mean(np.asarray(probs) > 0.5) > 0.8


def test_vad_low_in_silence_and_quiet_noise(vad: SileroVad) -> None:
    noise = np.random.default_rng(7).normal(0.0, 0.003 * 32768, 16_000 * 2).astype(np.int16)

    assert max(_probabilities(vad.stream(), silence(2000))) < 0.1
    assert max(_probabilities(vad.stream(), noise)) < 0.2


def test_vad_matches_faster_whisper_batched_reference(
    vad: SileroVad, registry: ModelRegistry, english_speech: Int16Audio
) -> None:
    """Same context and state handling as faster-whisper's batched helper."""
    audio = english_speech[: len(english_speech) // 512 * 512].astype(np.float32) / 32768
    reference = SileroVADModel(str(registry.path("silero-vad")))(audio).reshape(-1)

    streamed = _probabilities(vad.stream(), english_speech)

    np.testing.assert_allclose(streamed, reference, atol=1e-5)


def test_vad_streams_are_independent_and_reset(vad: SileroVad, english_speech: Int16Audio) -> None:
    stream = vad.stream()
    first = _probabilities(stream, english_speech)
    stream.reset()

    assert _probabilities(stream, english_speech) == first
    assert _probabilities(vad.stream(), english_speech) == first


def test_vad_rejects_wrong_chunk_size(vad: SileroVad) -> None:
    with pytest.raises(ValueError, match="512"):
        vad.stream().process(np.zeros(480, dtype=np.float32))


# --------------------------------------------------------------------------- broken models


def _garbage(path: Path, size: int = 4096) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_corrupt_vad_model_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        SileroVad(_garbage(tmp_path / "silero.onnx"))
    assert caught.value.code == ErrorCode.MODEL_CORRUPT
    assert caught.value.__cause__ is not None


def test_missing_vad_model_is_model_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        SileroVad(tmp_path / "absent.onnx")
    assert caught.value.code == ErrorCode.MODEL_MISSING


def test_corrupt_piper_voice_fails_at_load(tmp_path: Path, registry: ModelRegistry) -> None:
    real = registry.path("piper-en_US-joe-medium")
    model = _garbage(tmp_path / real.name)
    (tmp_path / (real.name + ".json")).symlink_to(real.with_name(real.name + ".json"))

    with pytest.raises(ModelError) as caught:
        PiperTTS(model)
    assert caught.value.code == ErrorCode.MODEL_CORRUPT


def test_corrupt_whisper_model_fails_at_load(tmp_path: Path, registry: ModelRegistry) -> None:
    real = registry.path("whisper-tiny.en")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / name).symlink_to(real / name)
    (tmp_path / "model.bin").write_bytes((real / "model.bin").read_bytes()[:4096])

    started = time.perf_counter()
    with pytest.raises(ModelError) as caught:
        FasterWhisperSTT(tmp_path)
    assert caught.value.code == ErrorCode.MODEL_CORRUPT
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert time.perf_counter() - started < 10


def test_whisper_dir_without_tokenizer_is_missing_not_downloaded(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    real = registry.path("whisper-tiny.en")
    for name in ("config.json", "model.bin", "vocabulary.txt"):
        (tmp_path / name).symlink_to(real / name)

    with pytest.raises(ModelError, match=r"tokenizer\.json") as caught:
        FasterWhisperSTT(tmp_path)
    assert caught.value.code == ErrorCode.MODEL_MISSING
