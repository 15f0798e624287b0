"""SIP over TLS and SRTP media: real pjsua2, a real baresip caller, real engines.

The appliance's certificate is made at test time (self-signed, for 127.0.0.1)
and doubles as the CA file baresip checks it against. baresip's SIP trace shows
the messages it sent and received over TLS, SDP included.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import ssl
from pathlib import Path

import pytest

from appliance.audio.resample import resample
from appliance.calls.events import CallEnded
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.sip.endpoint import SipError
from appliance.telephony.sip.service import SipService
from tests.support.certificates import self_signed_certificate
from tests.support.sip_peers import (
    LOOPBACK,
    Baresip,
    SecureBaresip,
    Sipp,
    TlsKamailio,
    sipp_scenario,
)
from tests.support.sip_service import dial_until_started, next_event, sip_settings, start_service
from tests.support.speech import normalise_words, silence

pytestmark = pytest.mark.asyncio

LINE_RATE = 8_000  # baresip's microphone file and recording (PCMU)
GREETING_MS = 9_000  # the caller listens this long to the agent's greeting


@pytest.fixture
def secure(settings: Settings, tmp_path: Path) -> Settings:
    """A trunk on UDP and TLS with mandatory SRTP and a fresh certificate."""
    cert, key = self_signed_certificate(tmp_path / "tls")
    return sip_settings(
        settings,
        mode="trunk",
        allowed_peers=[LOOPBACK],
        tls_port=0,
        transports=["udp", "tls"],
        tls_cert_file=str(cert),
        tls_key_file=str(key),
        srtp="mandatory",
    )


def ca_file(config: Settings) -> Path:
    """The appliance's own certificate: it is self-signed, so it is the CA too."""
    assert config.sip.tls_cert_file is not None
    return config.sip.tls_cert_file


def tls_uri(service: SipService) -> str:
    endpoint = service.endpoint
    assert endpoint is not None
    return f"sip:appliance@{LOOPBACK}:{endpoint.tls_port};transport=tls"


def traced(trace: str, first_line: str) -> str:
    """The first message in baresip's SIP trace that starts with ``first_line``."""
    return trace.split("\n" + first_line, 1)[1].split("\n\n\n", 1)[0]


def log_record(caplog: pytest.LogCaptureFixture, message: str) -> logging.LogRecord:
    return next(record for record in caplog.records if record.getMessage() == message)


@pytest.mark.slow
async def test_a_caller_over_tls_with_mandatory_srtp_hears_the_greeting(
    engines: Engines,
    secure: Settings,
    tmp_path: Path,
    services: list[SipService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.telephony.sip")
    service = await start_service(engines, secure, services)
    health = service.health()
    listeners = health["listeners"]
    assert isinstance(listeners, dict)
    assert set(listeners) == {"udp", "tls"}
    assert listeners["tls"] != listeners["udp"]
    caller = SecureBaresip(
        tmp_path / "caller",
        audio=silence(GREETING_MS + 20_000, LINE_RATE),
        sample_rate=LINE_RATE,
        mediaenc="srtp-mand",
        ca_file=ca_file(secure),
    ).start()
    events = service.bus.subscribe()
    try:
        await dial_until_started(caller, tls_uri(service), events)
        await asyncio.sleep(GREETING_MS / 1000)
        caller.hangup()
        ended = await next_event(events, CallEnded, 15)
        await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 10)
    finally:
        events.close()
        caller.stop()
    assert ended.reason == "caller_hangup"

    # The signalling went over TLS, and the SDP set up SRTP with SDES keys.
    trace = caller.log_path.read_text(errors="replace")
    invite = traced(trace, "INVITE sip:appliance@")
    assert "Via: SIP/2.0/TLS" in invite
    offer = next(line for line in invite.splitlines() if line.startswith("m=audio"))
    assert "RTP/SAVP" in offer, offer
    assert "a=crypto:" in invite
    answer = traced(trace, "SIP/2.0 200 OK")
    assert "INVITE" in answer.split("CSeq: ", 1)[1].split("\n", 1)[0]
    m_line = next(line for line in answer.splitlines() if line.startswith("m=audio"))
    assert "RTP/SAVP" in m_line, m_line
    assert "a=crypto:" in answer
    # The appliance saw the same: a TLS call with SRTP media.
    assert getattr(log_record(caplog, "sip call answered"), "sip_transport", None) == "tls"
    media = log_record(caplog, "sip call media up")
    assert getattr(media, "srtp", None) is True
    assert getattr(media, "media_proto", None) == "RTP/SAVP"
    health = service.health()
    assert (health["tls_calls"], health["srtp_calls"], health["answered"]) == (1, 1, 1)

    # What came back through SRTP is the agent's greeting.
    heard, rate = caller.heard()
    text = await engines.stt.transcribe(resample(heard, rate, 16_000), language="en")
    words = set(normalise_words(text.text))
    expected = set(normalise_words(secure.agent.prompt("greeting")))
    # Whisper tiny over an 8 kHz PCMU line misses a word now and then.
    assert len(expected & words) >= 0.6 * len(expected), text.text


async def test_a_plain_rtp_offer_gets_488_when_srtp_is_mandatory(
    engines: Engines,
    secure: Settings,
    tmp_path: Path,
    services: list[SipService],
) -> None:
    # Keys may travel anywhere here, so the plain RTP offer alone is what is refused.
    config = secure.with_overrides(sip={"srtp_secure_signalling": "none"})
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    plain = Sipp(tmp_path, "plain-rtp", sipp_scenario(expect=488))
    refused = await asyncio.to_thread(
        lambda: plain.start(f"{LOOPBACK}:{endpoint.local_port}").wait()
    )
    assert refused.passed, refused.output
    assert "SIP/2.0 200" not in refused.messages

    # A TLS caller offering plain RTP is refused the same way, without an answer.
    caller = SecureBaresip(
        tmp_path / "caller",
        audio=silence(5_000, LINE_RATE),
        sample_rate=LINE_RATE,
        mediaenc=None,
        ca_file=ca_file(secure),
    ).start()
    try:
        caller.dial(tls_uri(service))
        closed = await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 15)
    finally:
        caller.stop()
    assert "488" in str(closed.get("param")), closed
    trace = caller.log_path.read_text(errors="replace")
    assert "SIP/2.0 488" in trace
    assert "SIP/2.0 200 OK" not in trace
    health = service.health()
    assert health["answered"] == 0
    assert health["active_calls"] == 0


def _garbage_tls_clients(port: int) -> None:
    """Peers that break the TLS handshake in different ways, one after the other."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
        raw.sendall(os.urandom(4096))  # not TLS at all
    with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
        # A TLS record header announcing a ClientHello far longer than what follows.
        raw.sendall(bytes([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3F, 0xFC]) + b"\x03\x03")
    with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
        raw.sendall(b"INVITE sip:appliance@127.0.0.1 SIP/2.0\r\n\r\n")  # plain SIP
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((LOOPBACK, port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(os.urandom(2048) + b"\r\n\r\n")  # a good handshake, then noise


async def test_garbage_on_the_tls_port_leaves_the_endpoint_taking_calls(
    engines: Engines,
    secure: Settings,
    tmp_path: Path,
    services: list[SipService],
) -> None:
    service = await start_service(engines, secure, services)
    endpoint = service.endpoint
    assert endpoint is not None
    await asyncio.to_thread(_garbage_tls_clients, endpoint.tls_port)
    caller = SecureBaresip(
        tmp_path / "caller",
        audio=silence(10_000, LINE_RATE),
        sample_rate=LINE_RATE,
        mediaenc="srtp-mand",
        ca_file=ca_file(secure),
    ).start()
    events = service.bus.subscribe()
    try:
        await dial_until_started(caller, tls_uri(service), events)
        caller.hangup()
        ended = await next_event(events, CallEnded, 15)
    finally:
        events.close()
        caller.stop()
    assert ended.reason == "caller_hangup"
    health = service.health()
    assert health["running"] is True
    assert (health["tls_calls"], health["srtp_calls"]) == (1, 1)


async def test_an_unusable_key_file_stops_the_start_with_the_files_named(
    engines: Engines,
    secure: Settings,
    tmp_path: Path,
    services: list[SipService],
) -> None:
    broken_key = tmp_path / "broken-key.pem"
    broken_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n", encoding="ascii")
    config = secure.with_overrides(sip={"tls_key_file": str(broken_key)})
    service = SipService(engines, config)
    with pytest.raises(SipError, match="TLS transport") as raised:
        await service.start()
    assert str(broken_key) in str(raised.value)
    assert str(ca_file(secure)) in str(raised.value)
    # The failed start left no pjsua2 library behind: the next one starts (a second
    # live Endpoint would abort the process).
    working = await start_service(engines, secure, services)
    assert working.health()["running"] is True


async def test_the_extension_registers_over_tls_and_takes_calls_through_kamailio(
    engines: Engines,
    secure: Settings,
    tmp_path: Path,
    services: list[SipService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.telephony.sip")
    password = "pw-" + secrets.token_hex(8)
    cert = ca_file(secure)
    key = secure.sip.tls_key_file
    assert key is not None
    kamailio = TlsKamailio(
        tmp_path / "kamailio", user="agent", password=password, cert=cert, key=key
    ).start()
    try:
        config = secure.with_overrides(
            sip={
                "mode": "registered",
                "registrar": kamailio.tls_uri,
                "user": "agent",
                "password": password,
                "srtp": "disabled",  # the caller reaches Kamailio over UDP
            }
        )
        service = await start_service(engines, config, services)
        await wait_registered(service, 15)
        caller = Baresip(
            tmp_path / "caller", audio=silence(10_000, LINE_RATE), sample_rate=LINE_RATE
        ).start()
        events = service.bus.subscribe()
        try:
            await dial_until_started(caller, f"sip:agent@{kamailio.host}:{kamailio.port}", events)
            caller.hangup()
            ended = await next_event(events, CallEnded, 15)
        finally:
            events.close()
            caller.stop()
    finally:
        await asyncio.gather(*(s.stop() for s in services))
        services.clear()
        kamailio.stop()
    assert ended.reason == "caller_hangup"
    # The registrar URI names Kamailio's TLS port, where nothing else listens: the
    # REGISTER went over TLS. Kamailio relayed the INVITE to the TLS contact.
    assert getattr(log_record(caplog, "sip call answered"), "sip_transport", None) == "tls"
    assert password not in caplog.text


async def wait_registered(service: SipService, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        registration = service.health()["registration"]
        assert isinstance(registration, dict)
        if registration["registered"]:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not registered: {registration}")
        await asyncio.sleep(0.1)
