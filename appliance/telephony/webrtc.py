"""Browser calls over WebRTC (aiortc): a Transport, and the service that answers offers.

Media path of one call:

- inbound: aiortc decodes Opus in its own decoder thread and hands 48 kHz
  stereo frames to the event loop; :class:`WebRtcTransport` downmixes and
  resamples them (libswresample, microseconds per frame) to the call's rate
  and pushes exact 20 ms int16 frames into :class:`MediaPorts`;
- outbound: :class:`AgentVoiceTrack` is pulled by aiortc's RTP sender, paces
  itself on its own monotonic clock (frame *n* is due at ``anchor + n * 20 ms``,
  so lateness never accumulates), and takes each 20 ms frame from the call's
  :class:`PlayoutBuffer`; aiortc encodes in its executor.

Signalling is one HTTP round trip (no trickle ICE): the browser gathers its
candidates, posts the offer, and gets an answer with the appliance's host
candidates. The transcript goes back over a data channel the browser opens
with the offer: it is encrypted by the same DTLS session, reaches only the
caller who placed the call, and lives and dies with the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from appliance.audio.frames import samples_per_frame
from appliance.audio.playout import PlayoutBuffer
from appliance.calls.bus import EventBus, Subscription
from appliance.calls.events import (
    AgentText,
    AgentTurnCompleted,
    BargeIn,
    CallEnded,
    CallEvent,
    ErrorRaised,
    StateChanged,
    TranscriptFinal,
    TranscriptPartial,
)
from appliance.calls.session import new_call_id, run_call
from appliance.engines import Engines
from appliance.errors import ApplianceError, ErrorCode
from appliance.speech.stt import Int16Audio
from appliance.telephony.transport import MediaPorts
from appliance.telephony.webrtc_settings import PhoneSettings

log = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024  # a browser's audio + data channel offer is 3-6 KiB
RESYNC_AFTER_S = 0.2  # a sender this late re-anchors its clock instead of bursting
RELAY_FLUSH_S = 2.0
CHANNEL_LABEL = "transcript"
MAX_PAGE_MESSAGE = 1024  # the page only ever sends {"type": "hangup"}


class WebRtcError(ApplianceError):
    """A browser call could not be set up; ``status`` is the HTTP status to answer."""

    code = ErrorCode.WEBRTC_BAD_OFFER

    def __init__(self, message: str, *, code: ErrorCode, status: int = 400) -> None:
        super().__init__(message, code=code)
        self.status = status


# -- outbound: the agent's voice ------------------------------------------------


@dataclass(slots=True)
class PacingStats:
    """How punctually the outbound track delivered its frames (milliseconds late)."""

    frames: int = 0
    audio_frames: int = 0
    late_over_5ms: int = 0
    max_late_ms: float = 0.0
    resyncs: int = 0
    first_audio_perf: float | None = None
    lateness_ms: list[float] = field(default_factory=list)

    def note(self, late_s: float) -> None:
        late_ms = max(0.0, late_s * 1000.0)
        self.frames += 1
        self.late_over_5ms += int(late_ms > 5.0)
        self.max_late_ms = max(self.max_late_ms, late_ms)
        if len(self.lateness_ms) < 180_000:  # one hour of frames at most
            self.lateness_ms.append(late_ms)


class AgentVoiceTrack(MediaStreamTrack):
    """An audio track that plays the call's playout buffer, 20 ms at a time."""

    kind = "audio"

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._samples = samples_per_frame(sample_rate)
        self._time_base = Fraction(1, sample_rate)
        self._silence: Int16Audio = np.zeros(self._samples, dtype=np.int16)
        self._playout: PlayoutBuffer | None = None
        self._anchor: float | None = None
        self._pts = 0
        self.stats = PacingStats()

    def attach(self, playout: PlayoutBuffer) -> None:
        self._playout = playout

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = now
            late = 0.0
        else:
            self._pts += self._samples
            due = self._anchor + self._pts / self.sample_rate
            if due > now:
                await asyncio.sleep(due - now)
            late = time.monotonic() - due
            if late > RESYNC_AFTER_S:
                # The loop stalled: carry on from now rather than sending a burst.
                self._anchor = time.monotonic() - self._pts / self.sample_rate
                self.stats.resyncs += 1
        self.stats.note(late)
        pcm, has_audio = (
            self._playout.pull() if self._playout is not None else (self._silence, False)
        )
        if has_audio:
            self.stats.audio_frames += 1
            if self.stats.first_audio_perf is None:
                self.stats.first_audio_perf = time.perf_counter()
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        frame.time_base = self._time_base
        return frame


# -- the transport ----------------------------------------------------------------


class WebRtcTransport:
    """One browser call: media in and out of an aiortc peer connection."""

    name = "webrtc"

    def __init__(
        self,
        pc: RTCPeerConnection,
        *,
        call_id: str,
        sample_rate: int,
        remote: str,
        connect_timeout_s: float,
        media_timeout_s: float,
        max_call_s: float,
    ) -> None:
        self.pc = pc
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.remote = remote
        self.dialled = ""  # a browser call dials no number
        self.connect_timeout_s = connect_timeout_s
        self.media_timeout_s = media_timeout_s
        self.max_call_s = max_call_s
        self.outbound = AgentVoiceTrack(sample_rate)
        self.inbound: MediaStreamTrack | None = None
        self.created_perf = time.perf_counter()
        self.connected_perf: float | None = None
        self.first_inbound_perf: float | None = None
        self._frame = samples_per_frame(sample_rate)
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._end_reason = ""
        self._channel: RTCDataChannel | None = None
        self._outbox: list[str] = []
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)
        pc.on("datachannel", self._on_datachannel)

    # -- peer connection events (event loop) -----------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        # Offers with video or a second audio stream are refused before aiortc sees them.
        if track.kind == "audio" and self.inbound is None:
            self.inbound = track

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("webrtc connection state", extra={"call_id": self.call_id, "state": state})
        if state == "connected":
            self.connected_perf = time.perf_counter()
            self._connected.set()
        elif state == "failed":
            self.end("connection_failed")
        elif state == "closed":
            self.end("caller_hangup")

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL_LABEL or self._channel is not None:
            channel.close()
            return
        self._channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self.end("caller_hangup"))
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def _on_message(self, message: object) -> None:
        if not isinstance(message, str) or len(message) > MAX_PAGE_MESSAGE:
            return
        try:
            data = json.loads(message)
        except json.JSONDecodeError:
            return
        if isinstance(data, dict) and data.get("type") == "hangup":
            self.end("caller_hangup")

    def end(self, reason: str) -> None:
        if not self._ended.is_set():
            self._end_reason = reason
            self._ended.set()

    # -- transcript channel ----------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message for the page; sent once the data channel is open."""
        self._outbox.append(json.dumps(message, ensure_ascii=False))
        self._flush()

    def _flush(self) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        outbox, self._outbox = self._outbox, []
        for text in outbox:
            channel.send(text)

    @property
    def channel_open(self) -> bool:
        return self._channel is not None and self._channel.readyState == "open"

    # -- Transport -------------------------------------------------------

    async def run(self, ports: MediaPorts) -> str:
        self.outbound.attach(ports.playout)
        consumer: asyncio.Task[None] | None = None
        try:
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    await _first_of(self._connected.wait(), self._ended.wait())
            except TimeoutError:
                self.end("connect_timeout")
            if self._ended.is_set():
                return self._end_reason
            if self.inbound is not None:
                consumer = asyncio.create_task(self._consume(self.inbound, ports))
            try:
                async with asyncio.timeout(self.max_call_s):
                    await self._ended.wait()
            except TimeoutError:
                self.end("max_duration")
            return self._end_reason
        finally:
            if consumer is not None:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
            by = "agent" if self._end_reason == "agent_hangup" else "caller"
            if self._end_reason not in ("agent_hangup", "caller_hangup"):
                by = "system"
            ports.push_control("hangup", by)

    async def hangup(self) -> None:
        self.end("agent_hangup")

    async def _consume(self, track: MediaStreamTrack, ports: MediaPorts) -> None:
        """Caller audio: decoded frames -> mono at the call rate -> exact 20 ms frames."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=self.sample_rate)
        pending: Int16Audio = np.zeros(0, dtype=np.int16)
        while True:
            try:
                async with asyncio.timeout(self.media_timeout_s):
                    frame = await track.recv()
            except MediaStreamError:
                self.end("caller_hangup")
                return
            except TimeoutError:
                log.warning("no audio from the browser", extra={"call_id": self.call_id})
                self.end("media_timeout")
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            if self.first_inbound_perf is None:
                self.first_inbound_perf = time.perf_counter()
            frame.pts = None  # RTP gaps are the jitter buffer's business, not the resampler's
            chunks = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            if chunks:
                pending = np.concatenate([pending, *chunks]).astype(np.int16, copy=False)
            while len(pending) >= self._frame:
                ports.push_audio(pending[: self._frame].copy())
                pending = pending[self._frame :]

    async def close(self) -> None:
        self.outbound.stop()
        await self.pc.close()


async def _first_of(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- events to the page -------------------------------------------------------------


def page_message(event: CallEvent) -> dict[str, Any] | None:
    """What the softphone page is told about an event; None for the rest."""
    message: dict[str, Any] | None = None
    if isinstance(event, TranscriptFinal | TranscriptPartial):
        final = isinstance(event, TranscriptFinal)
        message = {"type": "caller", "turn": event.turn_id, "text": event.text, "final": final}
    elif isinstance(event, AgentText):
        message = {"type": "agent", "turn": event.turn_id, "text": event.text}
    elif isinstance(event, AgentTurnCompleted):
        message = {
            "type": "agent_done",
            "turn": event.turn_id,
            "interrupted": event.interrupted,
            "heard": event.text,  # when interrupted: the words the caller actually heard
        }
    elif isinstance(event, BargeIn):
        message = {"type": "barge_in", "turn": event.turn_id}
    elif isinstance(event, StateChanged):
        message = {"type": "state", "state": str(event.state)}
    elif isinstance(event, ErrorRaised):
        message = {"type": "error", "code": event.code}
    elif isinstance(event, CallEnded):
        message = {"type": "ended", "reason": event.reason}
    return message


async def relay_events(subscription: Subscription, transport: WebRtcTransport) -> None:
    async for event in subscription:
        message = page_message(event)
        if message is not None:
            transport.send(message)


def _since(start: float, end: float | None) -> float | None:
    return None if end is None else round((end - start) * 1000.0, 1)


def call_figures(call: PhoneCall) -> dict[str, Any]:
    """Timings and pacing of a finished call, for the log (no content)."""
    transport = call.transport
    stats = transport.outbound.stats
    lateness = sorted(stats.lateness_ms)

    def quantile(q: float) -> float | None:
        return round(lateness[int(len(lateness) * q)], 1) if lateness else None

    return {
        "reason": call.end_reason,
        "connect_ms": _since(transport.created_perf, transport.connected_perf),
        "first_agent_audio_ms": _since(transport.created_perf, stats.first_audio_perf),
        "first_caller_audio_ms": _since(transport.created_perf, transport.first_inbound_perf),
        "frames_sent": stats.frames,
        "agent_audio_frames": stats.audio_frames,
        "pacing_late_p50_ms": quantile(0.5),
        "pacing_late_p95_ms": quantile(0.95),
        "pacing_late_p99_ms": quantile(0.99),
        "pacing_late_max_ms": round(stats.max_late_ms, 1),
        "pacing_resyncs": stats.resyncs,
    }


# -- the service: answers offers, runs calls ---------------------------------------


@dataclass(slots=True)
class PhoneCall:
    call_id: str
    transport: WebRtcTransport
    task: asyncio.Task[None] | None = None
    end_reason: str = ""


def _check_offer_text(sdp: str) -> None:
    """Cheap structural checks before aiortc sees the text (it accepts some garbage)."""
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise WebRtcError("the offer is not SDP (no v=0 line)", code=ErrorCode.WEBRTC_BAD_OFFER)
    malformed = [
        line for line in lines if len(line) < 2 or line[1] != "=" or not line.isprintable()
    ]
    if malformed:
        raise WebRtcError(
            f"the offer has {len(malformed)} malformed SDP line(s)",
            code=ErrorCode.WEBRTC_BAD_OFFER,
        )
    media = [line.split(" ", 1)[0][2:] for line in lines if line.startswith("m=")]
    if "audio" not in media:
        raise WebRtcError("the offer carries no audio", code=ErrorCode.WEBRTC_NO_AUDIO)
    unsupported = sorted(set(media) - {"audio", "application"})
    if unsupported:
        raise WebRtcError(
            f"the softphone takes audio only, not {', '.join(unsupported)}",
            code=ErrorCode.WEBRTC_UNSUPPORTED_MEDIA,
        )
    if media.count("audio") > 1 or media.count("application") > 1:
        raise WebRtcError(
            "the softphone takes one audio stream and one data channel section",
            code=ErrorCode.WEBRTC_UNSUPPORTED_MEDIA,
        )


class PhoneService:
    """Answers browser offers and runs each call through the ordinary voice loop."""

    def __init__(
        self,
        engines: Engines,
        *,
        bus: EventBus | None = None,
    ) -> None:
        self.engines = engines
        self.settings: PhoneSettings = engines.settings.phone
        self.bus = bus or EventBus()
        self.calls: dict[str, PhoneCall] = {}
        self._closing = False

    def _configuration(self) -> RTCConfiguration:
        servers = [RTCIceServer(urls=url) for url in self.settings.ice_servers]
        return RTCConfiguration(iceServers=servers)

    async def answer(self, offer_sdp: str, *, remote: str) -> tuple[str, str]:
        """Answer a browser's offer and start the call; return (call id, answer SDP)."""
        if self._closing:
            raise WebRtcError(
                "the appliance is shutting down", code=ErrorCode.WEBRTC_BUSY, status=503
            )
        if len(offer_sdp.encode("utf-8")) > MAX_OFFER_BYTES:
            raise WebRtcError(
                f"the offer is larger than {MAX_OFFER_BYTES} bytes",
                code=ErrorCode.WEBRTC_OFFER_TOO_LARGE,
                status=413,
            )
        _check_offer_text(offer_sdp)
        if len(self.calls) >= self.settings.max_calls:
            raise WebRtcError(
                f"all {self.settings.max_calls} browser lines are busy",
                code=ErrorCode.WEBRTC_BUSY,
                status=503,
            )
        call_id = new_call_id()
        pc = RTCPeerConnection(self._configuration())
        transport = WebRtcTransport(
            pc,
            call_id=call_id,
            sample_rate=self.settings.sample_rate,
            remote=remote,
            connect_timeout_s=self.settings.connect_timeout_s,
            media_timeout_s=self.settings.media_timeout_s,
            max_call_s=self.settings.max_call_s,
        )
        call = PhoneCall(call_id, transport)
        self.calls[call_id] = call  # counts against max_calls while the answer is built
        try:
            answer = await self._negotiate(transport, offer_sdp)
        except BaseException:
            del self.calls[call_id]
            await transport.close()
            raise
        call.task = asyncio.create_task(self._run(call), name=f"phone-call-{call_id}")
        log.info("webrtc call answered", extra={"call_id": call_id, "remote": remote})
        return call_id, answer

    async def _negotiate(self, transport: WebRtcTransport, offer_sdp: str) -> str:
        pc = transport.pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            # aiortc's SDP parser raises ValueError, AssertionError, IndexError, ...
            # for malformed offers: each one is the caller's bad offer.
            raise WebRtcError(
                f"the offer could not be parsed: {type(exc).__name__}",
                code=ErrorCode.WEBRTC_BAD_OFFER,
            ) from exc
        if transport.inbound is None:
            raise WebRtcError("the offer sends no microphone audio", code=ErrorCode.WEBRTC_NO_AUDIO)
        pc.addTrack(transport.outbound)
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            # OperationError or ValueError: no codec or transport parameter is usable.
            raise WebRtcError(
                f"no usable audio codec or transport in the offer: {exc}",
                code=ErrorCode.WEBRTC_BAD_OFFER,
            ) from exc
        description = pc.localDescription
        if description is None:  # pragma: no cover - aiortc always sets it above
            raise WebRtcError("no answer was produced", code=ErrorCode.WEBRTC_BAD_OFFER)
        return description.sdp

    async def _run(self, call: PhoneCall) -> None:
        transport = call.transport
        subscription = self.bus.subscribe(call.call_id)
        relay = asyncio.create_task(relay_events(subscription, transport))
        try:
            record = await run_call(
                self.engines,
                transport,
                self.engines.settings,
                bus=self.bus,
                call_id=call.call_id,
            )
            call.end_reason = record.end_reason
        except Exception:
            # One failing call must not take the phone service down.
            call.end_reason = "failed"
            log.exception("webrtc call failed", extra={"call_id": call.call_id})
        finally:
            subscription.close()  # the relay drains what is left, CallEnded included
            try:
                await asyncio.wait_for(relay, RELAY_FLUSH_S)
                if transport.channel_open:
                    await asyncio.sleep(0.05)  # let SCTP carry the last messages out
            except TimeoutError:
                log.warning("transcript relay did not drain", extra={"call_id": call.call_id})
            await transport.close()
            self.calls.pop(call.call_id, None)
            log.info("webrtc call closed", extra={"call_id": call.call_id, **call_figures(call)})

    async def close(self) -> None:
        """Hang up every call (shutdown) and wait for them to finish."""
        self._closing = True
        tasks = []
        for call in list(self.calls.values()):
            call.transport.end("shutdown")
            if call.task is not None:
                tasks.append(call.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
