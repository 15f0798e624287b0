"""The browser softphone end to end: real Litestar + uvicorn, real aiortc, real Chromium.

Headless Chromium opens ``/phone`` with a fake microphone that plays a
synthesised question, clicks "Call", and the test waits for the caller's
transcript and the agent's reply to appear on the page. Chromium and its
driver are the Debian packages; selenium-manager is never run (the driver path
is explicit, ``SE_OFFLINE`` is set, and an audit hook fails the test if it is
started or if anything in this process connects beyond this machine). Chromium
writes a net log, and the test checks it reached nothing but the appliance.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import socket
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import ifaddr
import numpy as np
import pytest
import pytest_asyncio
import uvicorn
from aiortc import AudioStreamTrack, MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from litestar import Litestar
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from appliance.audio.resample import resample
from appliance.calls.bus import Subscription
from appliance.calls.events import (
    AgentText,
    AgentTurnCompleted,
    BargeIn,
    CallEnded,
    CallEvent,
    TranscriptFinal,
    TurnTimings,
)
from appliance.engines import Engines
from appliance.speech.piper_tts import PiperTTS
from appliance.speech.stt import Int16Audio
from appliance.telephony.webrtc import PhoneService
from appliance.web.app import create_app
from tests.support.speech import normalise_words, piper_speech, silence

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
QUESTION = "What are the visiting hours on the weekend?"
WAV_RATE = 48_000
PAGE_TIMEOUT_S = 90.0
EXTERNAL_URL = re.compile(r"(?i)\b(?:https?|wss?|ftp)://[^\s\"'<>)]*")


# -- nothing leaves this machine ----------------------------------------------------


def _local_addresses() -> set[str]:
    addresses = {"127.0.0.1", "::1"}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            addresses.add(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    return addresses


def _is_local(host: str, local: set[str]) -> bool:
    host = host.strip("[]").split("%", 1)[0]
    if host in local or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class NetworkWatch:
    """Records, through Python's audit hooks, what would leave this machine."""

    local: set[str]
    active: bool = False
    outbound: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    local_seen: int = 0  # proof that the hook is live: loopback traffic is seen too

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event in ("socket.connect", "socket.sendto") and args:
            address = args[-1]
            host = address[0] if isinstance(address, tuple) and address else None
            if isinstance(host, str) and not _is_local(host, self.local):
                self.outbound.append(f"{event} {host}")
            elif isinstance(host, str):
                self.local_seen += 1
        elif event == "socket.getaddrinfo" and args and isinstance(args[0], str | bytes):
            host = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if not _is_local(host, self.local):
                self.outbound.append(f"resolve {host}")
        elif event == "subprocess.Popen" and args:
            self.programs.append(str(args[0]))


_WATCH = NetworkWatch(_local_addresses())
sys.addaudithook(_WATCH.hook)  # audit hooks cannot be removed; it records only while active


@pytest.fixture(scope="module")
def network_watch() -> Iterator[NetworkWatch]:
    _WATCH.active = True
    try:
        yield _WATCH
    finally:
        _WATCH.active = False


# -- the appliance, served for real ------------------------------------------------


@dataclass
class Appliance:
    url: str
    app: Litestar

    @property
    def phone(self) -> PhoneService:
        service: PhoneService = self.app.state.phone
        return service


@contextlib.asynccontextmanager
async def _serving(engines: Engines) -> AsyncIterator[Appliance]:
    """The real app on uvicorn, on this event loop, on a free loopback port."""
    app = create_app(engines)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, lifespan="on", ws="none", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 20
    while not server.started:
        assert not serving.done(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        yield Appliance(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
        sock.close()
    assert not app.state.phone.calls, "a call outlived the server"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def appliance(engines: Engines, network_watch: NetworkWatch) -> AsyncIterator[Appliance]:
    async with _serving(engines) as served:
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def one_line_appliance(
    engines: Engines, network_watch: NetworkWatch
) -> AsyncIterator[Appliance]:
    """One 16 kHz line, short timeouts, an agent that says goodbye after 2 s of silence."""
    settings = engines.settings.with_overrides(
        phone={
            "max_calls": 1,
            "connect_timeout_s": 3.0,
            "media_timeout_s": 3.0,
            "sample_rate": 16_000,  # the other call rate: aiortc's encoder upsamples to Opus
        },
        turn={"no_input_timeout_s": 2.0, "max_reprompts": 0},
    )
    async with _serving(dataclasses.replace(engines, settings=settings)) as served:
        yield served


async def _until_no_calls(appliance: Appliance, timeout_s: float = 10.0) -> None:
    """Wait for the service to have closed every call (it closes them in the background)."""
    for _ in range(int(timeout_s / 0.05)):
        if not appliance.phone.calls:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"calls still open: {sorted(appliance.phone.calls)}")


def _http(appliance: Appliance) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=appliance.url, trust_env=False, timeout=30)


# -- headless Chromium -----------------------------------------------------------------


def _question_wav(tts: PiperTTS, path: Path, lead_ms: int) -> None:
    """Silence while the greeting plays, the question, then silence."""
    audio = np.concatenate(
        [silence(lead_ms, WAV_RATE), piper_speech(tts, QUESTION, WAV_RATE), silence(8000, WAV_RATE)]
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        out.writeframes(audio.astype("<i2").tobytes())


def _chromium(wav: Path, profile: Path, net_log: Path, dead_port: int) -> webdriver.Chrome:
    os.environ["SE_OFFLINE"] = "true"  # belt and braces: selenium-manager must not download
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        f"--user-data-dir={profile}",
        f"--log-net-log={net_log}",
        # Chromium's own background requests (sign-in, updates, search preconnect) fail
        # here, on this machine: names never resolve and every proxied request goes to a
        # closed loopback port. Loopback itself bypasses the proxy.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{dead_port}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    service = Service(executable_path=str(CHROMEDRIVER))
    return webdriver.Chrome(service=service, options=options)


def _net_log_escapes(path: Path, local: set[str]) -> list[str]:
    """What in Chromium's net log would have left this machine.

    DNS transactions (the resolver is elsewhere), TCP connects to foreign addresses,
    and datagrams sent on UDP sockets connected to one. A UDP connect on its own is
    a routing-table lookup (Chromium's IPv6 reachability probe) and sends nothing.
    """
    text = path.read_text(encoding="utf-8", errors="replace").rstrip().rstrip(",")
    if not text.endswith("}"):
        text += "]}"  # a log cut short lacks its closing brackets
    log = json.loads(text)
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    escapes: list[str] = []
    udp_foreign: set[int] = set()
    for event in log.get("events", []):
        name = names.get(event["type"], "")
        params = event.get("params") or {}
        source = event["source"]["id"]
        address = params.get("address")
        foreign = isinstance(address, str) and not _is_local(_host_of(address), local)
        if name.startswith("DNS_TRANSACTION"):
            escapes.append(f"DNS query for {params.get('hostname', '?')}")
        elif name == "UDP_CONNECT" and foreign:
            udp_foreign.add(source)
        elif name == "UDP_BYTES_SENT" and (source in udp_foreign or foreign):
            escapes.append(f"UDP datagram to {address or 'a foreign address'}")
        elif foreign and name in ("TCP_CONNECT_ATTEMPT", "TCP_CONNECT"):
            escapes.append(f"TCP connect to {address}")
    return escapes


def _host_of(address: str) -> str:
    """The host of "1.2.3.4:443" or "[2001:db8::1]:443"."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


@dataclass
class PageCall:
    """What the page showed during one call."""

    status_before: str
    connected_s: float
    caller: tuple[int, str]
    reply: str
    greeting: str
    greeting_interrupted: bool
    first_audio_ms: int
    audio_s: float
    codec: str
    status_after: str
    resources: list[str]


def _text(driver: webdriver.Chrome, element_id: str) -> str:
    """The element's text, also when it sits in a closed <details>."""
    text = driver.find_element(By.ID, element_id).get_attribute("textContent")
    return " ".join((text or "").split())


def _lines(driver: webdriver.Chrome, speaker: str) -> list[tuple[int, str]]:
    lines = driver.find_elements(By.CSS_SELECTOR, f'#transcript li[data-speaker="{speaker}"]')
    found = []
    for line in lines:
        text = line.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent") or ""
        found.append((int(line.get_attribute("data-turn") or 0), text.strip()))
    return found


def _wait(driver: webdriver.Chrome, what: str, check: Any, timeout: float = PAGE_TIMEOUT_S) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(check, message=what)


def _place_call(driver: webdriver.Chrome, url: str) -> PageCall:
    """Open the page, call, wait for both sides of the transcript, hang up.

    Blocking WebDriver traffic: runs in a worker thread, never on the event loop
    that serves the appliance.
    """
    driver.get(f"{url}/phone")
    assert driver.title == "Call the assistant"
    status_before = _text(driver, "call-status")
    button = driver.find_element(By.ID, "call-button")
    assert button.text == "Call"
    clicked = time.perf_counter()
    button.click()
    assert _text(driver, "call-status") in ("connecting", "in call")
    _wait(driver, "never in call", lambda d: _text(d, "call-status") == "in call", 30)
    connected_s = time.perf_counter() - clicked
    assert button.text == "Hang up"
    callers = _wait(driver, "no caller transcript", lambda d: _lines(d, "caller"))
    turn = callers[0][0]
    replies = _wait(
        driver,
        "no agent reply",
        lambda d: [text for t, text in _lines(d, "agent") if t == turn and text],
    )
    greeting = next((text for t, text in _lines(driver, "agent") if t < turn), "")
    first_line = driver.find_element(By.CSS_SELECTOR, '#transcript li[data-speaker="agent"]')
    greeting_interrupted = first_line.get_attribute("data-interrupted") == "true"
    _wait(driver, "no agent audio", lambda d: _text(d, "stat-first-audio").endswith(" ms"), 10)
    first_audio_ms = int(_text(driver, "stat-first-audio").split()[0])
    _wait(driver, "audio stats", lambda d: _text(d, "stat-audio").endswith(" s"), 5)
    audio_s = float(_text(driver, "stat-audio").split()[0])
    codec = _text(driver, "stat-codec")
    button.click()
    _wait(driver, "never ended", lambda d: _text(d, "call-status").startswith("ended"), 10)
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map((entry) => entry.name);"
    )
    return PageCall(
        status_before=status_before,
        connected_s=connected_s,
        caller=callers[0],
        reply=replies[0],
        greeting=greeting,
        greeting_interrupted=greeting_interrupted,
        first_audio_ms=first_audio_ms,
        audio_s=audio_s,
        codec=codec,
        status_after=_text(driver, "call-status"),
        resources=[str(name) for name in resources],
    )


async def _events_until_ended(subscription: Subscription) -> list[CallEvent]:
    """All events of the call, in the order they happened."""
    events: list[CallEvent] = []
    async with asyncio.timeout(20):
        while not any(isinstance(event, CallEnded) for event in events):
            event = await subscription.get()
            assert event is not None
            events.append(event)
    # control events overtake media in a subscription: collect the rest, then sort
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return sorted(events, key=lambda e: e.seq)


async def _browser_call(
    appliance: Appliance, engines: Engines, tmp_path: Path, lead_ms: int
) -> tuple[PageCall, list[CallEvent], Path]:
    """One call from headless Chromium whose microphone asks QUESTION after lead_ms."""
    assert isinstance(engines.tts, PiperTTS)
    wav = tmp_path / "question.wav"
    await asyncio.to_thread(_question_wav, engines.tts, wav, lead_ms)
    net_log = tmp_path / "netlog.json"
    subscription = appliance.phone.bus.subscribe()
    with socket.socket() as dead:  # bound, never listening: a proxy that refuses everything
        dead.bind(("127.0.0.1", 0))
        driver = await asyncio.to_thread(
            _chromium, wav, tmp_path / "profile", net_log, dead.getsockname()[1]
        )
        try:
            page = await asyncio.to_thread(_place_call, driver, appliance.url)
        finally:
            await asyncio.to_thread(driver.quit)
    events = await _events_until_ended(subscription)
    subscription.close()
    return page, events, net_log


async def test_a_browser_call_shows_the_callers_words_and_the_agents_reply(
    appliance: Appliance,
    engines: Engines,
    network_watch: NetworkWatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="appliance.telephony.webrtc")
    _, greeting, greeting_rate = engines.prompt("greeting")
    lead_ms = len(greeting) * 1000 // greeting_rate + 2500  # after the greeting
    page, events, net_log = await _browser_call(appliance, engines, tmp_path, lead_ms)

    # what the page showed
    assert page.status_before == "ready"
    assert page.status_after.startswith("ended")
    turn, heard = page.caller
    assert len(set(normalise_words(heard)) & set(normalise_words(QUESTION))) >= 3, heard
    assert normalise_words(page.reply)
    assert "assistant" in normalise_words(page.greeting)
    assert not page.greeting_interrupted
    assert page.codec.startswith("audio/opus 48000")
    assert page.audio_s > 3.0  # the greeting at least reached Chromium's audio pipeline

    # the same call, as the voice loop recorded it
    assert [e.reason for e in events if isinstance(e, CallEnded)] == ["caller_hangup"]
    finals = [e for e in events if isinstance(e, TranscriptFinal)]
    assert [(e.turn_id, e.text.strip()) for e in finals][:1] == [(turn, heard)]
    said = " ".join(e.text for e in events if isinstance(e, AgentText) and e.turn_id == turn)
    assert said.startswith(page.reply)  # the page had the first chunk(s) when it was read
    timings = [e.voice_to_voice_ms for e in events if isinstance(e, TurnTimings)]
    await _until_no_calls(appliance)

    closed = [r for r in caplog.records if r.getMessage() == "webrtc call closed"]
    assert len(closed) == 1
    figures = {name: getattr(closed[0], name) for name in _FIGURES}
    assert figures["frames_sent"] > 100
    assert figures["agent_audio_frames"] > 100
    # The outbound clock kept time while Whisper, the LLM, Piper and Chromium shared 2 cores.
    assert figures["pacing_late_p95_ms"] < 20.0, figures
    sys.stderr.write(
        f"\nphone figures: click->in call {page.connected_s * 1000:.0f} ms, "
        f"click->first agent audio {page.first_audio_ms} ms (page), "
        f"voice-to-voice {timings} ms, server {json.dumps(figures)}\n"
    )

    # Nothing left this machine: not from this process, not from Chromium, not the page.
    assert network_watch.local_seen > 0
    assert network_watch.outbound == []
    assert str(CHROMEDRIVER) in network_watch.programs  # the hook sees programs started...
    assert not [p for p in network_watch.programs if "selenium-manager" in p]  # ...not this one
    assert _net_log_escapes(net_log, network_watch.local) == []
    assert page.resources
    assert all(url.startswith(appliance.url + "/") for url in page.resources), page.resources


async def test_the_caller_can_interrupt_the_greeting_from_the_browser(
    appliance: Appliance, engines: Engines, tmp_path: Path, network_watch: NetworkWatch
) -> None:
    # the question starts about two seconds into the greeting
    page, events, net_log = await _browser_call(appliance, engines, tmp_path, lead_ms=2500)
    assert page.greeting_interrupted
    # the page shows the words the caller heard before cutting in, and marks the cut
    greeting_words = normalise_words(engines.settings.agent.prompt("greeting"))
    shown = normalise_words(page.greeting)
    assert page.greeting.endswith("…")
    assert shown == greeting_words[: len(shown)]
    assert len(shown) < len(greeting_words)
    turn, heard = page.caller
    assert turn > 1
    # The first caller line may hold only the words that cut in (a barge-in can split
    # the question into two turns): what it shows must come from the question.
    assert set(normalise_words(heard)) & set(normalise_words(QUESTION)), heard
    assert normalise_words(page.reply)
    barge_ins = [e for e in events if isinstance(e, BargeIn)]
    assert len(barge_ins) == 1
    assert barge_ins[0].playback_stopped_ms >= barge_ins[0].onset_ms
    cut = [e for e in events if isinstance(e, AgentTurnCompleted) and e.interrupted]
    assert [e.turn_id for e in cut][:1] == [1]
    await _until_no_calls(appliance)
    assert _net_log_escapes(net_log, network_watch.local) == []


_FIGURES = (
    "connect_ms",
    "first_agent_audio_ms",
    "frames_sent",
    "agent_audio_frames",
    "pacing_late_p50_ms",
    "pacing_late_p95_ms",
    "pacing_late_p99_ms",
    "pacing_late_max_ms",
    "pacing_resyncs",
)


async def test_the_page_and_its_assets_name_nothing_outside_the_appliance(
    appliance: Appliance,
) -> None:
    async with _http(appliance) as client:
        page = await client.get("/phone")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        references = re.findall(r'(?:src|href)="([^"]*)"', page.text)
        assets = [ref for ref in references if not ref.startswith("data:")]
        assert sorted(assets) == ["/phone/static/phone.css", "/phone/static/phone.js"]
        bodies = {"/phone": page.text}
        kinds = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
        for asset in assets:
            response = await client.get(asset)
            assert response.status_code == 200, asset
            assert response.headers["content-type"] == kinds[Path(asset).suffix], asset
            assert response.headers["x-content-type-options"] == "nosniff"
            bodies[asset] = response.text
        for name, body in bodies.items():
            found = [url for url in EXTERNAL_URL.findall(body) if not url.startswith(appliance.url)]
            assert found == [], f"{name} names {found}"
            assert not re.search(r"""(?:src|href|url\()\s*=?\s*["']?//""", body), name
            assert "@import" not in body, name
        # fetch() and the data channel only ever address the appliance's own paths
        script = bodies["/phone/static/phone.js"]
        assert set(re.findall(r'"(/phone/[a-z/]+)"', script)) == {"/phone/offer", "/phone/config"}
        config = (await client.get("/phone/config")).json()
        assert config == {"ice_servers": []}  # no STUN/TURN unless configured
        assert (await client.get("/phone/static/../app.py")).status_code == 404
        assert (await client.get("/phone/static/phone.html.bak")).status_code == 404


async def _aiortc_offer(direction: str = "sendrecv", *, video: bool = False) -> str:
    client = RTCPeerConnection()
    try:
        client.addTransceiver("audio", direction=direction)
        if video:
            client.addTransceiver("video", direction="sendrecv")
        client.createDataChannel("transcript")
        await client.setLocalDescription(await client.createOffer())
        assert client.localDescription is not None
        return client.localDescription.sdp
    finally:
        await client.close()


def _no_common_codec(sdp: str) -> str:
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith(("a=rtpmap", "a=fmtp", "a=rtcp-fb")):
            continue
        lines.append(" ".join([*line.split(" ")[:3], "99"]) if line.startswith("m=audio") else line)
    return "\r\n".join(lines)


def _body(sdp: str, *, kind: str = "offer") -> bytes:
    return json.dumps({"type": kind, "sdp": sdp}).encode()


async def test_bad_offers_get_a_clear_error_and_nothing_breaks(appliance: Appliance) -> None:
    good = await _aiortc_offer()
    no_ice = "\r\n".join(line for line in good.split("\r\n") if not line.startswith("a=ice-"))
    audio_section = "m=audio" + good.split("m=audio")[1].split("m=application")[0]
    two_audio = good.replace("m=application", audio_section + "m=application", 1)
    data_only = good.split("m=audio")[0] + "m=application" + good.split("m=application")[1]
    cases: list[tuple[str, bytes, int, str]] = [
        ("not json", b"v=0 hello", 400, "WEBRTC_BAD_REQUEST"),
        ("json, not an object", b"[1, 2]", 400, "WEBRTC_BAD_REQUEST"),
        ("an answer", _body(good, kind="answer"), 400, "WEBRTC_BAD_REQUEST"),
        ("no sdp", json.dumps({"type": "offer"}).encode(), 400, "WEBRTC_BAD_OFFER"),
        ("not sdp", _body("hello"), 400, "WEBRTC_BAD_OFFER"),
        ("malformed sdp", _body("v=0\r\nnot sdp\r\nm=audio x\r\n"), 400, "WEBRTC_BAD_OFFER"),
        (
            "sdp aiortc cannot parse",
            _body(good.replace("m=audio ", "m=audio notaport ", 1)),
            400,
            "WEBRTC_BAD_OFFER",
        ),
        ("no ice credentials", _body(no_ice), 400, "WEBRTC_BAD_OFFER"),
        ("no common codec", _body(_no_common_codec(good)), 400, "WEBRTC_BAD_OFFER"),
        ("no microphone", _body(await _aiortc_offer("recvonly")), 400, "WEBRTC_NO_AUDIO"),
        ("video", _body(await _aiortc_offer(video=True)), 400, "WEBRTC_UNSUPPORTED_MEDIA"),
        ("two audio streams", _body(two_audio), 400, "WEBRTC_UNSUPPORTED_MEDIA"),
        ("data channel only", _body(data_only), 400, "WEBRTC_NO_AUDIO"),
        ("too large", _body(good + "a=x:" + "x" * 100_000), 413, "WEBRTC_OFFER_TOO_LARGE"),
    ]
    async with _http(appliance) as client:
        for name, body, status, code in cases:
            response = await client.post(
                "/phone/offer", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == status, (name, response.text)
            error = response.json()["error"]
            assert error["code"] == code, (name, error)
            assert error["message"], name
        assert not appliance.phone.calls  # no half-built call or peer connection left behind
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"


def _wait_for_goodbye(driver: webdriver.Chrome, url: str) -> tuple[str, str, list[str]]:
    """Call, say nothing, and wait for the agent to end the call."""
    driver.get(f"{url}/phone")
    driver.find_element(By.ID, "call-button").click()
    _wait(driver, "never ended", lambda d: _text(d, "call-status").startswith("ended"), 60)
    agent = [text for _, text in _lines(driver, "agent")]
    return _text(driver, "call-status"), driver.find_element(By.ID, "call-button").text, agent


async def test_the_page_says_when_the_agent_ends_the_call(
    one_line_appliance: Appliance, engines: Engines, tmp_path: Path, network_watch: NetworkWatch
) -> None:
    wav = tmp_path / "silence.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        out.writeframes(silence(30_000, WAV_RATE).astype("<i2").tobytes())
    net_log = tmp_path / "netlog.json"
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        driver = await asyncio.to_thread(
            _chromium, wav, tmp_path / "profile", net_log, dead.getsockname()[1]
        )
        try:
            status, button, agent = await asyncio.to_thread(
                _wait_for_goodbye, driver, one_line_appliance.url
            )
        finally:
            await asyncio.to_thread(driver.quit)
    assert status == "ended (the assistant ended the call)"
    assert button == "Call again"
    assert agent == [
        engines.settings.agent.prompt("greeting"),
        engines.settings.agent.prompt("goodbye"),
    ]
    await _until_no_calls(one_line_appliance)
    assert _net_log_escapes(net_log, network_watch.local) == []


# -- a non-browser peer: aiortc as the caller -----------------------------------------


@dataclass
class AiortcCaller:
    """A real aiortc peer placing a call over HTTP, recording what it hears."""

    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    heard: list[Int16Audio] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    heard_voice: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def offer(self) -> str:
        self.pc.addTrack(AudioStreamTrack())  # aiortc's own source of silence
        channel = self.pc.createDataChannel("transcript")
        channel.on("message", self._on_message)
        self.pc.on("track", lambda track: self.tasks.append(asyncio.create_task(self._hear(track))))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.pc.localDescription is not None
        return self.pc.localDescription.sdp

    def _on_message(self, message: object) -> None:
        assert isinstance(message, str)
        data = json.loads(message)
        self.messages.append(data)
        if data["type"] == "ended":
            self.ended.set()

    async def _hear(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                stereo = frame.to_ndarray().reshape(-1, 2)  # packed s16, 48 kHz
                self.heard.append(stereo[:, 0].astype(np.int16))
                if np.any(self.heard[-1]):
                    self.heard_voice.set()

    def audio16(self) -> Int16Audio:
        return resample(np.concatenate(self.heard), 48_000, 16_000)

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_an_aiortc_caller_hears_the_agent_and_a_second_caller_gets_busy(
    one_line_appliance: Appliance, engines: Engines, network_watch: NetworkWatch
) -> None:
    appliance = one_line_appliance
    first, second, silent = AiortcCaller(), AiortcCaller(), AiortcCaller()
    try:
        async with _http(appliance) as client:
            response = await client.post(
                "/phone/offer", json={"type": "offer", "sdp": await first.offer()}
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["type"] == "answer"
            assert "a=candidate:" in answer["sdp"]
            assert "typ srflx" not in answer["sdp"]  # no STUN: host candidates only
            assert "typ relay" not in answer["sdp"]
            await first.pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer["sdp"], type="answer")
            )

            # the only line is taken: the next caller is told so, with a code
            busy = await client.post(
                "/phone/offer", json={"type": "offer", "sdp": await second.offer()}
            )
            assert busy.status_code == 503
            assert busy.json()["error"]["code"] == "WEBRTC_BUSY"

            # silence: greeting, 2 s, goodbye, and the agent hangs up
            await asyncio.wait_for(first.ended.wait(), 60)
            assert {"type": "ended", "reason": "agent_hangup"} in first.messages
            spoken = [m["text"] for m in first.messages if m["type"] == "agent"]
            assert spoken == [
                engines.settings.agent.prompt("greeting"),
                engines.settings.agent.prompt("goodbye"),
            ]
            assert not [m for m in first.messages if m["type"] == "caller"]
            states = [m["state"] for m in first.messages if m["type"] == "state"]
            assert "speaking" in states
            heard = await engines.stt.transcribe(first.audio16(), language="en")
            words = set(normalise_words(heard.text))
            assert {"assistant", "help"} <= words, heard.text
            # "Goodbye." is short: Whisper tiny hears "goodbye" or "bye bye".
            assert words & {"goodbye", "bye"}, heard.text
            await _until_no_calls(appliance)

            # an offer whose answer is never used: the line is freed after connect_timeout_s
            started = time.monotonic()
            response = await client.post(
                "/phone/offer", json={"type": "offer", "sdp": await silent.offer()}
            )
            assert response.status_code == 200
            while appliance.phone.calls:
                assert time.monotonic() - started < 10, "the unanswered call was never dropped"
                await asyncio.sleep(0.1)
            assert time.monotonic() - started >= 2.5
    finally:
        for caller in (first, second, silent):
            await caller.close()
    assert network_watch.outbound == []


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _short_call(appliance: Appliance, client: httpx.AsyncClient) -> None:
    """Connect, hear the first agent audio, hang up from the caller's side."""
    caller = AiortcCaller()
    try:
        response = await client.post(
            "/phone/offer", json={"type": "offer", "sdp": await caller.offer()}
        )
        assert response.status_code == 200, response.text
        await caller.pc.setRemoteDescription(
            RTCSessionDescription(sdp=response.json()["sdp"], type="answer")
        )
        await asyncio.wait_for(caller.heard_voice.wait(), 20)
    finally:
        await caller.close()
    await _until_no_calls(appliance)


async def test_sequential_calls_leave_no_threads_files_or_peer_connections(
    appliance: Appliance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="appliance.telephony.webrtc")
    async with _http(appliance) as client:
        await _short_call(appliance, client)  # warm-up: executors and caches
        await asyncio.sleep(0.5)
        threads, files = threading.active_count(), _open_files()
        for _ in range(8):
            await _short_call(appliance, client)
        await asyncio.sleep(0.5)
        assert threading.active_count() <= threads + 1
        assert _open_files() <= files + 2
        health = await client.get("/health")
        assert health.status_code == 200
    closed = [r for r in caplog.records if r.getMessage() == "webrtc call closed"]
    assert [getattr(r, "reason", None) for r in closed] == ["caller_hangup"] * 9
