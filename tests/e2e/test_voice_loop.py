"""A caller's audio in, the agent's spoken answer out: real VAD, Whisper, LLM and Piper."""

from __future__ import annotations

import pytest

from appliance.calls.events import (
    AgentText,
    AgentTurnCompleted,
    BackchannelIgnored,
    BargeIn,
    CallStarted,
    StateChanged,
    TranscriptFinal,
    TurnTimings,
)
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from tests.support.calls import RATE, concat, first_loud_ms, say, voiced_ms
from tests.support.speech import normalise_words, silence, word_error_rate

pytestmark = pytest.mark.asyncio


async def test_a_spoken_question_gets_a_spoken_answer(engines: Engines, settings: Settings) -> None:
    question = await say(engines, "When can I call to book an outpatient appointment?")
    caller = SimulatedCaller([CallerTurn(question)], sample_rate=RATE, realtime=False)
    record = await run_call(engines, caller, settings)

    assert isinstance(record.events[0], CallStarted)
    transcripts = record.of(TranscriptFinal)
    assert len(transcripts) == 1
    assert {"outpatient", "appointment"} <= set(normalise_words(transcripts[0].text))
    replies = [e for e in record.of(AgentText) if e.turn_id == transcripts[0].turn_id]
    assert any(e.source == "llm" for e in replies)
    assert all(e.source in ("llm", "prompt") for e in replies)  # "one moment" if slow
    said = " ".join(e.text for e in replies)

    # The reply audio is speech, and it is the text the agent says it spoke.
    agent = caller.recording.agent_audio()
    greeting_ms = voiced_ms(await say(engines, settings.agent.prompt("greeting")))
    assert voiced_ms(agent) > greeting_ms + 500
    reply_audio = agent[len(agent) - int(RATE * 0.02) * len(caller.recording.agent) :]
    heard = await engines.stt.transcribe(reply_audio[-RATE * 30 :], language="en")
    assert word_error_rate(said, heard.text) < 0.6 or set(normalise_words(said)) & set(
        normalise_words(heard.text)
    )

    timings = [t for t in record.of(TurnTimings) if t.turn_id == transcripts[0].turn_id]
    assert len(timings) == 1
    assert timings[0].voice_to_voice_ms is not None
    assert timings[0].llm_first_token_ms is not None
    states = [e.state.value for e in record.of(StateChanged)]
    assert states[:3] == ["thinking", "speaking", "listening"]
    assert "thinking" in states[3:]
    assert states[-1] == "ended"
    completed = record.of(AgentTurnCompleted)
    assert all(not e.interrupted for e in completed)


async def test_several_turns_in_one_file_keep_their_order(
    engines: Engines, settings: Settings
) -> None:
    first = await say(engines, "Where is the emergency entrance?")
    second = await say(engines, "Do you have interpreters?")
    audio = concat(first, silence(1500), second, silence(300))
    caller = SimulatedCaller([CallerTurn(audio)], sample_rate=RATE, realtime=False)
    record = await run_call(engines, caller, settings)
    texts = [normalise_words(e.text) for e in record.of(TranscriptFinal)]
    assert len(texts) == 2
    assert "emergency" in texts[0]
    assert "interpreters" in texts[1]
    answered = {e.turn_id for e in record.of(AgentText) if e.source == "llm"}
    assert {e.turn_id for e in record.of(TranscriptFinal)} <= answered


async def test_barge_in_stops_playback_and_cancels_the_answer(
    engines: Engines, settings: Settings
) -> None:
    question = await say(engines, "Please tell me everything about visiting hours and parking.")
    interruption = await say(engines, "Stop, I have a different question about my bill.")
    caller = SimulatedCaller(
        [
            CallerTurn(question, after_agent_idle_ms=300),
            CallerTurn(interruption, after_agent_audio_ms=700),
        ],
        sample_rate=RATE,
        realtime=True,
        tail_ms=800,
    )
    record = await run_call(engines, caller, settings)

    barge_ins = record.of(BargeIn)
    assert len(barge_ins) == 1
    cut = [e for e in record.of(AgentTurnCompleted) if e.interrupted]
    assert [e.turn_id for e in cut] == [barge_ins[0].turn_id]
    # What the caller heard is recorded, and it is the start of what the agent meant to say.
    planned = " ".join(e.text for e in record.of(AgentText) if e.turn_id == barge_ins[0].turn_id)
    assert planned.startswith(barge_ins[0].heard_text)

    # Playback really stopped soon after the caller started speaking, and stayed stopped.
    rec = caller.recording
    onset_frame = (rec.turn_starts_ms[1] + first_loud_ms(interruption)) // 20
    window = rec.agent[onset_frame : onset_frame + 50]
    still_playing = [i for i, frame in enumerate(window) if voiced_ms(frame) > 0]
    assert not still_playing or max(still_playing) * 20 <= 120, still_playing
    # ... and the interruption itself was heard and answered.
    last = record.of(TranscriptFinal)[-1]
    assert "bill" in normalise_words(last.text)


async def test_a_backchannel_does_not_cut_the_agent_off(
    engines: Engines, settings: Settings
) -> None:
    question = await say(engines, "Please tell me everything about visiting hours and parking.")
    mhm = await say(engines, "Okay.")
    caller = SimulatedCaller(
        [CallerTurn(question, after_agent_idle_ms=300), CallerTurn(mhm, after_agent_audio_ms=900)],
        sample_rate=RATE,
        realtime=True,
        tail_ms=800,
    )
    record = await run_call(engines, caller, settings)
    assert not record.of(BargeIn)
    ignored = record.of(BackchannelIgnored)
    assert len(ignored) == 1
    answer_turn = record.of(TranscriptFinal)[0].turn_id
    completed = [e for e in record.of(AgentTurnCompleted) if e.turn_id == answer_turn]
    assert completed
    assert not completed[0].interrupted
    # The backchannel is not a turn of its own: only the question was answered.
    assert len(record.of(TranscriptFinal)) == 1


@pytest.mark.parametrize("line_rate", [8_000, 48_000])
async def test_narrowband_and_wideband_lines_are_resampled_at_the_edges(
    engines: Engines, settings: Settings, line_rate: int
) -> None:
    question = await say(engines, "Where is the emergency entrance?", rate=line_rate)
    caller = SimulatedCaller([CallerTurn(question)], sample_rate=line_rate, realtime=False)
    record = await run_call(engines, caller, settings)
    transcripts = record.of(TranscriptFinal)
    assert len(transcripts) == 1
    assert "emergency" in normalise_words(transcripts[0].text)
    agent = caller.recording.agent_audio()
    assert caller.recording.agent[0].shape == (line_rate // 50,)  # 20 ms frames at the line rate
    assert voiced_ms(agent, line_rate) > 3000
