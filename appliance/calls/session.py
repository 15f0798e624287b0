"""Run one call to the end and keep its events: the CLI, tests and benchmarks use this."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TypeVar

from appliance.calls.bus import EventBus
from appliance.calls.events import CallEvent
from appliance.calls.voice_loop import VoiceLoop
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.transport import Transport

E = TypeVar("E", bound=CallEvent)


@dataclass
class CallRecord:
    call_id: str
    end_reason: str = ""
    events: list[CallEvent] = field(default_factory=list)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


def new_call_id() -> str:
    return uuid.uuid4().hex[:16]


async def run_call(
    engines: Engines,
    transport: Transport,
    settings: Settings,
    *,
    bus: EventBus | None = None,
    call_id: str | None = None,
) -> CallRecord:
    bus = bus or EventBus()
    record = CallRecord(call_id or new_call_id())
    subscription = bus.subscribe(record.call_id)

    async def collect() -> None:
        async for event in subscription:
            record.events.append(event)

    collector = asyncio.create_task(collect())
    loop = VoiceLoop(
        call_id=record.call_id, transport=transport, engines=engines, settings=settings, bus=bus
    )
    packager = engines.packager
    follow = bus.subscribe(record.call_id) if packager else None
    packaging = None
    if packager is not None and follow is not None:
        # A subscriber like the store or the dashboard: builds the context package on handoff.
        packaging = asyncio.create_task(packager.follow(follow, loop.emitter))
    try:
        record.end_reason = await loop.run()
    finally:
        if packager is not None and follow is not None and packaging is not None:
            follow.close()
            await packaging
            await packager.drain()
        subscription.close()
        await collector
    record.events.sort(key=lambda event: event.seq)
    return record
