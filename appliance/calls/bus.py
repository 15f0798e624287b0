"""The event bus: one publisher side, many subscribers, control first.

Publishing never blocks and never drops: each subscriber has its own queue,
ordered by priority and then by arrival, so a hang-up or barge-in overtakes
transcripts a slow subscriber has not read yet. Subscribers run in their own
tasks; a failing subscriber cannot disturb the call.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from appliance.calls.events import CallEvent

log = logging.getLogger(__name__)

E = TypeVar("E", bound=CallEvent)
BACKLOG_WARNING = 10_000


class Subscription:
    """An ordered, unbounded inbox of events for one subscriber."""

    def __init__(self, bus: EventBus, call_id: str | None) -> None:
        self._bus = bus
        self.call_id = call_id
        self._heap: list[tuple[int, int, CallEvent]] = []
        self._ready = asyncio.Event()
        self._closed = False
        self._warned = False

    def _offer(self, order: int, event: CallEvent) -> None:
        if self._closed or (self.call_id is not None and event.call_id != self.call_id):
            return
        heapq.heappush(self._heap, (int(event.priority), order, event))
        if len(self._heap) > BACKLOG_WARNING and not self._warned:
            self._warned = True
            log.warning("event subscriber falling behind", extra={"backlog": len(self._heap)})
        self._ready.set()

    def pending(self) -> int:
        return len(self._heap)

    def get_nowait(self) -> CallEvent | None:
        if not self._heap:
            return None
        return heapq.heappop(self._heap)[2]

    async def get(self) -> CallEvent | None:
        """The next event, or None once closed and drained."""
        while not self._heap:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return heapq.heappop(self._heap)[2]

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self._bus._remove(self)

    def __aiter__(self) -> AsyncIterator[CallEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[CallEvent]:
        while (event := await self.get()) is not None:
            yield event


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._order = itertools.count()

    def subscribe(self, call_id: str | None = None) -> Subscription:
        sub = Subscription(self, call_id)
        self._subscriptions.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def publish(self, event: CallEvent) -> None:
        order = next(self._order)
        for sub in tuple(self._subscriptions):
            sub._offer(order, event)

    def close_call(self, call_id: str) -> None:
        """Close the subscriptions that follow one call only."""
        for sub in tuple(self._subscriptions):
            if sub.call_id == call_id:
                sub.close()


class CallEmitter:
    """Stamps call id, sequence number, wall time and media position on events."""

    def __init__(
        self, call_id: str, bus: EventBus, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.call_id = call_id
        self._bus = bus
        self._seq = itertools.count(1)
        self._wall = wall_clock
        self.media_ms = 0

    def emit(self, event_type: type[E], *, media_ms: int | None = None, **fields: Any) -> E:
        event = event_type(
            call_id=self.call_id,
            seq=next(self._seq),
            at=self._wall(),
            media_ms=self.media_ms if media_ms is None else media_ms,
            **fields,
        )
        self._bus.publish(event)
        return event
