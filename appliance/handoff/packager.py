"""A call subscriber: on ``HandoffRequested`` it builds the context package,
publishes it as a ``ContextPackageReady`` event and POSTs it to the webhook.

The webhook gets the package as JSON (bearer secret from a file, host on the
allowlist, redirects not followed), with a few retries; a failure is recorded
as an ``ErrorRaised`` event and logged without content, and never disturbs the
call.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable

import httpx

from appliance.calls.bus import CallEmitter, Subscription
from appliance.calls.events import CallEvent, ContextPackageReady, ErrorRaised, HandoffRequested
from appliance.errors import ErrorCode
from appliance.handoff.context import ContextPackage, Sentiment, build_package
from appliance.handoff.settings import HandoffSettings
from appliance.tools.settings import host_allowed

log = logging.getLogger(__name__)
KEEP_RECENT = 200


class ContextPackager:
    def __init__(
        self,
        settings: HandoffSettings,
        *,
        allowed_hosts: tuple[str, ...],
        sentiment: Sentiment,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.allowed_hosts = allowed_hosts
        self.sentiment = sentiment
        self.now = now
        self._transport = transport
        self.delivered: list[str] = []  # call ids whose package the webhook accepted
        self._posts: set[asyncio.Task[None]] = set()
        # The latest packages by call id, for the person who picks up to pull
        # (GET /api/handoffs/{call_id}); bounded, the store keeps the rest.
        self.recent: OrderedDict[str, ContextPackage] = OrderedDict()

    async def follow(self, subscription: Subscription, emitter: CallEmitter) -> None:
        """Watch one call's events until its subscription closes."""
        events: list[CallEvent] = []
        async for event in subscription:
            events.append(event)
            if isinstance(event, HandoffRequested):
                # Control events jump the queue: take in what was published with it
                # (the turn's transcript and answer) before packing.
                while (queued := subscription.get_nowait()) is not None:
                    events.append(queued)
                events.sort(key=lambda e: e.seq)
                package = build_package(events, event, self.sentiment, now=self.now)
                self.recent[package.call_id] = package
                while len(self.recent) > KEEP_RECENT:
                    self.recent.popitem(last=False)
                emitter.emit(ContextPackageReady, reason=event.reason, package=package.to_dict())
                if self.settings.webhook_url:
                    task = asyncio.create_task(self._deliver(package, emitter))
                    self._posts.add(task)
                    task.add_done_callback(self._posts.discard)

    async def drain(self) -> None:
        """Wait for webhook deliveries still in flight (at the end of a call)."""
        if self._posts:
            await asyncio.gather(*self._posts, return_exceptions=True)

    async def _deliver(self, package: ContextPackage, emitter: CallEmitter) -> None:
        url = str(self.settings.webhook_url)
        problem = "host not in tools.allowed_hosts"
        if host_allowed(url, self.allowed_hosts):
            problem = await self._post(url, package)
            if not problem:
                self.delivered.append(package.call_id)
                return
        log.warning(
            "context package not delivered",
            extra={"call_id": package.call_id, "code": str(ErrorCode.HANDOFF_WEBHOOK_FAILED)},
        )
        with contextlib.suppress(RuntimeError):  # the call's loop may be gone at shutdown
            emitter.emit(
                ErrorRaised,
                code=str(ErrorCode.HANDOFF_WEBHOOK_FAILED),
                stage="handoff",
                message=f"context package webhook: {problem}",
            )

    async def _post(self, url: str, package: ContextPackage) -> str:
        headers = {"Content-Type": "application/json"}
        if self.settings.webhook_secret_file is not None:
            secret = self.settings.webhook_secret_file.read_text("utf-8").strip()
            headers["Authorization"] = f"Bearer {secret}"
        problem = ""
        async with httpx.AsyncClient(
            timeout=self.settings.webhook_timeout_s,
            follow_redirects=False,
            trust_env=False,
            transport=self._transport,
        ) as client:
            for attempt in range(self.settings.webhook_retries + 1):
                try:
                    response = await client.post(url, content=package.to_json(), headers=headers)
                except httpx.HTTPError as exc:
                    problem = f"unreachable ({type(exc).__name__})"
                else:
                    if response.status_code < 300:
                        return ""
                    problem = f"HTTP {response.status_code}"
                await asyncio.sleep(0.2 * (attempt + 1))
        return problem
