"""SIP calls to voice loops: the part ``appliance serve`` starts when SIP is enabled.

The endpoint's SIP thread announces each answered call whose media is up; the
service starts that call's voice loop on the event loop (``run_call``) and keeps
the finished call records for whoever wants them (tests, later the store).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from appliance.calls.bus import EventBus, Subscription
from appliance.calls.events import HandoffRequested
from appliance.calls.session import CallRecord, run_call
from appliance.config import Settings
from appliance.engines import Engines
from appliance.errors import ApplianceError, ErrorCode
from appliance.telephony.sip.call import SipTransport
from appliance.telephony.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)

KEEP_RECORDS = 100
STOP_CALLS_S = 10.0
HANDOFF_SPEECH_WAIT_S = 15.0  # longest the agent may go on speaking before the transfer


class SipService:
    def __init__(
        self, engines: Engines, settings: Settings, *, bus: EventBus | None = None
    ) -> None:
        self.engines = engines
        self.settings = settings
        self.bus = bus or EventBus()
        self.endpoint: SipEndpoint | None = None
        self.records: deque[CallRecord] = deque(maxlen=KEEP_RECORDS)
        self.transports: dict[str, SipTransport] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> SipEndpoint:
        self._loop = asyncio.get_running_loop()
        endpoint = SipEndpoint(self.settings.sip, on_call=self._on_call_threadsafe, loop=self._loop)
        await asyncio.to_thread(endpoint.start)
        self.endpoint = endpoint
        return endpoint

    async def stop(self) -> None:
        for transport in list(self.transports.values()):
            await transport.hangup()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_CALLS_S)
            for task in pending:
                task.cancel()
        if self.endpoint is not None:
            await asyncio.to_thread(self.endpoint.stop)
            self.endpoint = None

    async def _hand_off_on_request(self, transport: SipTransport, events: Subscription) -> None:
        """Transfer the call to the human agent when its voice loop asks for a person.

        Only when a person is there (``human_available``; otherwise the agent has
        offered a callback and the call goes on). The agent first finishes what it
        is saying ("I am connecting you with a colleague"); the case reference is
        the call id, which the other side uses to pull the context package.
        """
        try:
            async for event in events:
                if isinstance(event, HandoffRequested) and event.human_available:
                    await self._agent_quiet(transport, HANDOFF_SPEECH_WAIT_S)
                    log.info(
                        "sip handoff: transferring",
                        extra={"call_id": transport.call_id, "reason": event.reason},
                    )
                    await transport.transfer(transport.call_id)
                    return
        finally:
            events.close()

    @staticmethod
    async def _agent_quiet(transport: SipTransport, limit_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + limit_s
        while asyncio.get_running_loop().time() < deadline:
            ports = transport.ports
            if ports is None or (ports.agent_idle.is_set() and not ports.playout.has_audio()):
                return
            await asyncio.sleep(0.05)

    async def transfer(self, call_id: str, reference: str, target: str | None = None) -> None:
        """Hand a call in progress to a person (blind transfer), with its case reference."""
        transport = self.transports.get(call_id)
        if transport is None:
            raise ApplianceError(f"no SIP call {call_id}", code=ErrorCode.SIP_TRANSFER_FAILED)
        await transport.transfer(reference, target)

    def health(self) -> dict[str, object]:
        if self.endpoint is None:
            return {"enabled": self.settings.sip.enabled, "running": False}
        return self.endpoint.health()

    async def wait_records(self, count: int, timeout_s: float) -> list[CallRecord]:
        """Wait until at least ``count`` calls have finished; return the records."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.records) >= count), timeout_s
            )
        return list(self.records)

    # -- SIP thread -> event loop -----------------------------------------

    def _on_call_threadsafe(self, transport: SipTransport) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, transport)

    def _spawn(self, transport: SipTransport) -> None:
        self.transports[transport.call_id] = transport
        task = asyncio.create_task(self._run(transport), name=f"sip-call-{transport.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, transport: SipTransport) -> None:
        sip = self.settings.sip
        watcher: asyncio.Task[None] | None = None
        if sip.transfer_target and sip.transfer_on_handoff:
            events = self.bus.subscribe(transport.call_id)  # before any event can pass
            watcher = asyncio.create_task(self._hand_off_on_request(transport, events))
        try:
            record = await run_call(
                self.engines, transport, self.settings, bus=self.bus, call_id=transport.call_id
            )
        except Exception as exc:  # a failed voice loop must not leave its SIP leg up
            log.exception(
                "sip call failed",
                extra={"call_id": transport.call_id, "code": ErrorCode.SIP_CALL_FAILED.value},
            )
            await transport.hangup()
            record = CallRecord(transport.call_id, end_reason=f"failed: {type(exc).__name__}")
        finally:
            self.transports.pop(transport.call_id, None)
            if watcher is not None:
                watcher.cancel()
        self.records.append(record)
        async with self._changed:
            self._changed.notify_all()
