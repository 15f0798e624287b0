"""One SIP call: the pjsua2 ``Call`` (SIP thread) and its ``Transport`` (event loop).

The two halves never share a pjsua2 object: the transport is plain Python and
talks to the SIP thread only through the endpoint's command queue, so nothing
on the event loop can keep a ``Call`` or an audio port alive past ``libDestroy``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Protocol

import pjsua2 as pj

from appliance.errors import ApplianceError, ErrorCode
from appliance.telephony.sip.audio_port import CallAudioPort
from appliance.telephony.sip.guard import pj_callback
from appliance.telephony.transport import MediaPorts

if TYPE_CHECKING:
    from appliance.telephony.sip.account import ApplianceAccount

log = logging.getLogger(__name__)
MEDIA_PROTOS = {
    pj.PJMEDIA_TP_PROTO_RTP_AVP: "RTP/AVP",
    pj.PJMEDIA_TP_PROTO_RTP_AVPF: "RTP/AVPF",
    pj.PJMEDIA_TP_PROTO_RTP_SAVP: "RTP/SAVP",
    pj.PJMEDIA_TP_PROTO_RTP_SAVPF: "RTP/SAVPF",
    pj.PJMEDIA_TP_PROTO_DTLS_SRTP: "UDP/TLS/RTP/SAVP",
    pj.PJMEDIA_TP_PROTO_DTLS_SRTPF: "UDP/TLS/RTP/SAVPF",
}
CASE_REFERENCE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CallOwner(Protocol):
    """What a call reports to its endpoint (on the SIP thread)."""

    def call_media_ready(self, call: SipCall) -> None: ...

    def call_disconnected(self, call: SipCall, status: int) -> None: ...

    def call_transfer_status(self, call: SipCall, status: int, final: bool) -> None: ...

    def request_hangup(self, call_id: str) -> None: ...

    def request_transfer(self, call_id: str, reference: str, target: str | None) -> None: ...


class SipTransport:
    """The voice loop's view of a SIP call (see ``appliance.telephony.transport``)."""

    name = "sip"

    def __init__(
        self,
        *,
        call_id: str,
        remote: str,
        sample_rate: int,
        loop: asyncio.AbstractEventLoop,
        owner: CallOwner,
        dialled: str = "",
    ) -> None:
        self.call_id = call_id
        self.remote = remote
        self.dialled = dialled
        self.sample_rate = sample_rate
        self.ports: MediaPorts | None = None
        self.end_reason = ""
        self._loop = loop
        self._owner = owner
        self._ended = asyncio.Event()
        self._agent_hangup = False
        self._disconnected = False
        self._system_reason = ""

    # -- event loop --------------------------------------------------------

    async def run(self, ports: MediaPorts) -> str:
        self.ports = ports
        if self._disconnected:  # the caller left before the voice loop started
            ports.push_control_threadsafe("hangup", "caller")
        await self._ended.wait()
        return self.end_reason

    async def hangup(self) -> None:
        if not self._disconnected and not self._agent_hangup and not self._system_reason:
            self._agent_hangup = True
            self._owner.request_hangup(self.call_id)

    async def transfer(self, reference: str, target: str | None = None) -> None:
        """Blind transfer (REFER) to ``target`` or the configured agent/queue extension.

        ``reference`` (the case reference) travels in the REFER and in the
        Refer-To URI, so the INVITE the caller sends on carries it too.
        """
        if not CASE_REFERENCE.fullmatch(reference):
            raise ApplianceError(
                "case reference must be 1-64 letters, digits, '.', '_' or '-'",
                code=ErrorCode.SIP_TRANSFER_FAILED,
            )
        if not self._disconnected:
            self._owner.request_transfer(self.call_id, reference, target)

    # -- SIP thread --------------------------------------------------------

    def transferred(self) -> None:
        """The transfer target answered the caller: the voice loop ends as 'system'."""
        if self._disconnected:
            return
        self._system_reason = "transferred"
        ports = self.ports
        if ports is not None:
            ports.push_control_threadsafe("hangup", "system")

    def transfer_failed(self, why: str) -> None:
        """The transfer did not happen: the caller stays, and the voice loop says so."""
        ports = self.ports
        if ports is not None and not self._disconnected:
            ports.push_control_threadsafe("transfer_failed", why)

    def dtmf(self, digit: str) -> None:
        ports = self.ports
        if ports is not None:
            ports.push_control_threadsafe("dtmf", digit)

    def timed_out(self) -> None:
        """The endpoint hangs up because media stopped: the voice loop ends as 'system'."""
        if self._disconnected or self._agent_hangup:
            return
        self._system_reason = "rtp_timeout"
        ports = self.ports
        if ports is not None:
            ports.push_control_threadsafe("hangup", "system")

    def disconnected(self, status: int) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        if self._system_reason:
            self.end_reason = self._system_reason
        else:
            self.end_reason = "agent_hangup" if self._agent_hangup else "caller_hangup"
        ports = self.ports
        if ports is not None and not self._agent_hangup and not self._system_reason:
            ports.push_control_threadsafe("hangup", "caller")
        self._loop.call_soon_threadsafe(self._ended.set)
        log.info(
            "sip call disconnected",
            extra={"call_id": self.call_id, "reason": self.end_reason, "sip_status": status},
        )


class SipCall(pj.Call):  # type: ignore[misc]  # pjsua2 has no stubs
    """The pjsua2 side of one call; every method runs on the SIP thread."""

    def __init__(
        self,
        owner: CallOwner,
        account: ApplianceAccount,
        pj_call_id: int,
        *,
        call_id: str,
        remote: str,
    ) -> None:
        super().__init__(account, pj_call_id)
        self.owner = owner
        self.call_id = call_id
        self.remote = remote
        self.created = time.monotonic()
        self.admitted = False
        self.transport: SipTransport | None = None
        self.port: CallAudioPort | None = None
        self._bridged_slot: int | None = None
        self.disconnected = False
        self.started = False  # the voice loop was handed this call
        self.media_index: int | None = None
        self.signalling = "unknown"  # transport the INVITE came over: udp, tcp, tls
        self.dialled = ""  # the request URI's user part: the number dialled
        self.media_proto = ""  # the audio stream's SDP transport, e.g. RTP/SAVP
        self.rx_packets = 0
        self.rx_changed = time.monotonic()

    @pj_callback
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802  # pjsua2 API name
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            self.owner.call_disconnected(self, int(info.lastStatusCode))

    @pj_callback
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802  # pjsua2 API name
        if not self.admitted or self.port is None:
            return
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if (
                media.type == pj.PJMEDIA_TYPE_AUDIO
                and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                and media.audioConfSlot != self._bridged_slot
            ):
                audio = self.getAudioMedia(index)
                audio.startTransmit(self.port)
                self.port.startTransmit(audio)
                self._bridged_slot = media.audioConfSlot
                self.media_index = index
                proto = int(self.getStreamInfo(index).proto)
                self.media_proto = MEDIA_PROTOS.get(proto, f"proto-{proto}")
                self.rx_changed = time.monotonic()
                self.owner.call_media_ready(self)
                return

    @pj_callback
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802  # pjsua2 API name
        if self.transport is not None:
            self.transport.dtmf(str(prm.digit))

    def rtp_idle_s(self, now: float) -> float:
        """Seconds since the last RTP packet arrived (0 while no media is bridged)."""
        if self.media_index is None or self.disconnected:
            return 0.0
        packets = int(self.getStreamStat(self.media_index).rtcp.rxStat.pkt)
        if packets != self.rx_packets:
            self.rx_packets, self.rx_changed = packets, now
        return now - self.rx_changed

    @pj_callback
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802  # pjsua2 API name
        self.owner.call_transfer_status(self, int(prm.statusCode), bool(prm.finalNotify))

    def unbridge(self) -> None:
        """Detach the voice loop; pjsua drops the call's bridge links itself."""
        if self.port is not None:
            self.port.detach()
        self._bridged_slot = None
