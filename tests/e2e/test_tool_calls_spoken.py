"""A spoken tool dialogue on the embedded tier: verification, then the caller's own claim.

Real VAD, Whisper, intent router, slot filler, demo back-end over HTTP and Piper.
"""

from __future__ import annotations

import dataclasses

import pytest

from appliance.agent.responder import Responder
from appliance.calls.events import AgentText, ToolCalled, TranscriptFinal
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.demo_backend.app import create_demo_backend
from appliance.demo_backend.connectors import demo_tools
from appliance.engines import Engines
from appliance.escalation.classifier import EscalationDetector
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from appliance.tools.registry import ToolRegistry
from tests.support.app_server import serve_asgi
from tests.support.calls import RATE, concat, say
from tests.support.speech import silence

pytestmark = pytest.mark.asyncio


async def test_a_caller_is_verified_and_hears_the_status_of_their_claim(
    engines: Engines, settings: Settings
) -> None:
    async with serve_asgi(create_demo_backend()) as base:
        tuned = settings.with_overrides(tools=demo_tools(base).model_dump(mode="json"))
        registry = ToolRegistry(tuned.tools)
        try:
            responder = Responder(
                engines.llm, tuned, None, registry, EscalationDetector(tuned.escalation)
            )
            with_tools = dataclasses.replace(engines, responder=responder, settings=tuned)
            identify = await say(
                engines,
                "My customer number is one, zero, zero, two, three, four. "
                "My date of birth is March twenty third, nineteen eighty.",
            )
            ask = await say(
                engines, "What is the status of my claim seven, seven, eight, eight, one, two?"
            )
            caller = SimulatedCaller(
                [CallerTurn(concat(identify, silence(1500))), CallerTurn(ask)],
                sample_rate=RATE,
                realtime=False,
            )
            record = await run_call(with_tools, caller, tuned)
        finally:
            await registry.aclose()

    turns = [e.turn_id for e in record.of(TranscriptFinal)]
    assert len(turns) == 2
    calls = record.of(ToolCalled)
    assert [(c.name, c.outcome, c.source) for c in calls] == [
        ("verify_caller", "ok", "router"),
        ("case_status", "ok", "router"),
    ]
    assert calls[0].turn_id == turns[0]
    assert calls[1].turn_id == turns[1]
    said = " ".join(e.text for e in record.of(AgentText) if e.turn_id == turns[1])
    assert said == "Your claim is approved, last updated on 18 November 2026."
