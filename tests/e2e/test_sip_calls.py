"""Phone calls over SIP: real pjsua2, real Kamailio, baresip and SIPp, real engines.

Kamailio is the PBX (registrar and proxy), baresip the caller who plays a
synthesised question as RTP and records what comes back, SIPp the peer for
refusals, SIP INFO DTMF and capacity. Everything runs on loopback ports picked
at test time; 127.0.0.2 plays a peer the appliance does not know.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.calls.events import (
    AgentTurnCompleted,
    CallEnded,
    CallStarted,
    Dtmf,
    HandoffRequested,
    Hangup,
    SpeechStarted,
    TranscriptFinal,
)
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.sip.service import SipService
from appliance.telephony.sip.settings import PJSUA_MAX_CALLS
from tests.support.calls import concat, say
from tests.support.sip_peers import (
    LOOPBACK,
    OTHER_LOOPBACK,
    Baresip,
    Kamailio,
    Sipp,
    sipp_answer_scenario,
    sipp_scenario,
    sipp_torture_scenario,
)
from tests.support.sip_service import (
    dial_until_started,
    heard_words,
    next_event,
    sip_settings,
    start_service,
    wait_until,
)
from tests.support.speech import normalise_words, silence, word_error_rate

pytestmark = pytest.mark.asyncio

LINE_RATE = 8_000  # baresip's microphone file and recording (PCMU)
GREETING_ROOM_MS = 10_000  # the caller lets the greeting finish before asking
QUESTION = "What are the visiting hours on the ward?"


@pytest.mark.slow
async def test_registered_extension_answers_a_caller_through_kamailio(
    engines: Engines,
    settings: Settings,
    tmp_path: Path,
    services: list[SipService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pw-" + secrets.token_hex(8)
    secret_file = tmp_path / "sip.secret"
    secret_file.write_text(password + "\n", encoding="utf-8")
    kamailio = Kamailio(tmp_path / "kamailio", user="agent", password=password).start()
    try:
        config = sip_settings(
            settings,
            mode="registered",
            registrar=kamailio.uri,
            user="agent",
            auth_user="agent",
            password_file=str(secret_file),
            library_log_level=3,
        )
        service = await start_service(engines, config, services)
        await wait_until(lambda: service.health()["registration"]["registered"], 10)  # type: ignore[index]
        registration = service.health()["registration"]
        assert isinstance(registration, dict)
        assert registration["status_code"] == 200
        assert registration["expires_s"] > 0

        question = await say(engines, QUESTION, LINE_RATE)
        caller_audio = concat(
            silence(GREETING_ROOM_MS, LINE_RATE), question, silence(40_000, LINE_RATE)
        )
        caller = Baresip(tmp_path / "baresip", audio=caller_audio, sample_rate=LINE_RATE).start()
        events = service.bus.subscribe()
        try:
            started = await dial_until_started(
                caller, f"sip:agent@{kamailio.host}:{kamailio.port}", events
            )
            assert started.transport == "sip"

            asked = await next_event(events, TranscriptFinal, 60)
            # Tolerant: on a G.711 line Whisper tiny sometimes mishears a word or two
            # ("What are the busy hours on the war?"); other audio would score near 1.
            assert word_error_rate(QUESTION, asked.text) <= 0.4, asked.text
            answered = await next_event(events, AgentTurnCompleted, 60, turn_id=asked.turn_id)
            assert answered.text

            for digit in "4#":  # RFC 4733 telephone-events from baresip
                caller.send_dtmf(digit)
                await asyncio.sleep(0.4)
            first = await next_event(events, Dtmf, 10)
            second = await next_event(events, Dtmf, 10)
            assert (first.digit, second.digit) == ("4", "#")

            caller.hangup()
            hangup = await next_event(events, Hangup, 10)
            assert hangup.by == "caller"
            ended = await next_event(events, CallEnded, 10)
            assert ended.reason == "caller_hangup"
            await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 10)
        finally:
            events.close()
            caller.stop()

        # What the caller heard over RTP: the greeting, then the answer.
        heard, rate = caller.heard()
        greeting = await heard_words(engines, heard[: rate * GREETING_ROOM_MS // 1000], rate)
        expected = set(normalise_words(config.agent.prompt("greeting")))
        # Whisper tiny over an 8 kHz PCMU line misses a word now and then.
        assert len(expected & set(greeting)) >= 0.6 * len(expected), greeting
        question_end = rate * (GREETING_ROOM_MS // 1000) + len(question)
        reply = await heard_words(engines, heard[question_end : question_end + rate * 25], rate)
        said = set(normalise_words(answered.text))
        assert len(said & set(reply)) >= min(3, len(said)), (answered.text, reply)

        records = await service.wait_records(1, 10)
        assert records[0].end_reason == "caller_hangup"
        health = service.health()
        assert health["answered"] == 1
        assert health["active_calls"] == 0
        setup_ms = health["setup_ms_p50"]
        assert isinstance(setup_ms, float)
        assert setup_ms < 1000
    finally:
        await asyncio.gather(*(s.stop() for s in services))
        services.clear()
        kamailio.stop()
    assert password not in caplog.text


async def test_wrong_password_leaves_the_extension_unregistered(
    engines: Engines,
    settings: Settings,
    tmp_path: Path,
    services: list[SipService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    right = "right-" + secrets.token_hex(8)
    kamailio = Kamailio(tmp_path / "kamailio", user="agent", password=right).start()
    wrong = "wrong-" + secrets.token_hex(8)
    try:
        config = sip_settings(
            settings,
            mode="registered",
            registrar=kamailio.uri,
            user="agent",
            password=wrong,
            library_log_level=3,
        )
        service = await start_service(engines, config, services)

        def refused() -> bool:
            registration = service.health()["registration"]
            assert isinstance(registration, dict)
            return bool(registration["status_code"]) and registration["status_code"] != 100

        await wait_until(refused, 10)
        registration = service.health()["registration"]
        assert isinstance(registration, dict)
        assert registration["registered"] is False
        assert registration["status_code"] in (401, 403, 407)
        await service.stop()
    finally:
        kamailio.stop()
    assert wrong not in caplog.text
    assert "sip not registered" in caplog.text


async def test_caller_hanging_up_mid_sentence_ends_the_call_and_keeps_the_words(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK])
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    question = await say(
        engines,
        "I would like to know whether my mother can receive visitors in the cardiology "
        "department this weekend, because we are travelling from far away.",
        LINE_RATE,
    )
    caller_audio = concat(silence(GREETING_ROOM_MS, LINE_RATE), question, silence(5_000, LINE_RATE))
    caller = Baresip(tmp_path / "baresip", audio=caller_audio, sample_rate=LINE_RATE).start()
    events = service.bus.subscribe()
    try:
        caller.dial(f"sip:appliance@{LOOPBACK}:{endpoint.local_port}")
        await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", 15)
        await next_event(events, SpeechStarted, GREETING_ROOM_MS / 1000 + 20)
        await asyncio.sleep(2.5)  # well inside the sentence
        caller.hangup()
        hangup = await next_event(events, Hangup, 10)
        assert hangup.by == "caller"
        kept = await next_event(events, TranscriptFinal, 15)
        ended = await next_event(events, CallEnded, 15)
    finally:
        events.close()
        caller.stop()
    assert ended.reason == "caller_hangup"
    words = set(normalise_words(kept.text))
    assert words & {"mother", "know", "like", "visitors", "receive"}, kept.text
    assert "travelling" not in words  # only the part before the hang-up was heard
    records = await service.wait_records(1, 10)
    assert records[0].end_reason == "caller_hangup"
    await wait_until(lambda: service.health()["active_calls"] == 0, 5)


async def test_trunk_refuses_unknown_peers_and_takes_sip_info_dtmf(
    engines: Engines,
    settings: Settings,
    tmp_path: Path,
    services: list[SipService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = sip_settings(settings, mode="trunk", allowed_peers=[f"{LOOPBACK}/32"])
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"

    stranger = Sipp(tmp_path, "stranger", sipp_scenario(expect=403), local_ip=OTHER_LOOPBACK)
    result = await asyncio.to_thread(lambda: stranger.start(target).wait())
    assert result.passed, result.output
    assert "SIP/2.0 403" in result.messages
    assert "SIP/2.0 200" not in result.messages
    refusals = [r for r in caplog.records if r.getMessage().endswith("peer not allowed")]
    assert [str(getattr(r, "peer", "")).split(":")[0] for r in refusals] == [OTHER_LOOPBACK]
    assert getattr(refusals[0], "code", "") == "SIP_PEER_FORBIDDEN"

    events = service.bus.subscribe()
    try:
        pbx = Sipp(
            tmp_path, "pbx", sipp_scenario(info_digits="7*", hold_ms=1500), local_ip=LOOPBACK
        )
        result = await asyncio.to_thread(lambda: pbx.start(target).wait())
        assert result.passed, result.output
        digits = [(await next_event(events, Dtmf, 10)).digit for _ in range(2)]
        assert digits == ["7", "*"]
        ended = await next_event(events, CallEnded, 10)
        assert ended.reason == "caller_hangup"
    finally:
        events.close()
    health = service.health()
    assert health["refused_forbidden"] == 1
    assert health["answered"] == 1


async def test_a_call_over_capacity_gets_busy_here_and_the_first_call_carries_on(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK], max_calls=1)
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"
    events = service.bus.subscribe()
    try:
        first = Sipp(tmp_path, "first", sipp_scenario(hold_ms=6000)).start(target)
        await next_event(events, CallStarted, 10)
        assert service.health()["active_calls"] == 1
        second = Sipp(tmp_path, "second", sipp_scenario(expect=486))
        busy = await asyncio.to_thread(lambda: second.start(target).wait())
        assert busy.passed, busy.output
        assert "SIP/2.0 486" in busy.messages
        assert "SIP/2.0 200" not in busy.messages  # never a half-answered call
        assert service.health()["active_calls"] == 1
        carried = await asyncio.to_thread(first.wait)
        assert carried.passed, carried.output
        ended = await next_event(events, CallEnded, 10)
        assert ended.reason == "caller_hangup"
    finally:
        events.close()
    health = service.health()
    assert health["refused_busy"] == 1
    assert health["answered"] == 1


async def test_silent_media_is_hung_up_after_the_rtp_timeout(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # SIPp sends no RTP at all: the line is dead from the start.
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK], rtp_timeout_s=2.0)
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    events = service.bus.subscribe()
    try:
        peer = Sipp(tmp_path, "dead-line", sipp_scenario(await_bye_ms=15_000))
        result = await asyncio.to_thread(
            lambda: peer.start(f"{LOOPBACK}:{endpoint.local_port}").wait()
        )
        assert result.passed, result.output  # the BYE came from the appliance
        hangup = await next_event(events, Hangup, 10)
        ended = await next_event(events, CallEnded, 10)
    finally:
        events.close()
    assert hangup.by == "system"
    assert ended.reason == "rtp_timeout"
    assert service.health()["rtp_timeouts"] == 1


async def test_the_agent_ending_the_call_sends_bye(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # A caller who never speaks: the agent gives up politely and hangs up.
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK], rtp_timeout_s=0)
    config = config.with_overrides(turn={"no_input_timeout_s": 1.0, "max_reprompts": 0})
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    events = service.bus.subscribe()
    try:
        peer = Sipp(tmp_path, "silent", sipp_scenario(await_bye_ms=40_000))
        result = await asyncio.to_thread(
            lambda: peer.start(f"{LOOPBACK}:{endpoint.local_port}").wait()
        )
        assert result.passed, result.output
        assert "BYE sip:sipp@" in result.messages
        hangup = await next_event(events, Hangup, 10)
        ended = await next_event(events, CallEnded, 10)
    finally:
        events.close()
    assert hangup.by == "agent"
    assert ended.reason == "agent_hangup"
    await wait_until(lambda: service.health()["active_calls"] == 0, 5)


async def test_a_blind_transfer_lands_on_the_human_agent_with_the_case_reference(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    human = Sipp(tmp_path, "human", sipp_answer_scenario()).start(None)
    config = sip_settings(
        settings,
        mode="trunk",
        allowed_peers=[LOOPBACK],
        transfer_target=f"sip:human@{LOOPBACK}:{human.port}",
    )
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    caller_audio = silence(60_000, LINE_RATE)
    caller = Baresip(
        tmp_path / "baresip", audio=caller_audio, sample_rate=LINE_RATE, sip_trace=True
    ).start()
    events = service.bus.subscribe()
    try:
        started = await dial_until_started(
            caller, f"sip:appliance@{LOOPBACK}:{endpoint.local_port}", events
        )
        await service.transfer(started.call_id, "case-4711")
        hangup = await next_event(events, Hangup, 20)
        ended = await next_event(events, CallEnded, 10)
        await asyncio.sleep(1.0)  # the caller now talks to the human agent
        caller.hangup()
        answered = await asyncio.to_thread(human.wait, 30)
    finally:
        events.close()
        caller.stop()
        human.kill()
    assert hangup.by == "system"
    assert ended.reason == "transferred"
    assert answered.passed, answered.output
    # The human agent's UA got the caller's INVITE, and the case reference with it
    # (baresip copies the Refer-To URI, headers included, into its request URI).
    invite = answered.messages.split("INVITE sip:human@", 1)[1].split("\n\n", 1)[0]
    assert "X-Case-Reference=case-4711" in invite
    assert "From: <sip:caller@" in invite
    # The REFER as the caller's UA received it: a header and the Refer-To URI.
    trace = caller.log_path.read_text(errors="replace")
    refer = trace.split("\nREFER sip:", 1)[1].split("\n\n", 1)[0]
    assert "X-Case-Reference: case-4711" in refer
    assert "Refer-To: <sip:human@" in refer
    assert service.health()["transferred"] == 1


async def test_the_build_ceiling_of_concurrent_calls_is_carried_and_one_more_is_busy(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(
        settings, mode="trunk", allowed_peers=[LOOPBACK], max_calls=PJSUA_MAX_CALLS
    )
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"
    full = Sipp(tmp_path, "full", sipp_scenario(hold_ms=8000))
    full.start(target, calls=PJSUA_MAX_CALLS)
    try:
        await wait_until(lambda: service.health()["active_calls"] == PJSUA_MAX_CALLS, 15)
        extra = Sipp(tmp_path, "extra", sipp_scenario(expect=486))
        busy = await asyncio.to_thread(lambda: extra.start(target).wait())
        assert busy.passed, busy.output
        assert "SIP/2.0 200" not in busy.messages
        carried = await asyncio.to_thread(full.wait, 60)
    finally:
        full.kill()
    assert carried.passed, carried.output
    records = await service.wait_records(PJSUA_MAX_CALLS, 20)
    assert [r.end_reason for r in records] == ["caller_hangup"] * PJSUA_MAX_CALLS
    assert service.health()["answered"] == PJSUA_MAX_CALLS


def _threads_and_fds() -> tuple[int, int]:
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


async def test_sequential_calls_leave_no_threads_descriptors_or_call_objects_behind(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK])
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"

    async def one_call(name: str) -> None:
        peer = Sipp(tmp_path, name, sipp_scenario(hold_ms=800))
        result = await asyncio.to_thread(lambda: peer.start(target).wait())
        assert result.passed, result.output

    await one_call("warm-up")
    await wait_until(lambda: service.health()["live_call_objects"] == 0, 5)
    before = _threads_and_fds()
    calls = 6
    for index in range(calls):
        await one_call(f"call-{index}")
    await service.wait_records(calls + 1, 20)
    await wait_until(lambda: service.health()["live_call_objects"] == 0, 5)
    after = _threads_and_fds()
    health = service.health()
    assert health["answered"] == calls + 1
    assert health["active_calls"] == 0
    # A leak per call would grow by `calls`; pools may settle by a thread or two.
    assert after[0] - before[0] <= 2, (before, after)
    assert after[1] - before[1] <= 2, (before, after)


async def test_an_offer_with_only_disabled_codecs_gets_488_and_the_endpoint_carries_on(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # GSM is compiled in but not among the configured codecs; 96 is nothing pjsua knows.
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK])
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"
    odd_offer = ((3, "GSM/8000"), (96, "X-UNKNOWN/8000"))
    odd = Sipp(tmp_path, "odd-codecs", sipp_scenario(expect=488, codecs=odd_offer))
    refused = await asyncio.to_thread(lambda: odd.start(target).wait())
    assert refused.passed, refused.output
    assert "SIP/2.0 200" not in refused.messages

    offer = ((0, "PCMU/8000"), (8, "PCMA/8000"), (3, "GSM/8000"))
    g711 = Sipp(tmp_path, "g711", sipp_scenario(hold_ms=500, codecs=offer))
    carried = await asyncio.to_thread(lambda: g711.start(target).wait())
    assert carried.passed, carried.output
    answer_sdp = carried.messages.split("SIP/2.0 200 OK", 1)[1].split("\n\n", 2)[1]
    m_line = next(line for line in answer_sdp.splitlines() if line.startswith("m=audio"))
    # GSM is dropped; among the enabled codecs pjmedia keeps the caller's order.
    assert m_line.split("RTP/AVP", 1)[1].split() == ["0"], m_line
    await service.wait_records(1, 10)
    assert service.health()["active_calls"] == 0


async def test_re_registration_restores_the_binding_after_the_pbx_restarts(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # The PBX grants 10 s, so the appliance refreshes every few seconds.
    password = "pw-" + secrets.token_hex(8)
    kamailio = Kamailio(tmp_path / "kamailio", user="agent", password=password, max_expires=10)
    kamailio.start()
    try:
        config = sip_settings(
            settings,
            mode="registered",
            registrar=kamailio.uri,
            user="agent",
            password=password,
            register_expires_s=60,
        )
        service = await start_service(engines, config, services)

        def registration() -> dict[str, Any]:
            state = service.health()["registration"]
            assert isinstance(state, dict)
            return state

        await wait_until(lambda: registration()["registered"], 10)
        assert 0 < registration()["expires_s"] <= 10

        # Kamailio keeps its location table in memory: a restart forgets the binding.
        kamailio.stop()
        kamailio.start()
        restarted = time.time()
        await wait_until(lambda: registration()["updated_unix"] > restarted, 15)
        await wait_until(lambda: registration()["registered"], 10)

        # A call through the restarted PBX reaches the appliance again.
        caller = Sipp(tmp_path, "after-restart", sipp_scenario(hold_ms=500))
        result = await asyncio.to_thread(
            lambda: caller.start(f"{kamailio.host}:{kamailio.port}", service="agent").wait()
        )
        assert result.passed, result.output
        assert service.health()["answered"] == 1
    finally:
        await asyncio.gather(*(s.stop() for s in services))
        services.clear()
        kamailio.stop()


async def test_calls_arrive_over_tcp_and_udp_on_the_same_port(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(
        settings, mode="trunk", allowed_peers=[LOOPBACK], transports=["udp", "tcp"]
    )
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"
    events = service.bus.subscribe()
    try:
        over_tcp = Sipp(tmp_path, "tcp", sipp_scenario(info_digits="3", hold_ms=500))
        result = await asyncio.to_thread(lambda: over_tcp.start(target, tcp=True).wait())
        assert result.passed, result.output
        assert "SIP/2.0/TCP" in result.messages
        assert (await next_event(events, Dtmf, 10)).digit == "3"
        over_udp = Sipp(tmp_path, "udp", sipp_scenario(hold_ms=500))
        result = await asyncio.to_thread(lambda: over_udp.start(target).wait())
        assert result.passed, result.output
    finally:
        events.close()
    await service.wait_records(2, 10)
    assert service.health()["transports"] == ["udp", "tcp"]


@pytest.mark.slow
async def test_a_caller_challenging_the_agents_bye_gets_no_digest_of_the_pbx_password(
    engines: Engines,
    settings: Settings,
    tmp_path: Path,
    services: list[SipService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The digest-leak attack: the agent hangs up, the caller answers the BYE with
    # a 407 in the PBX's own realm, hoping for a digest response to crack offline.
    caplog.set_level(logging.DEBUG)
    password = "pw-" + secrets.token_hex(8)
    kamailio = Kamailio(tmp_path / "kamailio", user="agent", password=password).start()
    try:
        config = sip_settings(
            settings,
            mode="registered",
            registrar=kamailio.uri,
            user="agent",
            password=password,
            rtp_timeout_s=0,
        )
        config = config.with_overrides(turn={"no_input_timeout_s": 1.0, "max_reprompts": 0})
        service = await start_service(engines, config, services)
        endpoint = service.endpoint
        assert endpoint is not None
        await wait_until(lambda: service.health()["registration"]["registered"], 10)  # type: ignore[index]
        events = service.bus.subscribe()
        try:
            for realm in (kamailio.host, "*"):
                attacker = Sipp(
                    tmp_path,
                    f"attacker-{len(realm)}",
                    sipp_scenario(await_bye_ms=40_000, challenge_bye_realm=realm),
                )
                attacker.start(f"{LOOPBACK}:{endpoint.local_port}")
                result = await asyncio.to_thread(attacker.wait)
                assert result.passed, result.output
                assert "SIP/2.0 407" in result.messages
                assert "Authorization:" not in result.messages
                assert (await next_event(events, CallEnded, 15)).reason == "agent_hangup"
        finally:
            events.close()
        assert service.health()["registration"]["registered"]  # type: ignore[index]
    finally:
        await asyncio.gather(*(s.stop() for s in services))
        services.clear()
        kamailio.stop()
    assert password not in caplog.text


async def test_a_box_short_of_memory_refuses_new_calls_with_503_and_retry_after(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # A threshold no machine meets: the real /proc/meminfo says "too little".
    config = sip_settings(
        settings,
        mode="trunk",
        allowed_peers=[LOOPBACK],
        min_free_memory_mb=1_000_000_000,
        retry_after_s=42,
    )
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    caller = Sipp(tmp_path, "overload", sipp_scenario(expect=503))
    result = await asyncio.to_thread(
        lambda: caller.start(f"{LOOPBACK}:{endpoint.local_port}").wait()
    )
    assert result.passed, result.output
    assert "Retry-After: 42" in result.messages
    assert "SIP/2.0 200" not in result.messages
    health = service.health()
    assert health["refused_overload"] == 1
    assert health["answered"] == 0


async def test_malformed_requests_neither_crash_the_endpoint_nor_disturb_a_call(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK])
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    target = f"{LOOPBACK}:{endpoint.local_port}"
    events = service.bus.subscribe()
    try:
        ongoing = Sipp(tmp_path, "ongoing", sipp_scenario(info_digits="1", hold_ms=4000))
        ongoing.start(target)
        await next_event(events, CallStarted, 10)
        torture = Sipp(tmp_path, "torture", sipp_torture_scenario())
        tortured = await asyncio.to_thread(lambda: torture.start(target).wait())
        assert "SIP/2.0 400" in tortured.messages  # refused, not crashed
        carried = await asyncio.to_thread(ongoing.wait, 30)
        assert carried.passed, carried.output  # DTMF, hold and BYE all went through
        assert (await next_event(events, Dtmf, 10)).digit == "1"
        assert (await next_event(events, CallEnded, 10)).reason == "caller_hangup"
        after = Sipp(tmp_path, "after", sipp_scenario(hold_ms=500))
        result = await asyncio.to_thread(lambda: after.start(target).wait())
        assert result.passed, result.output
    finally:
        events.close()
    await wait_until(lambda: service.health()["active_calls"] == 0, 5)
    health = service.health()
    assert health["running"] is True
    assert health["answered"] == 2  # the two real calls; no malformed INVITE got answered
    assert health["ended"] == 2


async def test_pressing_0_for_a_person_transfers_the_call_with_the_call_id_as_case(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    human = Sipp(tmp_path, "human", sipp_answer_scenario()).start(None)
    config = sip_settings(
        settings,
        mode="trunk",
        allowed_peers=[LOOPBACK],
        transfer_target=f"sip:human@{LOOPBACK}:{human.port}",
    ).with_overrides(handoff={"presence": "always"})
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    caller_audio = silence(60_000, LINE_RATE)
    caller = Baresip(tmp_path / "baresip", audio=caller_audio, sample_rate=LINE_RATE).start()
    events = service.bus.subscribe()
    try:
        caller.dial(f"sip:appliance@{LOOPBACK}:{endpoint.local_port}")
        started = await next_event(events, CallStarted, 15)
        await next_event(events, AgentTurnCompleted, 30)  # the greeting has played
        caller.send_dtmf("0")  # RFC 4733: "press 0 for a person"
        handoff = await next_event(events, HandoffRequested, 10)
        ended = await next_event(events, CallEnded, 30)
        await asyncio.sleep(1.0)  # the caller now talks to the human agent
        caller.hangup()
        answered = await asyncio.to_thread(human.wait, 30)
    finally:
        events.close()
        caller.stop()
        human.kill()
    assert handoff.human_available is True
    assert ended.reason == "transferred"
    assert answered.passed, answered.output
    invite = answered.messages.split("INVITE sip:human@", 1)[1].split("\n\n", 1)[0]
    assert f"X-Case-Reference={started.call_id}" in invite
    # The agent said its handoff sentence before the transfer.
    record = (await service.wait_records(1, 10))[0]
    said = " ".join(e.text for e in record.of(AgentTurnCompleted)).casefold()
    assert "connect" in said, said


async def test_with_nobody_there_pressing_0_offers_a_callback_and_keeps_the_call(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # No person on duty: the handoff request must not turn into a transfer.
    config = sip_settings(
        settings,
        mode="trunk",
        allowed_peers=[LOOPBACK],
        transfer_target=f"sip:human@{LOOPBACK}:9",
    ).with_overrides(handoff={"presence": "never"})
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    events = service.bus.subscribe()
    try:
        caller = Sipp(tmp_path, "press-0", sipp_scenario(info_digits="0", hold_ms=4000))
        result = await asyncio.to_thread(
            lambda: caller.start(f"{LOOPBACK}:{endpoint.local_port}").wait()
        )
        handoff = await next_event(events, HandoffRequested, 10)
        ended = await next_event(events, CallEnded, 10)
    finally:
        events.close()
    assert result.passed, result.output  # no REFER interrupted the call
    assert "\nREFER sip:" not in result.messages
    assert handoff.human_available is False
    assert ended.reason == "caller_hangup"
    assert service.health()["transferred"] == 0


async def test_call_slots_reused_at_once_keep_every_call_intact(
    engines: Engines, settings: Settings, tmp_path: Path, services: list[SipService]
) -> None:
    # pjsua reuses a finished call's slot for the next INVITE straight away. A Call
    # object released late would clear (and hang up) the slot's new call; with two
    # calls at a time churning through three slots, that would show at once.
    config = sip_settings(settings, mode="trunk", allowed_peers=[LOOPBACK], max_calls=2)
    service = await start_service(engines, config, services)
    endpoint = service.endpoint
    assert endpoint is not None
    calls = 12
    churn = Sipp(tmp_path, "churn", sipp_scenario(hold_ms=300))
    churn.start(f"{LOOPBACK}:{endpoint.local_port}", calls=2, total_calls=calls)
    result = await asyncio.to_thread(churn.wait, 120)
    assert result.passed, result.output
    records = await service.wait_records(calls, 30)
    assert [r.end_reason for r in records] == ["caller_hangup"] * calls
    await wait_until(lambda: service.health()["live_call_objects"] == 0, 5)
    health = service.health()
    assert health["answered"] == calls
    assert health["ended"] == calls
    assert health["active_calls"] == 0
