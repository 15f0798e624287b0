"""The appliance's SIP service in end-to-end tests: settings, start, and waiting on its events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

from appliance.audio.resample import resample
from appliance.calls.bus import Subscription
from appliance.calls.events import CallEvent, CallStarted
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.sip.service import SipService
from tests.support.sip_peers import LOOPBACK, Baresip
from tests.support.speech import normalise_words

E = TypeVar("E", bound=CallEvent)


def sip_settings(settings: Settings, **sip: Any) -> Settings:
    """SIP on loopback, ports picked by the system, plus ``sip`` overrides."""
    return settings.with_overrides(
        sip={"enabled": True, "bind_host": LOOPBACK, "port": 0, "rtp_port": 0, **sip}
    )


async def start_service(
    engines: Engines, settings: Settings, services: list[SipService]
) -> SipService:
    """Start a service; the ``services`` fixture stops it after the test."""
    service = SipService(engines, settings)
    services.append(service)
    await service.start()
    return service


async def next_event(
    events: Subscription,
    kind: type[E],
    timeout_s: float,
    *,
    seen: list[CallEvent] | None = None,
    where: Callable[[CallEvent], bool] | None = None,
    **attributes: Any,
) -> E:
    """The next ``kind`` event (with these attribute values, passing ``where``)."""

    async def find() -> E:
        while True:
            event = await events.get()
            if event is None:
                raise AssertionError(f"event stream closed before {kind.__name__}")
            if seen is not None:
                seen.append(event)
            if (
                isinstance(event, kind)
                and all(getattr(event, k) == v for k, v in attributes.items())
                and (where is None or where(event))
            ):
                return event

    return await asyncio.wait_for(find(), timeout_s)


class EventInbox:
    """A subscription read by several waits in turn, where no wait loses an event.

    The bus hands a subscriber its backlog by priority: a call's ``Hangup`` and
    ``CallEnded`` (control) come out before its ``CallStarted`` (state) when all
    are already queued. ``next_event`` drops what it skips, so waiting for
    ``CallStarted`` there would drop the ``CallEnded`` a later wait needs. Here
    skipped events stay unclaimed and the next wait looks at them first.
    """

    def __init__(self, events: Subscription) -> None:
        self.events = events
        self.seen: list[CallEvent] = []  # everything read, in the order read
        self._unclaimed: list[CallEvent] = []

    def drain(self) -> None:
        """Read what is queued now without waiting (it stays unclaimed)."""
        while (event := self.events.get_nowait()) is not None:
            self.seen.append(event)
            self._unclaimed.append(event)

    async def next(
        self, kind: type[E], timeout_s: float, where: Callable[[CallEvent], bool] | None = None
    ) -> E:
        """The first unclaimed ``kind`` event passing ``where``, waiting up to ``timeout_s``."""

        def wanted(event: CallEvent) -> bool:
            return isinstance(event, kind) and (where is None or where(event))

        for event in self._unclaimed:
            if wanted(event):
                self._unclaimed.remove(event)
                return cast(E, event)

        def claim(event: CallEvent) -> bool:
            if wanted(event):
                return True
            self._unclaimed.append(event)
            return False

        found = await next_event(self.events, CallEvent, timeout_s, seen=self.seen, where=claim)
        return cast(E, found)


async def wait_until(predicate: Callable[[], object], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.1)


async def heard_words(engines: Engines, audio: Any, rate: int) -> list[str]:
    """What a caller's recording says, as normalised words (Whisper on the real engine)."""
    transcript = await engines.stt.transcribe(resample(audio, rate, 16_000), language="en")
    return normalise_words(transcript.text)


async def dial_until_started(caller: Baresip, uri: str, events: Subscription) -> CallStarted:
    """The caller dials ``uri``; the call is established and the appliance's voice loop runs."""
    caller.dial(uri)
    await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", 15)
    return await next_event(events, CallStarted, 10)
