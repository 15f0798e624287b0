"""The appliance's SIP service in end-to-end tests: settings, start, and waiting on its events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

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
