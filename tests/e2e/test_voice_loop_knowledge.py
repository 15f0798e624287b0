"""A spoken question answered from the knowledge base, with its sources recorded.

Real VAD, Whisper, USE embeddings, Qdrant local mode, the embedded LLM and Piper.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from appliance.agent.responder import Responder
from appliance.calls.events import AgentText, AnswerSources, HandoffRequested, TranscriptFinal
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.engines import Engines
from appliance.knowledge.service import open_knowledge
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from tests.support.calls import RATE, concat, say
from tests.support.speech import silence

pytestmark = pytest.mark.asyncio

PARKING = """# Parking at the hospital

The car park opposite the main entrance costs 2 euros per hour.
A weekly parking ticket costs 35 euros and is sold at the information desk.
"""


async def test_a_caller_is_answered_from_the_knowledge_base_and_the_sources_are_recorded(
    engines: Engines, settings: Settings, tmp_path: Path
) -> None:
    kb_settings = settings.with_overrides(
        data_dir=str(tmp_path),  # type: ignore[arg-type]
        handoff={"presence": "always"},  # independent of the time the test runs
    )
    (tmp_path / "parking.md").write_text(PARKING, encoding="utf-8")
    knowledge = open_knowledge(kb_settings)
    try:
        knowledge.store.ingest_file(tmp_path / "parking.md")
        with_kb = dataclasses.replace(
            engines, responder=Responder(engines.llm, kb_settings, knowledge.lookup(kb_settings))
        )
        known = await say(engines, "How much is a weekly parking ticket?")
        unknown = await say(engines, "Which shares should I buy on the stock market?")
        # The same concern again, in other words (a question on another topic
        # would be a new concern: see test_concerns.py).
        also_unknown = await say(engines, "Which stocks would you recommend buying?")
        caller = SimulatedCaller(
            # Fast mode: the silence after the first question lets its turn end.
            [
                CallerTurn(concat(known, silence(1500))),
                CallerTurn(concat(unknown, silence(1500))),
                CallerTurn(also_unknown),
            ],
            sample_rate=RATE,
            realtime=False,
        )
        record = await run_call(with_kb, caller, kb_settings)
    finally:
        knowledge.close()

    turns = [e.turn_id for e in record.of(TranscriptFinal)]
    assert len(turns) == 3
    sources = {e.turn_id: e for e in record.of(AnswerSources)}
    answered = sources[turns[0]]
    assert answered.mode == "extractive"  # auto mode with the embedded LLM
    assert answered.relevant
    assert answered.passages
    assert answered.passages[0].point_id
    assert {p.doc_id for p in answered.passages} == {"parking"}
    said = " ".join(e.text for e in record.of(AgentText) if e.turn_id == turns[0])
    assert "35" in said

    declined = sources[turns[1]]
    assert declined.mode == "not_found"
    assert not declined.passages
    said = " ".join(e.text for e in record.of(AgentText) if e.turn_id == turns[1])
    assert said == kb_settings.agent.prompt("not_in_knowledge")
    # Two failed attempts on the same concern: a person takes over.
    assert sources[turns[2]].mode == "not_found"
    handoffs = record.of(HandoffRequested)
    assert [h.reason for h in handoffs] == ["repeated_failure"]
    assert handoffs[0].seq > max(e.seq for e in record.of(AgentText) if e.turn_id == turns[2])
    assert record.of(AgentText)[-1].text == kb_settings.agent.prompt("handoff")
    # Events serialise for the store and the audit log, sources included.
    assert json.loads(json.dumps(answered.to_dict()))["passages"][0]["doc_id"] == "parking"
