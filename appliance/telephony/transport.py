"""The one small interface between a call's media and its voice loop.

A transport delivers the caller's 20 ms frames and plays the agent's frames.
Media threads (pjsua2, a pacing thread) hand frames over through thread-safe
calls and pull playout without ever waiting for the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.audio.playout import PlayoutBuffer
from appliance.calls.events import Priority
from appliance.speech.stt import Int16Audio


@dataclass(frozen=True, slots=True)
class InboundAudio:
    pcm: Int16Audio
    arrived: float  # perf_counter when the frame reached the appliance


@dataclass(frozen=True, slots=True)
class InboundControl:
    kind: str  # "hangup" | "dtmf" | "transfer_failed" (value: why)
    value: str = ""


InboundItem = InboundAudio | InboundControl


class MediaPorts:
    """The voice loop's side of a transport: an inbound queue and the playout buffer.

    Control items (hang-up, DTMF) outrank audio in the queue.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, playout: PlayoutBuffer) -> None:
        self._loop = loop
        self.playout = playout
        self.sample_rate = playout.sample_rate
        self._queue: asyncio.PriorityQueue[tuple[int, int, InboundItem]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self.agent_idle = asyncio.Event()
        self.inbound_tap: Callable[[Int16Audio], None] | None = None
        """Sees every caller frame as it arrives (call recording); must not block."""

    def _put(self, item: InboundItem) -> None:
        priority = Priority.MEDIA if isinstance(item, InboundAudio) else Priority.CONTROL
        self._queue.put_nowait((int(priority), next(self._order), item))

    # -- transport side: any thread --------------------------------------

    def push_audio_threadsafe(self, pcm: Int16Audio) -> None:
        if self.inbound_tap is not None:
            self.inbound_tap(pcm)
        item = InboundAudio(pcm, time.perf_counter())
        self._loop.call_soon_threadsafe(self._put, item)

    def push_control_threadsafe(self, kind: str, value: str = "") -> None:
        self._loop.call_soon_threadsafe(self._put, InboundControl(kind, value))

    # -- transport side: event loop --------------------------------------

    def push_audio(self, pcm: Int16Audio) -> None:
        if self.inbound_tap is not None:
            self.inbound_tap(pcm)
        self._put(InboundAudio(pcm, time.perf_counter()))

    def push_control(self, kind: str, value: str = "") -> None:
        self._put(InboundControl(kind, value))

    async def drained(self) -> None:
        """Wait until the voice loop has processed everything pushed so far."""
        await self._queue.join()

    # -- voice loop side -------------------------------------------------

    async def get(self) -> InboundItem:
        return (await self._queue.get())[2]

    def task_done(self) -> None:
        self._queue.task_done()


class Transport(Protocol):
    """Audio frames in and out plus call control, for one call."""

    name: str
    sample_rate: int
    remote: str
    dialled: str
    """The number the caller dialled, when the transport knows it ("" otherwise)."""

    async def run(self, ports: MediaPorts) -> str:
        """Carry media until the call ends; return why it ended."""
        ...

    async def hangup(self) -> None:
        """The agent ends the call."""
        ...
