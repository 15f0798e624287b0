"""Spoken escalations: an emergency and a request for a person hand over at once,
with the context package published as an event and delivered to the contact
centre's webhook (the demo back-end's inbox, over real HTTP). Without anyone
available the agent offers a callback instead.

Real VAD, Whisper, escalation detector and Piper; the LLM is never asked.
"""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from appliance.agent.responder import Responder
from appliance.calls.events import (
    AgentText,
    AgentTurnCompleted,
    ContextPackageReady,
    Dtmf,
    HandoffRequested,
    TranscriptFinal,
    TurnTimings,
)
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.demo_backend.app import create_demo_backend, seed
from appliance.engines import Engines
from appliance.escalation.classifier import EscalationDetector
from appliance.handoff.packager import ContextPackager
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from tests.support.app_server import app_server, serve_asgi
from tests.support.calls import RATE, say
from tests.support.speech import silence

pytestmark = pytest.mark.asyncio


def with_presence(engines: Engines, settings: Settings, presence: str, webhook: str) -> Engines:
    tuned = settings.with_overrides(
        handoff={"presence": presence, "webhook_url": webhook},
        tools={"allowed_hosts": ["127.0.0.1"]},
    )
    detector = EscalationDetector(tuned.escalation)
    return dataclasses.replace(
        engines,
        settings=tuned,
        responder=Responder(engines.llm, tuned, None, None, detector),
        packager=ContextPackager(
            tuned.handoff,
            allowed_hosts=tuned.tools.allowed_hosts,
            sentiment=lambda text: -detector.classify(text).scores.get("emotional", 0.0),
        ),
    )


@pytest.mark.parametrize(
    ("words", "reason", "prompt"),
    [
        ("I have crushing chest pain and my left arm is numb.", "emergency", "emergency"),
        ("Can I please speak to a real person?", "human_request", "handoff"),
    ],
)
async def test_the_caller_is_handed_over_with_the_context_package(
    engines: Engines, settings: Settings, words: str, reason: str, prompt: str
) -> None:
    inbox = seed()
    async with serve_asgi(create_demo_backend(inbox)) as base:
        staffed = with_presence(engines, settings, "always", f"{base}/api/handoffs")
        caller = SimulatedCaller(
            [CallerTurn(await say(engines, words))], sample_rate=RATE, realtime=False
        )
        record = await run_call(staffed, caller, staffed.settings)
    turn = record.of(TranscriptFinal)[0].turn_id
    spoken = [e for e in record.of(AgentText) if e.turn_id == turn]
    assert [(e.text, e.source) for e in spoken] == [(settings.agent.prompt(prompt), "escalation")]
    handoffs = record.of(HandoffRequested)
    assert [(h.reason, h.human_available) for h in handoffs] == [(reason, True)]
    assert reason in handoffs[0].detail
    timings = [t for t in record.of(TurnTimings) if t.turn_id == turn]
    assert timings[0].llm_first_token_ms is None  # no LLM in the way of an emergency

    packages = record.of(ContextPackageReady)
    assert len(packages) == 1
    package = packages[0].package
    assert package["reason"] == reason
    caller_lines = [line for line in package["transcript"] if line["speaker"] == "caller"]
    assert caller_lines[0]["text"] == record.of(TranscriptFinal)[0].text
    assert package["concern"] == caller_lines[0]["text"]
    assert [line["text"] for line in package["transcript"] if line["speaker"] == "agent"][-1] == (
        settings.agent.prompt(prompt)
    )
    # Delivered to the contact centre as JSON, the same package.
    assert [p["call_id"] for p in inbox.handoffs] == [record.call_id]
    assert inbox.handoffs[0]["transcript"] == json.loads(json.dumps(package["transcript"]))
    # And the person picking up can pull it by the call id the transfer carries.
    async with app_server(staffed) as appliance, httpx.AsyncClient(base_url=appliance) as http:
        pulled = await http.get(f"/api/handoffs/{record.call_id}")
        unknown = await http.get("/api/handoffs/0000")
    assert pulled.json()["summary"] == package["summary"]
    assert unknown.status_code == 404


async def test_with_nobody_available_the_agent_offers_a_callback(
    engines: Engines, settings: Settings
) -> None:
    inbox = seed()
    async with serve_asgi(create_demo_backend(inbox)) as base:
        unstaffed = with_presence(engines, settings, "never", f"{base}/api/handoffs")
        words = await say(engines, "I want to talk to a human being, please.")
        caller = SimulatedCaller([CallerTurn(words)], sample_rate=RATE, realtime=False)
        record = await run_call(unstaffed, caller, unstaffed.settings)
    said = [e.text for e in record.of(AgentText) if e.source == "escalation"]
    assert said == [settings.agent.prompt("no_human_callback")]
    assert [(h.reason, h.human_available) for h in record.of(HandoffRequested)] == [
        ("human_request", False)
    ]
    assert inbox.handoffs[0]["reason"] == "human_request"


async def test_pressing_0_while_the_agent_speaks_hands_over(
    engines: Engines, settings: Settings
) -> None:
    inbox = seed()
    async with serve_asgi(create_demo_backend(inbox)) as base:
        staffed = with_presence(engines, settings, "always", f"{base}/api/handoffs")
        caller = SimulatedCaller(
            [CallerTurn(silence(300), after_agent_audio_ms=800, dtmf="0")],
            sample_rate=RATE,
            realtime=True,
        )
        record = await run_call(staffed, caller, staffed.settings)
    assert [e.digit for e in record.of(Dtmf)] == ["0"]
    completed = record.of(AgentTurnCompleted)
    assert completed[0].interrupted  # the greeting was cut off by the key
    handoffs = record.of(HandoffRequested)
    assert [(h.reason, h.detail) for h in handoffs] == [("human_request", "human_request: key 0")]
    assert record.of(AgentText)[-1].text == settings.agent.prompt("handoff")
    assert inbox.handoffs[0]["reason"] == "human_request"
