"""Attended transfer: the appliance consults the human agent, then hands the caller over.

baresip is the caller; a second baresip, answering every call itself, is the
human agent. Both SIP traces show what went over the wire. baresip 1.0
(Debian 12) knows no Replaces header: as the transferee it dials the Refer-To
URI with its headers left in the request URI, and as the target it takes that
INVITE as a new call; the appliance then ends the consultation call itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.audio.resample import resample
from appliance.calls.events import (
    AgentTurnCompleted,
    CallEnded,
    ErrorRaised,
    Hangup,
)
from appliance.config import Settings
from appliance.engines import Engines
from appliance.errors import ErrorCode
from appliance.telephony.sip.service import SipService
from tests.support.sip_peers import LOOPBACK, Baresip, SecureBaresip
from tests.support.sip_service import dial_until_started, next_event, sip_settings
from tests.support.speech import normalise_words, silence

pytestmark = pytest.mark.asyncio

LINE_RATE = 8_000


def attended(settings: Settings, target: str, **sip: object) -> Settings:
    return sip_settings(
        settings,
        mode="trunk",
        allowed_peers=[LOOPBACK],
        transfer_mode="attended",
        transfer_target=target,
        **sip,
    )


async def released(service: SipService, timeout_s: float = 5.0) -> None:
    """No call left, and every pjsua2 call object and audio port released."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        health = service.health()
        if (health["active_calls"], health["live_call_objects"]) == (0, 0):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"calls left behind: {health}")
        await asyncio.sleep(0.1)


def sip_messages(trace: str, first_line: str) -> list[str]:
    """Every message in a baresip SIP trace whose first line starts with ``first_line``."""
    return [part.split("\n\n", 1)[0] for part in trace.split("\n" + first_line)[1:]]


def header(message: str, name: str) -> str:
    return next(
        line.split(":", 1)[1].strip()
        for line in message.splitlines()
        if line.lower().startswith(name.lower() + ":")
    )


def human_agent(workdir: Path, *, answer: bool) -> SecureBaresip:
    """baresip as the human agent's phone: plain UDP and RTP, answering itself or not."""
    return SecureBaresip(
        workdir,
        audio=silence(60_000, LINE_RATE),
        sample_rate=LINE_RATE,
        transport="udp",
        mediaenc=None,
        user="human",
        answer=answer,
    ).start()


async def test_an_attended_transfer_hands_the_caller_to_the_answering_human(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    human = human_agent(tmp_path / "human", answer=True)
    service = SipService(engines, attended(settings, human.uri))
    services.append(service)
    await service.start()
    endpoint = service.endpoint
    assert endpoint is not None
    caller = Baresip(
        tmp_path / "caller", audio=silence(60_000, LINE_RATE), sample_rate=LINE_RATE, sip_trace=True
    ).start()
    events = service.bus.subscribe()
    try:
        started = await dial_until_started(
            caller, f"sip:appliance@{LOOPBACK}:{endpoint.local_port}", events
        )
        await service.transfer(started.call_id, "case-4712")
        hangup = await next_event(events, Hangup, 30)
        ended = await next_event(events, CallEnded, 10)
        await asyncio.sleep(1.0)  # the caller now talks to the human agent
        human_trace = human.log_path.read_text(errors="replace")
        caller.hangup()
    finally:
        events.close()
        caller.stop()
        human.stop()
    assert hangup.by == "system"
    assert ended.reason == "transferred"

    # 1. The appliance consulted the human first, the case reference in a header.
    invites = sip_messages(human_trace, "INVITE sip:human@")
    consult = next(m for m in invites if "User-Agent: voice-appliance" in m)
    assert header(consult, "X-Case-Reference") == "case-4712"
    consult_id = header(consult, "Call-ID")
    consult_tag = header(consult, "From").split("tag=", 1)[1]
    # 2. Once the human answered, the caller got a REFER whose Refer-To replaces
    #    that consultation dialog.
    caller_trace = caller.log_path.read_text(errors="replace")
    refer = sip_messages(caller_trace, "REFER sip:")[0]
    assert header(refer, "X-Case-Reference") == "case-4712"
    refer_to = header(refer, "Refer-To")
    assert refer_to.startswith("<sip:human@"), refer_to
    assert f"Replaces={consult_id}%3Bto-tag%3D" in refer_to, refer_to
    assert f"from-tag%3D{consult_tag}" in refer_to, refer_to
    # 3. The caller's UA called the human with Replaces for that dialog (baresip
    #    1.0 keeps the Refer-To headers in the request URI, not as headers), and
    #    the human's UA took the call: it is now in a call with the caller.
    handed = next(m for m in invites if "From: <sip:caller@" in m)
    assert f"Replaces={consult_id}" in handed.splitlines()[0]
    assert "Call established: sip:caller@" in human_trace
    # 4. The appliance left both of its dialogs: the consultation call too.
    byes = sip_messages(human_trace, "BYE sip:human")
    assert any(header(bye, "Call-ID") == consult_id for bye in byes), byes
    await released(service)
    health = service.health()
    assert (health["transferred"], health["transfer_failed"]) == (1, 0)


async def test_an_unanswered_attended_transfer_keeps_the_caller_with_the_agent(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    human = human_agent(tmp_path / "human", answer=False)  # it rings and rings
    config = attended(settings, human.uri, transfer_answer_timeout_s=3.0)
    service = SipService(engines, config)
    services.append(service)
    await service.start()
    endpoint = service.endpoint
    assert endpoint is not None
    caller = Baresip(
        tmp_path / "caller", audio=silence(60_000, LINE_RATE), sample_rate=LINE_RATE
    ).start()
    events = service.bus.subscribe()
    try:
        started = await dial_until_started(
            caller, f"sip:appliance@{LOOPBACK}:{endpoint.local_port}", events
        )
        greeting = await next_event(events, AgentTurnCompleted, 20)
        await service.transfer(started.call_id, "case-4713")
        failed = await next_event(events, ErrorRaised, 15)
        fallback = await next_event(events, AgentTurnCompleted, 30)
        assert service.health()["active_calls"] == 1  # the caller is still there
        caller.hangup()
        ended = await next_event(events, CallEnded, 10)
        human_trace = human.log_path.read_text(errors="replace")
    finally:
        events.close()
        caller.stop()
        human.stop()
    assert failed.code == ErrorCode.SIP_TRANSFER_FAILED.value
    assert failed.stage == "transfer"
    assert fallback.text == config.agent.prompt("no_human_callback")
    assert not fallback.interrupted
    assert ended.reason == "caller_hangup"
    # The human's phone rang (the case reference along) and was cancelled.
    assert "X-Case-Reference: case-4713" in human_trace
    assert "\nCANCEL sip:human@" in human_trace
    await released(service)
    health = service.health()
    assert (health["transferred"], health["transfer_failed"]) == (0, 1)

    # The caller heard the offer of a callback, not silence.
    heard, rate = caller.heard()
    text = await engines.stt.transcribe(resample(heard, rate, 16_000), language="en")
    words = set(normalise_words(text.text))
    offer = set(normalise_words(fallback.text)) - set(normalise_words(greeting.text))
    # Whisper tiny over an 8 kHz PCMU line misses a word now and then.
    assert len(offer & words) >= 0.6 * len(offer), text.text
