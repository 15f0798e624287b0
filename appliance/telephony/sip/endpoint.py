"""The one pjsua2 ``Endpoint`` of the appliance, owned by its own thread.

Everything that touches pjsua2's SIP side runs on the SIP thread: it creates
the library, polls it (``libHandleEvents``) and runs commands other threads
queue with ``submit``. SIP callbacks (incoming call, call state, DTMF,
registration) therefore arrive on this thread too. Frame callbacks run on the
pjmedia clock thread of the null sound device, a thread pjlib created and
registered itself. Any other thread that must call pjsua2 registers first
(``register_thread``).

pjsua2 objects (calls, audio ports, the accounts) live only in this thread's
tables and are released here: a ``Call`` in its DISCONNECTED callback (its
pjsua slot is reused at once, and a late ``~Call`` would hang up the slot's next
call), an audio port a little later (once the conference bridge has let go of
it), everything before ``libDestroy``: a Python reference to a ``Call`` or
``AudioMediaPort`` that outlives the library aborts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pjsua2 as pj

from appliance.calls.session import new_call_id
from appliance.errors import ApplianceError, ErrorCode
from appliance.telephony.sip.account import (
    ApplianceAccount,
    RegistrationState,
    calls_config,
    registration_config,
)
from appliance.telephony.sip.ack_guard import AckGuard
from appliance.telephony.sip.attended import ConsultCall
from appliance.telephony.sip.audio_port import CallAudioPort, audio_format
from appliance.telephony.sip.call import SipCall, SipTransport
from appliance.telephony.sip.dialled import dialled_user
from appliance.telephony.sip.gpu import GpuProbe, headroom_for
from appliance.telephony.sip.guard import pj_callback
from appliance.telephony.sip.settings import PJSUA_MAX_CALLS, IpNetwork, SipSettings

log = logging.getLogger(__name__)
pjsip_log = logging.getLogger("appliance.telephony.sip.pjsip")

BRIDGE_RATE = 16_000  # the conference bridge and every call's audio port
POLL_MS = 10
RELEASE_DELAY_S = 0.5
PJ_LOG_LINE_MAX = 300  # characters of one pjsip log line kept
RTP_CHECK_S = 1.0  # let the bridge finish with a port before it is freed
SIP_FORBIDDEN, SIP_BUSY_HERE, SIP_UNAVAILABLE, SIP_OK = 403, 486, 503, 200
SIP_TIMEOUT = 408
# pjsua's own call table is a little larger than the admission limit where the
# build allows, so that INVITEs refused with 403/486 still find a slot and get our
# answer. When the table is full, pjsua itself answers 486 Busy Here.
CALL_TABLE_HEADROOM = 2

CallHandler = Callable[[SipTransport], None]
SRTP_PROTOS = frozenset({"RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF"})


class SipError(ApplianceError):
    code = ErrorCode.SIP_START_FAILED


@dataclass
class SipCounters:
    answered: int = 0
    refused_forbidden: int = 0
    refused_busy: int = 0
    refused_overload: int = 0
    ended: int = 0
    rtp_timeouts: int = 0
    transferred: int = 0
    transfer_failed: int = 0
    tls_calls: int = 0  # answered calls whose INVITE came over TLS
    srtp_calls: int = 0  # calls whose media ran on SRTP
    late_frames: int = 0
    max_frame_gap_ms: float = 0.0
    setup_ms: list[float] = field(default_factory=list)  # INVITE -> media bridged


class _PjLogWriter(pj.LogWriter):  # type: ignore[misc]  # pjsua2 has no stubs
    """pjsip's own log lines (warnings and errors by default) into structured logs."""

    @pj_callback
    def write(self, entry: pj.LogEntry) -> None:
        level = logging.ERROR if entry.level <= 1 else logging.WARNING
        if entry.level >= 3:
            level = logging.DEBUG
        # First line only: on a packet it cannot parse, pjsip appends the whole
        # packet (caller names and numbers, possibly credentials), and a peer
        # streaming junk would flood the log with it.
        message = str(entry.msg).strip().split("\n", 1)[0][:PJ_LOG_LINE_MAX]
        if message:
            pjsip_log.log(level, "pjsip: %s", message, extra={"pj_level": entry.level})


TLS_PROTOCOLS = {
    "1.2": pj.PJ_SSL_SOCK_PROTO_TLS1_2 | pj.PJ_SSL_SOCK_PROTO_TLS1_3,
    "1.3": pj.PJ_SSL_SOCK_PROTO_TLS1_3,
}
TOP_VIA = re.compile(r"^(?:Via|v)\s*:\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)", re.I | re.M)


def signalling_transport(message: str) -> str:
    """The transport of a received request, from its top Via: 'udp', 'tcp', 'tls'..."""
    match = TOP_VIA.search(message)
    return match.group(1).lower() if match else "unknown"


def tls_config(settings: SipSettings) -> pj.TlsConfig:
    """pjsip's TLS settings from ours (certificate, key, CA, checks, oldest version)."""
    config = pj.TlsConfig()
    config.certFile = str(settings.tls_cert_file or "")
    config.privKeyFile = str(settings.tls_key_file or "")
    config.CaListFile = str(settings.tls_ca_file or "")
    config.verifyClient = settings.tls_verify_client
    config.requireClientCert = settings.tls_verify_client
    config.verifyServer = settings.tls_verify_server
    config.proto = TLS_PROTOCOLS[settings.tls_min_version]
    return config


def check_tls_files(settings: SipSettings) -> None:
    """Raise a SipError naming the files unless the certificate, key and CA load.

    pjsip reads them only when the first TLS connection comes; a deployment should
    learn of a bad file when it starts instead.
    """
    cert, key, ca = settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An encrypted key is not supported: the empty password makes it fail here
        # rather than OpenSSL prompting on a terminal.
        context.load_cert_chain(str(cert), str(key), password=lambda: b"")
        if ca is not None:
            context.load_verify_locations(cafile=str(ca))
    except (ssl.SSLError, OSError, ValueError) as exc:
        named = f"certificate {cert}, key {key}" + (f", CA {ca}" if ca else "")
        raise SipError(f"the TLS transport cannot use {named}: {exc}") from exc


def without_frames(error: BaseException) -> BaseException:
    """``error`` and its causes without tracebacks, to be kept after the SIP thread ends.

    A traceback keeps its frames and their callers' frames alive, one of them
    holding the ``Endpoint``; pjsua2 aborts the process when a second Endpoint is
    created while the first still exists.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return error


def peer_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of a pjsip source address: ``1.2.3.4:5060`` or ``[::1]:5060``."""
    host = address
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_networks(settings: SipSettings) -> list[IpNetwork]:
    """The peers INVITEs may come from: ``allowed_peers`` plus the registrar's addresses."""
    networks = settings.networks()
    host = settings.registrar_host() if settings.mode == "registered" else None
    if host:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
        except OSError as exc:
            raise SipError(f"registrar host {host} does not resolve: {exc}") from exc
        for info in infos:
            networks.append(ipaddress.ip_network(info[4][0]))
    return networks


def available_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable from the kernel, in MB (None where there is no /proc)."""
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class SipEndpoint:
    def __init__(
        self,
        settings: SipSettings,
        *,
        on_call: CallHandler,
        loop: asyncio.AbstractEventLoop,
        gpu_probe: GpuProbe | None = None,
    ) -> None:
        self.settings = settings
        self._loop = loop
        self._on_call = on_call
        self._gpu = headroom_for(settings, gpu_probe)  # None unless GPU headroom is asked for
        self._networks = resolve_networks(settings)
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._start_error: BaseException | None = None
        self._lock = threading.Lock()
        # SIP-thread state:
        self._calls: dict[str, SipCall] = {}
        self._consults: dict[str, ConsultCall] = {}  # by the caller's call id
        self._releasing: list[tuple[float, CallAudioPort]] = []
        self._accounts: list[ApplianceAccount] = []
        self._registrar_account: ApplianceAccount | None = None
        self.counters = SipCounters()
        self.local_address = ""
        self.local_port = 0
        self.tls_port = 0
        self.active_calls = 0
        self._next_rtp_check = 0.0
        self._ack_guard: AckGuard | None = None

    # -- any thread ----------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the SIP thread; return once it listens (raise SipError if it cannot)."""
        if self._gpu is not None:
            self._gpu.start()  # first reading now, then on its own thread
        self._thread = threading.Thread(target=self._main, name="sip-endpoint", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise SipError("the SIP endpoint did not start in time")
        error = self._start_error
        if error is not None:
            self._thread.join(timeout_s)
            self._thread = None
            detail = str(error.info()) if isinstance(error, pj.Error) else str(error)
            raise SipError(f"the SIP endpoint failed to start: {detail}") from error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Hang up every call, release all pjsua2 objects and destroy the library."""
        if self._gpu is not None:
            self._gpu.stop()
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("sip endpoint did not stop in time")
        self._thread = None

    def submit(self, command: Callable[[], None]) -> None:
        """Run ``command`` on the SIP thread."""
        self._commands.put(command)

    def request_hangup(self, call_id: str) -> None:
        self.submit(lambda: self._hangup(call_id))

    def request_transfer(self, call_id: str, reference: str, target: str | None) -> None:
        self.submit(lambda: self._transfer(call_id, reference, target))

    @property
    def registration(self) -> RegistrationState:
        account = self._registrar_account
        if account is None:
            return RegistrationState(required=self.settings.mode == "registered")
        return account.registration

    def health(self) -> dict[str, object]:
        with self._lock:
            counters = self.counters
            setup = sorted(counters.setup_ms)
            return {
                "enabled": True,
                "running": self._thread is not None and self._ready.is_set(),
                "mode": self.settings.mode,
                "listen": f"{self.local_address}:{self.local_port}",
                "transports": list(self.settings.transports),
                "listeners": self.listeners(),
                "srtp": self.settings.srtp,
                "tls_calls": counters.tls_calls,
                "srtp_calls": counters.srtp_calls,
                "registration": self.registration.to_dict(),
                "active_calls": self.active_calls,
                "live_call_objects": len(self._calls) + len(self._releasing) + len(self._consults),
                "max_calls": self.settings.max_calls,
                "answered": counters.answered,
                "refused_forbidden": counters.refused_forbidden,
                "refused_busy": counters.refused_busy,
                "refused_overload": counters.refused_overload,
                "gpu": {"enabled": False} if self._gpu is None else self._gpu.state(),
                "ended": counters.ended,
                "rtp_timeouts": counters.rtp_timeouts,
                "transferred": counters.transferred,
                "transfer_failed": counters.transfer_failed,
                "transfer_mode": self.settings.transfer_mode,
                "late_frames": counters.late_frames,
                "max_frame_gap_ms": round(counters.max_frame_gap_ms, 1),
                "setup_ms_p50": setup[len(setup) // 2] if setup else None,
            }

    def listeners(self) -> dict[str, str]:
        """Where each transport listens, e.g. {"udp": "127.0.0.1:5060", "tls": "...:5061"}."""
        return {
            protocol: f"{self.local_address}:"
            f"{self.tls_port if protocol == 'tls' else self.local_port}"
            for protocol in self.settings.transports
        }

    @staticmethod
    def register_thread(endpoint: pj.Endpoint, name: str) -> None:
        """Make the calling thread known to pjlib before it calls pjsua2."""
        if not endpoint.libIsThreadRegistered():
            endpoint.libRegisterThread(name)

    # -- SIP thread ----------------------------------------------------------

    def _main(self) -> None:
        endpoint = pj.Endpoint()
        writer = _PjLogWriter()
        try:
            self._create(endpoint, writer)
        except (pj.Error, ApplianceError, OSError) as exc:
            self._start_error = without_frames(exc)
        if self._start_error is not None:
            # The library goes before start() returns: pjsua2 has one Endpoint per
            # process, and the next start must not meet this one half destroyed.
            self._destroy(endpoint)
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                endpoint.libHandleEvents(POLL_MS)
                self._run_commands()
                now = time.monotonic()
                self._release_due(now)
                if now >= self._next_rtp_check:
                    self._next_rtp_check = now + RTP_CHECK_S
                    self._check_rtp(now)
                    self._check_consults(now)
            self._shutdown(endpoint)
        finally:
            self._destroy(endpoint)
            del writer

    def _create(self, endpoint: pj.Endpoint, writer: _PjLogWriter) -> None:
        settings = self.settings
        endpoint.libCreate()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0  # SIP events are polled on this thread
        config.uaConfig.mainThreadOnly = False
        config.uaConfig.maxCalls = min(PJSUA_MAX_CALLS, settings.max_calls + CALL_TABLE_HEADROOM)
        config.uaConfig.userAgent = "voice-appliance"
        config.logConfig.level = settings.library_log_level
        config.logConfig.consoleLevel = settings.library_log_level
        config.logConfig.msgLogging = 0  # SIP messages carry Authorization headers
        config.logConfig.decor = 0
        config.logConfig.writer = writer
        config.medConfig.clockRate = BRIDGE_RATE
        config.medConfig.sndClockRate = BRIDGE_RATE
        config.medConfig.noVad = True
        config.medConfig.ecTailLen = 0
        config.medConfig.threadCnt = 1
        endpoint.libInit(config)
        endpoint.audDevManager().setNullDev()
        self._set_codecs(endpoint)
        self._create_transports(endpoint)
        endpoint.libStart()
        self._guard_acks()
        contact_host = settings.public_address or self.local_address
        calls = ApplianceAccount(self, registration_required=False)
        calls.create(calls_config(settings, contact_host=contact_host, local_port=self.local_port))
        calls.setDefault()
        self._accounts.append(calls)
        if settings.mode == "registered":
            registrar = ApplianceAccount(self, registration_required=True)
            registrar.create(registration_config(settings), True)
            self._accounts.append(registrar)
            self._registrar_account = registrar
        log.info(
            "sip endpoint listening",
            extra={
                "sip_listen": f"{self.local_address}:{self.local_port}",
                "sip_transports": ",".join(settings.transports),
                "sip_tls_port": self.tls_port,
                "srtp": settings.srtp,
                "sip_mode": settings.mode,
                "max_calls": settings.max_calls,
            },
        )

    def _create_transports(self, endpoint: pj.Endpoint) -> None:
        """One listening transport per configured protocol: UDP and TCP on the same
        port, TLS on its own."""
        settings = self.settings
        port = settings.port
        plain = [protocol for protocol in settings.transports if protocol != "tls"]
        for protocol in plain:
            config = self._transport_config(port)
            kind = pj.PJSIP_TRANSPORT_UDP if protocol == "udp" else pj.PJSIP_TRANSPORT_TCP
            port = self._listen(endpoint, kind, config)
        self.local_port = port
        if "tls" in settings.transports:
            check_tls_files(settings)
            config = self._transport_config(settings.tls_port)
            config.tlsConfig = tls_config(settings)
            try:
                self.tls_port = self._listen(endpoint, pj.PJSIP_TRANSPORT_TLS, config)
            except pj.Error as exc:
                raise SipError(
                    f"the TLS transport did not start (certificate {settings.tls_cert_file}, "
                    f"key {settings.tls_key_file}, port {settings.tls_port}): {exc.info()}"
                ) from exc
            if not plain:
                self.local_port = self.tls_port

    def _transport_config(self, port: int) -> pj.TransportConfig:
        config = pj.TransportConfig()
        config.port = port
        config.boundAddress = self.settings.bind_host
        if self.settings.public_address:
            config.publicAddress = self.settings.public_address
        return config

    def _listen(self, endpoint: pj.Endpoint, kind: int, config: pj.TransportConfig) -> int:
        transport_id = endpoint.transportCreate(kind, config)
        local = str(endpoint.transportGetInfo(transport_id).localName)
        host, _, bound = local.rpartition(":")
        self.local_address = host.strip("[]")
        return int(bound)

    def _set_codecs(self, endpoint: pj.Endpoint) -> None:
        wanted = [codec.lower() for codec in self.settings.codecs]
        for info in endpoint.codecEnum2():
            codec_id = str(info.codecId)
            key = codec_id.lower()
            rank = next((i for i, want in enumerate(wanted) if key.startswith(want)), None)
            endpoint.codecSetPriority(codec_id, 0 if rank is None else 250 - rank)

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            except pj.Error as exc:
                log.warning(
                    "sip command failed: %s",
                    exc.info(),
                    extra={"code": ErrorCode.SIP_CALL_FAILED.value},
                )

    def _release_due(self, now: float) -> None:
        if not self._releasing:
            return
        # The last references go here, so the C++ objects die on this thread. No
        # gc.collect() per call: a full collection holds the GIL long enough to
        # stall every call's media thread; nothing here forms reference cycles.
        self._releasing = [(due, port) for due, port in self._releasing if due > now]

    def _shutdown(self, endpoint: pj.Endpoint) -> None:
        if self._calls or self._consults:
            with contextlib.suppress(pj.Error):
                endpoint.hangupAllCalls()
            deadline = time.monotonic() + 3.0
            while (self._calls or self._consults) and time.monotonic() < deadline:
                endpoint.libHandleEvents(POLL_MS)
                self._run_commands()
        self._consults.clear()
        for call in list(self._calls.values()):
            call.unbridge()
        self._calls.clear()
        if self._releasing:
            deadline = time.monotonic() + RELEASE_DELAY_S
            while time.monotonic() < deadline:
                endpoint.libHandleEvents(POLL_MS)
            self._releasing.clear()
        self._registrar_account = None
        accounts, self._accounts = self._accounts, []
        for account in accounts:
            with contextlib.suppress(pj.Error):
                account.shutdown()
        del accounts

    def _destroy(self, endpoint: pj.Endpoint) -> None:
        self._calls.clear()
        self._consults.clear()
        self._releasing.clear()
        self._accounts.clear()
        self._registrar_account = None
        gc.collect()  # once, at shutdown: no stray cycle may outlive the library
        if self._ack_guard is not None:
            self._ack_guard.unregister()
        with contextlib.suppress(pj.Error):
            endpoint.libDestroy()
        self._ack_guard = None  # its module structure outlived the library
        log.info("sip endpoint stopped")

    def _guard_acks(self) -> None:
        """Keep ACKs without To tag away from pjsip's UA layer (see ack_guard)."""
        try:
            guard = AckGuard()
            guard.register()
        except (OSError, AttributeError) as exc:  # no such symbol in another build
            log.warning(
                "sip ACK guard unavailable: %s",
                exc,
                extra={"code": ErrorCode.SIP_START_FAILED.value},
            )
            return
        self._ack_guard = guard

    def _check_rtp(self, now: float) -> None:
        timeout = self.settings.rtp_timeout_s
        if timeout <= 0:
            return
        for call in list(self._calls.values()):
            if not call.admitted or call.disconnected:
                continue
            try:
                idle = call.rtp_idle_s(now)
            except pj.Error:
                continue
            if idle < timeout:
                continue
            log.warning(
                "sip call hung up: no RTP",
                extra={
                    "call_id": call.call_id,
                    "idle_s": round(idle, 1),
                    "code": ErrorCode.SIP_RTP_TIMEOUT.value,
                },
            )
            with self._lock:
                self.counters.rtp_timeouts += 1
            if call.transport is not None:
                call.transport.timed_out()
            self._hangup(call.call_id)

    def _transfer(self, call_id: str, reference: str, target: str | None) -> None:
        call = self._calls.get(call_id)
        destination = target or self.settings.transfer_target
        if call is None or call.disconnected:
            return
        if destination is None:
            log.warning(
                "sip transfer impossible: no transfer_target configured",
                extra={"call_id": call_id, "code": ErrorCode.SIP_TRANSFER_FAILED.value},
            )
            return
        if self.settings.transfer_mode == "attended":
            self._consult(call, destination, reference)
            return
        header_name = self.settings.case_header
        prm = self._case_param(reference)
        call.xfer(f"<{destination}?{header_name}={reference}>", prm)
        log.info("sip transfer requested", extra={"call_id": call_id, "case": reference})

    def _case_param(self, reference: str) -> pj.CallOpParam:
        prm = pj.CallOpParam(True)
        header = pj.SipHeader()
        header.hName = self.settings.case_header
        header.hValue = reference
        prm.txOption.headers.append(header)
        return prm

    def call_transfer_status(self, call: SipCall, status: int, final: bool) -> None:
        if not final:
            return
        consult = self._consults.get(call.call_id)
        if 200 <= status < 300:
            with self._lock:
                self.counters.transferred += 1
            log.info("sip call transferred", extra={"call_id": call.call_id, "sip_status": status})
            if call.transport is not None:
                call.transport.transferred()
            self._hangup(call.call_id)
            if consult is not None:  # normally the target's UA has ended it already
                self._end_consult(consult)
        else:
            if consult is not None:
                self._end_consult(consult)
            self._transfer_failed(call, status, "the caller's UA did not complete the transfer")

    def _transfer_failed(self, call: SipCall, status: int, why: str) -> None:
        """The caller stays with the agent, who tells them (same record for blind
        and attended transfers)."""
        with self._lock:
            self.counters.transfer_failed += 1
        log.warning(
            "sip transfer failed: %s",
            why,
            extra={
                "call_id": call.call_id,
                "sip_status": status,
                "transfer_mode": self.settings.transfer_mode,
                "code": ErrorCode.SIP_TRANSFER_FAILED.value,
            },
        )
        if call.transport is not None and not call.disconnected:
            call.transport.transfer_failed(why)

    # -- attended transfer (SIP thread) --------------------------------------

    def _consult(self, call: SipCall, destination: str, reference: str) -> None:
        """Call the human agent on the caller's behalf; the caller stays with the agent."""
        if call.call_id in self._consults:
            return
        consult = ConsultCall(
            self,
            self._accounts[0],
            call_id=call.call_id,
            reference=reference,
            deadline=time.monotonic() + self.settings.transfer_answer_timeout_s,
        )
        try:
            consult.makeCall(destination, self._case_param(reference))
        except pj.Error as exc:
            self._transfer_failed(call, 0, f"consultation call not placed: {exc.info()}")
            return
        self._consults[call.call_id] = consult
        log.info(
            "sip attended transfer: consulting",
            extra={"call_id": call.call_id, "case": reference},
        )

    def consult_answered(self, consult: ConsultCall) -> None:
        call = self._calls.get(consult.call_id)
        if call is None or call.disconnected:
            self._end_consult(consult)
            return
        prm = self._case_param(consult.reference)
        consult.referred = True
        log.info(
            "sip attended transfer: target answered, referring the caller",
            extra={"call_id": call.call_id, "case": consult.reference},
        )
        try:
            call.xferReplaces(consult, prm)
        except pj.Error as exc:
            self._end_consult(consult)
            self._transfer_failed(call, 0, f"REFER with Replaces not sent: {exc.info()}")

    def consult_ended(self, consult: ConsultCall, status: int, reason: str) -> None:
        # The last reference goes with this callback's frame (see call_disconnected).
        self._consults.pop(consult.call_id, None)
        call = self._calls.get(consult.call_id)
        log.info(
            "sip attended transfer: consultation call ended",
            extra={
                "call_id": consult.call_id,
                "sip_status": status,
                "answered": consult.answered,
                "held_s": round(time.monotonic() - consult.started, 1),
            },
        )
        if consult.answered or call is None or call.disconnected:
            return
        if consult.timed_out:
            self._transfer_failed(call, SIP_TIMEOUT, "the target did not answer in time")
        else:
            self._transfer_failed(call, status, f"the target answered {status} {reason}")

    def _end_consult(self, consult: ConsultCall) -> None:
        """Hang up (or CANCEL) the consultation call."""
        if consult.disconnected:
            return
        with contextlib.suppress(pj.Error):
            consult.hangup(pj.CallOpParam(True))

    def _check_consults(self, now: float) -> None:
        for consult in list(self._consults.values()):
            if not consult.answered and not consult.disconnected and now >= consult.deadline:
                consult.timed_out = True
                self._end_consult(consult)

    def _hangup(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is None or call.disconnected:
            return
        prm = pj.CallOpParam(True)
        call.hangup(prm)

    # -- callbacks from the account and calls (SIP thread) ------------------

    def registration_changed(self, state: RegistrationState) -> None:
        if state.registered:
            log.info("sip registered", extra={"sip_status": state.status_code})
        else:
            log.warning(
                "sip not registered",
                extra={
                    "code": ErrorCode.SIP_REGISTRATION_FAILED.value,
                    "sip_status": state.status_code,
                    "sip_reason": state.reason,
                },
            )

    def _allowed(self, source: str) -> bool:
        address = peer_ip(source)
        return address is not None and any(address in network for network in self._networks)

    def incoming_call(self, account: ApplianceAccount, prm: pj.OnIncomingCallParam) -> None:
        source = str(prm.rdata.srcAddress)
        call_id = new_call_id()
        call = SipCall(self, account, prm.callId, call_id=call_id, remote=source)
        message = str(prm.rdata.wholeMsg)
        call.signalling = signalling_transport(message)
        call.dialled = dialled_user(message)
        self._calls[call_id] = call
        answer = pj.CallOpParam(True)
        if not self._allowed(source):
            answer.statusCode = SIP_FORBIDDEN
            with self._lock:
                self.counters.refused_forbidden += 1
            log.warning(
                "sip INVITE refused: peer not allowed",
                extra={
                    "call_id": call_id,
                    "peer": source,
                    "code": ErrorCode.SIP_PEER_FORBIDDEN.value,
                },
            )
        elif (overload := self._overload()) is not None:
            answer.statusCode = SIP_UNAVAILABLE
            header = pj.SipHeader()
            header.hName = "Retry-After"
            header.hValue = str(self.settings.retry_after_s)
            answer.txOption.headers.append(header)
            with self._lock:
                self.counters.refused_overload += 1
            log.warning(
                "sip INVITE refused: %s",
                overload,
                extra={"call_id": call_id, "code": ErrorCode.SIP_CAPACITY_EXCEEDED.value},
            )
        elif self.active_calls >= self.settings.max_calls:
            answer.statusCode = SIP_BUSY_HERE
            with self._lock:
                self.counters.refused_busy += 1
            log.warning(
                "sip INVITE refused: at capacity",
                extra={
                    "call_id": call_id,
                    "active_calls": self.active_calls,
                    "code": ErrorCode.SIP_CAPACITY_EXCEEDED.value,
                },
            )
        else:
            self._admit(call, answer)
        call.answer(answer)

    def _overload(self) -> str | None:
        """Why this box should take no new call right now (like Asterisk's
        minmemfree/maxload), or None."""
        settings = self.settings
        if settings.min_free_memory_mb:
            free = available_memory_mb()
            if free is not None and free < settings.min_free_memory_mb:
                return f"low memory ({free} MB available)"
        if settings.max_load_per_cpu:
            load = os.getloadavg()[0] / (os.cpu_count() or 1)
            if load > settings.max_load_per_cpu:
                return f"high load ({load:.2f} per CPU)"
        if self._gpu is not None:
            return self._gpu.verdict()  # the last reading: never waits for nvidia-smi
        return None

    def _admit(self, call: SipCall, answer: pj.CallOpParam) -> None:
        try:
            call.port = self._new_port(call)
        except pj.Error as exc:
            answer.statusCode = SIP_UNAVAILABLE
            log.error(
                "sip INVITE refused: no audio port: %s",
                exc.info(),
                extra={"call_id": call.call_id, "code": ErrorCode.SIP_CALL_FAILED.value},
            )
            return
        call.admitted = True
        self.active_calls += 1
        answer.statusCode = SIP_OK
        with self._lock:
            self.counters.answered += 1
            if call.signalling == "tls":
                self.counters.tls_calls += 1
        log.info(
            "sip call answered",
            extra={"call_id": call.call_id, "peer": call.remote, "sip_transport": call.signalling},
        )

    def _new_port(self, call: SipCall) -> CallAudioPort:
        transport = SipTransport(
            call_id=call.call_id,
            remote=call.remote,
            dialled=call.dialled,
            sample_rate=BRIDGE_RATE,
            loop=self._loop,
            owner=self,
        )
        call.transport = transport
        port = CallAudioPort(BRIDGE_RATE, transport)
        port.createPort(f"call-{call.call_id}", audio_format(BRIDGE_RATE))
        return port

    def call_media_ready(self, call: SipCall) -> None:
        transport = call.transport
        if transport is None or call.disconnected:
            return
        if not call.started:
            call.started = True
            with self._lock:
                self.counters.setup_ms.append((time.monotonic() - call.created) * 1000.0)
                del self.counters.setup_ms[:-200]
                if call.media_proto in SRTP_PROTOS:
                    self.counters.srtp_calls += 1
            log.info(
                "sip call media up",
                extra={
                    "call_id": call.call_id,
                    "sip_transport": call.signalling,
                    "media_proto": call.media_proto,
                    "srtp": call.media_proto in SRTP_PROTOS,
                },
            )
            self._on_call(transport)

    def call_disconnected(self, call: SipCall, status: int) -> None:
        port = call.port
        if port is not None and port.frames_out:
            log.info(
                "sip call media",
                extra={
                    "call_id": call.call_id,
                    "frames_in": port.frames_in,
                    "frames_out": port.frames_out,
                    "late_frames": port.late_frames,
                    "max_frame_gap_ms": round(port.max_gap_s * 1000.0, 1),
                },
            )
            with self._lock:
                self.counters.late_frames += port.late_frames
                self.counters.max_frame_gap_ms = max(
                    self.counters.max_frame_gap_ms, port.max_gap_s * 1000.0
                )
        call.unbridge()
        consult = self._consults.get(call.call_id)
        if consult is not None and not consult.referred:
            self._end_consult(consult)  # the caller left while the target was ringing
        if call.transport is not None:
            call.transport.disconnected(status)
        if call.admitted:
            self.active_calls -= 1
            with self._lock:
                self.counters.ended += 1
        # The Call goes now: pjsua reuses its slot for the next INVITE, and a Call
        # object deleted later would clear (and hang up!) whatever call then holds
        # that slot. pjsua2 allows deleting a Call in its DISCONNECTED callback; the
        # last reference is this callback's frame. The audio port is released a
        # little later, once the conference bridge has let go of it.
        self._calls.pop(call.call_id, None)
        if call.port is not None:
            self._releasing.append((time.monotonic() + RELEASE_DELAY_S, call.port))
            call.port = None
