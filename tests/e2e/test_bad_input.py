"""Never dead air, never a crash: failures become spoken fallbacks and recorded events."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from appliance.agent.responder import Responder
from appliance.calls.events import (
    AgentText,
    AgentTurnCompleted,
    ErrorRaised,
    HandoffRequested,
    SpeechStarted,
    TranscriptFinal,
    TranscriptPartial,
)
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.engines import Engines
from appliance.errors import ErrorCode
from appliance.llm.client import ChatClient
from appliance.speech.stt import Float32Audio, Int16Audio, RawTranscript, SpeechToText
from appliance.speech.tts import TextToSpeech
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from tests.support.calls import RATE, concat, say, voiced_ms
from tests.support.speech import normalise_words, silence

pytestmark = pytest.mark.asyncio


def with_llm(engines: Engines, settings: Settings, base_url: str) -> Engines:
    llm = ChatClient(
        base_url=base_url,
        model="any",
        api_key=None,
        connect_timeout_s=0.5,
        first_token_timeout_s=1.0,
        total_timeout_s=3.0,
        retries=1,
        retry_backoff_s=0.05,
    )
    return dataclasses.replace(engines, llm=llm, responder=Responder(llm, settings))


async def ask(engines: Engines, settings: Settings, text: str) -> tuple[SimulatedCaller, list]:  # type: ignore[type-arg]
    caller = SimulatedCaller(
        [CallerTurn(await say(engines, text))], sample_rate=RATE, realtime=False
    )
    record = await run_call(engines, caller, settings)
    return caller, record.events


def assert_spoken_fallback(events: list, code: ErrorCode) -> None:  # type: ignore[type-arg]
    errors = [e for e in events if isinstance(e, ErrorRaised)]
    assert [e.code for e in errors] == [code.value]
    assert any(isinstance(e, HandoffRequested) and e.reason == "technical_problem" for e in events)
    fallback = [e for e in events if isinstance(e, AgentText) and e.source == "fallback"]
    assert len(fallback) == 1
    assert "technical problem" in fallback[0].text
    # the transcript of what the caller said is kept all the same
    assert [e for e in events if isinstance(e, TranscriptFinal)]


@pytest_asyncio.fixture
async def junk_server() -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
            b"data: {this is not json\n\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.close()
    await server.wait_closed()


async def test_llm_down_gets_a_spoken_fallback(engines: Engines, settings: Settings) -> None:
    broken = with_llm(engines, settings, "http://127.0.0.1:9/v1")  # discard port: nobody listens
    caller, events = await ask(broken, settings, "Where is the emergency entrance?")
    assert_spoken_fallback(events, ErrorCode.LLM_UNAVAILABLE)
    assert voiced_ms(caller.recording.agent_audio()) > 4000  # greeting + apology were heard


async def test_llm_returning_garbage_gets_a_spoken_fallback(
    engines: Engines, settings: Settings, junk_server: str
) -> None:
    _, events = await ask(
        with_llm(engines, settings, junk_server), settings, "Do you have parking?"
    )
    assert_spoken_fallback(events, ErrorCode.LLM_BAD_RESPONSE)


class _BrokenSTT(SpeechToText):
    def _transcribe(self, samples: Float32Audio, language: str | None) -> RawTranscript:
        raise RuntimeError("CUDA error: device lost")  # an injected engine fault


class _BrokenTTS(TextToSpeech):
    def _synthesize(self, text: str) -> Int16Audio:
        raise RuntimeError("onnxruntime: invalid state")


async def test_a_failing_recogniser_is_apologised_for(engines: Engines, settings: Settings) -> None:
    broken = dataclasses.replace(engines, stt=_BrokenSTT(name="broken"))
    caller = SimulatedCaller(
        [CallerTurn(await say(engines, "Hello?"))], sample_rate=RATE, realtime=False
    )
    record = await run_call(broken, caller, settings)
    assert [e.code for e in record.of(ErrorRaised)] == [ErrorCode.STT_FAILED.value]
    assert [e.source for e in record.of(AgentText)] == ["prompt", "fallback"]


async def test_a_failing_voice_still_apologises_with_the_prerendered_prompt(
    engines: Engines, settings: Settings
) -> None:
    broken = dataclasses.replace(
        engines, tts=_BrokenTTS(name="broken", sample_rate=22050, language="en")
    )
    caller = SimulatedCaller(
        [CallerTurn(await say(engines, "What are your opening hours?"))],
        sample_rate=RATE,
        realtime=False,
    )
    record = await run_call(broken, caller, settings)
    assert [e.code for e in record.of(ErrorRaised)] == [ErrorCode.TTS_FAILED.value]
    fallback = [e for e in record.of(AgentText) if e.source == "fallback"]
    assert len(fallback) == 1
    completed = [e for e in record.of(AgentTurnCompleted) if e.turn_id == fallback[0].turn_id]
    assert completed
    assert "technical problem" in completed[0].text


async def test_a_silent_caller_is_asked_then_politely_ended(
    engines: Engines, settings: Settings
) -> None:
    quick = settings.with_overrides(turn={"no_input_timeout_s": 2.0, "max_reprompts": 1})
    caller = SimulatedCaller([CallerTurn(silence(20_000))], sample_rate=RATE, realtime=False)
    record = await run_call(engines, caller, quick)
    assert not record.of(SpeechStarted)
    prompts = [e.text for e in record.of(AgentText)]
    assert prompts == [
        settings.agent.prompt("greeting"),
        settings.agent.prompt("still_there"),
        settings.agent.prompt("goodbye"),
    ]
    assert record.end_reason == "agent_hangup"


async def test_a_caller_hanging_up_mid_sentence_keeps_the_partial_transcript(
    engines: Engines, settings: Settings
) -> None:
    words = await say(engines, "I would like to know whether the cafeteria is open on Sunday")
    cut = words[: int(len(words) * 0.6)]
    caller = SimulatedCaller([CallerTurn(cut)], sample_rate=RATE, realtime=False, tail_ms=0)
    record = await run_call(engines, caller, settings)
    transcripts = record.of(TranscriptFinal)
    assert len(transcripts) == 1
    assert "cafeteria" in normalise_words(transcripts[0].text)
    assert record.end_reason == "caller_hangup"


async def test_hanging_up_during_a_long_monologue_keeps_every_piece_already_cut(
    engines: Engines, settings: Settings
) -> None:
    short_segments = settings.with_overrides(turn={"max_segment_s": 3.0})
    pieces = [
        await say(engines, text)
        for text in (
            "My first question is about parking near the entrance.",
            "The second one is about visiting hours on the ward.",
            "And the last one is about the cafeteria menu today.",
        )
    ]
    monologue = concat(*(concat(piece, silence(150)) for piece in pieces))
    caller = SimulatedCaller([CallerTurn(monologue)], sample_rate=RATE, realtime=False, tail_ms=0)
    record = await run_call(engines, caller, short_segments)
    assert record.end_reason == "caller_hangup"
    partials = record.of(TranscriptPartial)
    assert len(partials) >= 2  # the monologue was cut into pieces before the hang-up
    [final] = record.of(TranscriptFinal)
    words = normalise_words(final.text)
    assert {"parking", "visiting", "cafeteria"} <= set(words)
    assert {p.turn_id for p in partials} == {final.turn_id}


@pytest.mark.slow
async def test_a_ten_minute_monologue_is_transcribed_in_bounded_pieces(
    engines: Engines, settings: Settings
) -> None:
    sentence = await say(
        engines, "My neighbour told me a long story about the hospital garden and the roses there."
    )
    piece = concat(sentence, silence(150))
    repeats = 600 * RATE // len(piece) + 1
    monologue = np.tile(piece, repeats)[: 600 * RATE]
    caller = SimulatedCaller([CallerTurn(monologue)], sample_rate=RATE, realtime=False)
    record = await run_call(engines, caller, settings)
    partials = record.of(TranscriptPartial)
    assert len(partials) >= 600 / settings.turn.max_segment_s - 2
    final = record.of(TranscriptFinal)
    assert len(final) == 1
    assert normalise_words(final[0].text).count("garden") > 20
    assert [e for e in record.of(AgentText) if e.turn_id == final[0].turn_id]
