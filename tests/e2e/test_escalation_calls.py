"""Spoken escalations: an emergency and a request for a person hand over at once.

Real VAD, Whisper, escalation detector and Piper; the LLM is never asked.
"""

from __future__ import annotations

import pytest

from appliance.calls.events import AgentText, HandoffRequested, TranscriptFinal, TurnTimings
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from tests.support.calls import RATE, say

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("words", "reason", "prompt"),
    [
        ("I have crushing chest pain and my left arm is numb.", "emergency", "emergency"),
        ("Can I please speak to a real person?", "human_request", "handoff"),
    ],
)
async def test_the_caller_is_handed_over_with_the_reason_recorded(
    engines: Engines, settings: Settings, words: str, reason: str, prompt: str
) -> None:
    caller = SimulatedCaller(
        [CallerTurn(await say(engines, words))], sample_rate=RATE, realtime=False
    )
    record = await run_call(engines, caller, settings)
    turn = record.of(TranscriptFinal)[0].turn_id
    spoken = [e for e in record.of(AgentText) if e.turn_id == turn]
    assert [(e.text, e.source) for e in spoken] == [(settings.agent.prompt(prompt), "escalation")]
    handoffs = record.of(HandoffRequested)
    assert [h.reason for h in handoffs] == [reason]
    assert reason in handoffs[0].detail
    timings = [t for t in record.of(TurnTimings) if t.turn_id == turn]
    assert timings[0].llm_first_token_ms is None  # no LLM in the way of an emergency
