"""The number dialled picks the knowledge base: one appliance, several departments.

A SIP trunk addresses each INVITE to the number dialled; ``knowledge.routes``
maps numbers to collections. Real pjsua2 and baresip, real engines, two real
Qdrant local-mode collections on one client.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from appliance.agent.responder import Responder
from appliance.calls.events import AnswerSources, CallEnded, CallStarted, TranscriptFinal
from appliance.config import Settings
from appliance.engines import Engines
from appliance.knowledge.service import open_knowledge
from appliance.telephony.sip.service import SipService
from tests.support.calls import concat, say
from tests.support.sip_peers import LOOPBACK, Baresip
from tests.support.sip_service import (
    dial_until_started,
    next_event,
    sip_settings,
    start_service,
)
from tests.support.speech import silence

pytestmark = pytest.mark.asyncio

LINE_RATE = 8_000
GREETING_ROOM_MS = 10_000

PARKING = "# Parking\n\nThe car park opposite the main entrance costs 2 euros per hour.\n"
XRAY = (
    "# X-ray\n\nThe radiology department takes X-rays without an appointment on weekdays "
    "from 7 am to 4 pm. Please bring your referral.\n"
)


async def test_each_dialled_number_is_answered_from_its_own_knowledge_base(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(
        settings.with_overrides(
            data_dir=str(tmp_path),  # type: ignore[arg-type]
            knowledge={"routes": {"2300": "radiologie"}},
        ),
        mode="trunk",
        allowed_peers=[LOOPBACK],
    )
    (tmp_path / "parking.md").write_text(PARKING, "utf-8")
    (tmp_path / "xray.md").write_text(XRAY, "utf-8")
    main = open_knowledge(config)
    radiology = main.other_collection(config, "radiologie")
    try:
        main.store.ingest_file(tmp_path / "parking.md")
        radiology.store.ingest_file(tmp_path / "xray.md")
        routed = dataclasses.replace(
            engines,
            settings=config,
            responder=Responder(engines.llm, config, main.lookup(config)),
            routed={"radiologie": Responder(engines.llm, config, radiology.lookup(config))},
        )
        service = await start_service(routed, config, services)
        endpoint = service.endpoint
        assert endpoint is not None

        question = await say(engines, "When can I get an X-ray without an appointment?", LINE_RATE)
        audio = concat(silence(GREETING_ROOM_MS, LINE_RATE), question, silence(30_000, LINE_RATE))
        caller = Baresip(tmp_path / "baresip", audio=audio, sample_rate=LINE_RATE).start()
        events = service.bus.subscribe()
        try:
            started = await dial_until_started(
                caller, f"sip:2300@{LOOPBACK}:{endpoint.local_port}", events
            )
            assert (started.dialled, started.collection) == ("2300", "radiologie")
            asked = await next_event(events, TranscriptFinal, 60)
            sources = await next_event(events, AnswerSources, 60, turn_id=asked.turn_id)
            caller.hangup()
            await next_event(events, CallEnded, 15)
            await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 10)

            # Any other number: the configured default collection.
            caller.dial(f"sip:appliance@{LOOPBACK}:{endpoint.local_port}")
            await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", 15)
            other = await next_event(events, CallStarted, 10)
            caller.hangup()
            await next_event(events, CallEnded, 15)
        finally:
            events.close()
            caller.stop()
    finally:
        radiology.close()
        main.close()

    assert sources.collection == "radiologie"
    assert sources.relevant
    assert {p.doc_id for p in sources.passages} == {"xray"}
    assert (other.dialled, other.collection) == ("appliance", "default")
