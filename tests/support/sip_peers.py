"""Real SIP peers for the SIP tests, all on loopback: Kamailio, baresip and SIPp.

Each peer gets its own configuration, written at test time into the test's
``tmp_path``, and its own free ports, so tests do not clash with each other or
with anything else on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from appliance.audio.wav import read_wav, write_wav
from appliance.speech.stt import Int16Audio

KAMAILIO = "/usr/sbin/kamailio"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
BARESIP = "/usr/bin/baresip"
BARESIP_MODULES = "/usr/lib/baresip/modules"
SIPP = "/usr/bin/sipp"
LOOPBACK = "127.0.0.1"
OTHER_LOOPBACK = "127.0.0.2"  # also loopback on Linux: a "foreign" peer address


# SIPp exits 254 when it cannot bind a socket: a port picked free was taken since.
SIPP_EXIT_BIND_ERROR = 254
SIPP_BIND_ATTEMPTS = 3
SIPP_BIND_GRACE_S = 0.3


def free_port(kind: int = socket.SOCK_DGRAM, host: str = LOOPBACK) -> int:
    """A port free for both UDP and TCP right now (the OS picks it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as check:
            try:
                check.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def free_port_range(size: int, host: str = LOOPBACK) -> int:
    """The first of ``size`` consecutive UDP ports that are free right now."""
    for _ in range(50):
        start = free_port(host=host)
        if start + size > 65_000:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(start, start + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise RuntimeError("no free port range")


def _wait_udp_bound(port: int, host: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return  # someone listens there now
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on udp {host}:{port}")


# -- Kamailio -----------------------------------------------------------------

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=2
auto_aliases=no
listen=udp:{host}:{port}
alias="{host}:{port}"
mpath="{modules}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", {max_expires})
modparam("registrar", "min_expires", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "{password}", "0")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if ($au != "{user}") {{
            sl_send_reply("403", "Forbidden");
            exit;
        }}
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (has_totag()) {{
        # No Record-Route: in-dialog requests only pass here when a peer sends
        # everything to its proxy (SIPp does); relay them to the request URI.
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }} else {{
                forward();
            }}
            exit;
        }}
        t_relay();
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


class Kamailio:
    """Kamailio as registrar and proxy: one extension with a password."""

    shared_memory_mb = 32
    private_memory_mb = 4

    def __init__(self, workdir: Path, *, user: str, password: str, max_expires: int = 3600) -> None:
        self.workdir = workdir
        self.max_expires = max_expires
        self.user = user
        self.password = password
        self.host = LOOPBACK
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "kamailio.log"

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    def config_text(self) -> str:
        return KAMAILIO_CFG.format(
            host=self.host,
            port=self.port,
            modules=KAMAILIO_MODULES,
            user=self.user,
            password=self.password,
            max_expires=self.max_expires,
        )

    def start(self) -> Kamailio:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "kamailio.cfg"
        cfg.write_text(self.config_text(), encoding="utf-8")
        check = subprocess.run(
            [KAMAILIO, "-c", "-f", str(cfg), "-L", KAMAILIO_MODULES],
            capture_output=True,
            check=False,
            timeout=30,
        )
        if check.returncode != 0:
            raise RuntimeError(f"kamailio config invalid: {check.stderr.decode()[-2000:]}")
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    KAMAILIO,
                    "-DD",
                    "-E",
                    "-f",
                    str(cfg),
                    "-L",
                    KAMAILIO_MODULES,
                    "-m",
                    str(self.shared_memory_mb),
                    "-M",
                    str(self.private_memory_mb),
                    "-w",
                    str(self.workdir),
                    "-Y",
                    str(self.workdir),
                    "-P",
                    str(self.workdir / "kamailio.pid"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: stop() reaches every child
            )
        _wait_udp_bound(self.port, self.host, 15.0)
        return self

    def stop(self) -> None:
        """Stop Kamailio and every process it forked (its own process group)."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        # A child that outlived its parent (seen now and then) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# -- baresip ------------------------------------------------------------------

BARESIP_CONFIG = """poll_method epoll
net_interface {host}
sip_listen {host}:{sip_port}
audio_source aufile,{audio}
rtp_ports {rtp_first}-{rtp_last}
module_path {modules}
module g711.so
module aufile.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen {host}:{ctrl_port}
snd_path {recordings}
"""


def _netstring(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    return str(len(body)).encode() + b":" + body + b","


class Baresip:
    """baresip as a caller: plays a WAV file as its microphone, records what it hears.

    Driven through its ``ctrl_tcp`` module (netstring JSON); its events (call
    established, closed) are collected for the test to wait on.
    """

    def __init__(
        self, workdir: Path, *, audio: Int16Audio, sample_rate: int, sip_trace: bool = False
    ) -> None:
        self.workdir = workdir
        self.sip_trace = sip_trace
        self.log_path = workdir / "baresip.log"
        self.host = LOOPBACK
        self.sip_port = free_port()
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        self.rtp_first = free_port_range(10)
        self.recordings = workdir / "recordings"
        self.audio_path = workdir / "caller.wav"
        self._audio = audio
        self._rate = sample_rate
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._token = 0

    def config_text(self) -> str:
        return BARESIP_CONFIG.format(
            host=self.host,
            sip_port=self.sip_port,
            audio=self.audio_path,
            rtp_first=self.rtp_first,
            rtp_last=self.rtp_first + 9,
            modules=BARESIP_MODULES,
            ctrl_port=self.ctrl_port,
            recordings=self.recordings,
        )

    def account_line(self) -> str:
        return f"<sip:caller@{self.host}>;regint=0;audio_codecs=PCMU"

    def start(self) -> Self:
        self.recordings.mkdir(parents=True, exist_ok=True)
        write_wav(self.audio_path, self._audio, self._rate)
        (self.workdir / "config").write_text(self.config_text(), encoding="utf-8")
        (self.workdir / "accounts").write_text(self.account_line() + "\n", encoding="utf-8")
        self._launch()
        return self

    def _launch(self) -> None:
        """Start baresip on the config in ``workdir`` and connect to its control port."""
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [BARESIP, "-f", str(self.workdir), *(["-s"] if self.sip_trace else [])],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                self._sock = socket.create_connection((self.host, self.ctrl_port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("baresip did not start") from None
                time.sleep(0.1)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name="baresip-ctrl", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        sock = self._sock
        assert sock is not None
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b":" in buffer:
                length, _, rest = buffer.partition(b":")
                size = int(length)
                if len(rest) < size + 1:
                    break
                body, buffer = rest[:size], rest[size + 1 :]
                with contextlib.suppress(json.JSONDecodeError):
                    message = json.loads(body)
                    with self._cond:
                        self._events.append(message)
                        self._cond.notify_all()

    def command(self, command: str, params: str = "") -> None:
        assert self._sock is not None
        self._token += 1
        payload: dict[str, Any] = {"command": command, "token": str(self._token)}
        if params:
            payload["params"] = params
        self._sock.sendall(_netstring(payload))

    def wait_event(self, event_type: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for message in self._events:
                    if message.get("event") and message.get("type") == event_type:
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [m.get("type") for m in self._events if m.get("event")]
                    raise TimeoutError(f"baresip: no {event_type} within {timeout_s} s: {seen}")
                self._cond.wait(remaining)

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def send_dtmf(self, digit: str) -> None:
        self.command("sndcode", digit)

    def hangup(self) -> None:
        self.command("hangup")

    def heard(self) -> tuple[Int16Audio, int]:
        """What the caller received (decoded), as recorded by baresip's sndfile module."""
        files = sorted(self.recordings.glob("*-dec.wav"))
        if not files:
            raise FileNotFoundError(f"no recording in {self.recordings}")
        return read_wav(files[-1])

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self.command("quit")
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.terminate()
                self._proc.wait(5)
            self._proc = None


# -- SIPp -----------------------------------------------------------------------

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {payloads}
{rtpmaps}
"""
PCMU_AND_EVENTS = ((0, "PCMU/8000"), (101, "telephone-event/8000"))


def _sdp(codecs: tuple[tuple[int, str], ...]) -> str:
    rtpmaps = "\n".join(f"a=rtpmap:{pt} {name}" for pt, name in codecs)
    if any(name.startswith("telephone-event") for _, name in codecs):
        rtpmaps += "\na=fmtp:101 0-16"
    return _SDP.format(payloads=" ".join(str(pt) for pt, _ in codecs), rtpmaps=rtpmaps)


_INVITE = """
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
"""

_ACK_NON_2XX = """
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_ACK_2XX = """
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_INFO_DTMF = """
  <pause milliseconds="{pause_ms}"/>
  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

Signal={digit}
Duration=160
    ]]>
  </send>
  <recv response="200"/>
"""

_BYE = """
  <pause milliseconds="{pause_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"""


_AWAIT_BYE = """
  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""


_CHALLENGE_BYE = """
  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 407 Proxy Authentication Required
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Proxy-Authenticate: Digest realm="{realm}", nonce="0123456789abcdef", qop="auth"
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="3000"/>
"""


def sipp_scenario(
    *,
    expect: int = 200,
    info_digits: str = "",
    hold_ms: int = 2000,
    pause_ms: int = 1500,
    await_bye_ms: int | None = None,
    challenge_bye_realm: str | None = None,
    codecs: tuple[tuple[int, str], ...] = PCMU_AND_EVENTS,
) -> str:
    """A SIPp UAC scenario: INVITE and expect ``expect``; for 200 optionally send
    DTMF as SIP INFO, then hold the call ``hold_ms`` and hang up with BYE, or
    (``await_bye_ms``) wait that long for the appliance's BYE and answer it, with
    200 or, given ``challenge_bye_realm``, with a 407 digest challenge."""
    steps = [_INVITE.format(sdp=_sdp(codecs))]
    if expect != 200:
        steps.append(f'  <recv response="{expect}"/>\n')
        steps.append(_ACK_NON_2XX)
    else:
        steps.append(_ACK_2XX)
        cseq = 2
        for digit in info_digits:
            steps.append(_INFO_DTMF.format(pause_ms=pause_ms, cseq=cseq, digit=digit))
            cseq += 1
        if await_bye_ms is None:
            steps.append(_BYE.format(pause_ms=hold_ms, cseq=cseq))
        elif challenge_bye_realm is not None:
            steps.append(_CHALLENGE_BYE.format(timeout_ms=await_bye_ms, realm=challenge_bye_realm))
        else:
            steps.append(_AWAIT_BYE.format(timeout_ms=await_bye_ms))
    body = "".join(steps)
    return (
        f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="test">{body}</scenario>\n'
    )


_UAS_ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer">
  <recv request="INVITE"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:human@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


def sipp_answer_scenario(timeout_ms: int = 60_000) -> str:
    """A SIPp UAS scenario: answer one INVITE and wait for the caller's BYE."""
    return _UAS_ANSWER.format(sdp=_sdp(PCMU_AND_EVENTS), timeout_ms=timeout_ms)


_TORTURE_MESSAGES = (
    # SDP that is not SDP.
    """INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:t1@[local_ip]>;tag=t1-[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: torture-1-[call_id]
      CSeq: 1 INVITE
      Contact: <sip:t1@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

v=banana
m=audio notaport RTP/AVP 0
""",
    # A body shorter than its Content-Length, no Call-ID, a garbled CSeq.
    """INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:t2@[local_ip]>;tag=t2
      To: <sip:[service]@[remote_ip]>
      CSeq: one INVITE
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: 9999

v=0
""",
    # An INVITE whose SDP offers no media line at all.
    """INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:t3@[local_ip]>;tag=t3-[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: torture-3-[call_id]
      CSeq: 1 INVITE
      Contact: <sip:t3@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
""",
    # Not SIP at all.
    """\x01\x02 GARBAGE \xff NOT-SIP/9.9
      :::: ;;;;
""",
    # A header line far beyond any sane length.
    "OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
    "      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
    "      From: <sip:t5@[local_ip]>;tag=t5\n"
    "      To: <sip:[service]@[remote_ip]>\n"
    "      Call-ID: torture-5-[call_id]\n"
    "      CSeq: 1 OPTIONS\n"
    "      X-Long: " + "A" * 3000 + "\n"
    "      Content-Length: 0\n\n",
)


def sipp_torture_scenario() -> str:
    """Malformed requests in the spirit of RFC 4475, sent without waiting for answers."""
    steps = "".join(
        f"\n  <send>\n    <![CDATA[\n      {message}\n    ]]>\n  </send>\n"
        '  <pause milliseconds="300"/>\n'
        for message in _TORTURE_MESSAGES
    )
    header = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
    return f'{header}<scenario name="torture">{steps}</scenario>\n'


@dataclass
class SippResult:
    returncode: int
    output: str
    messages: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


class Sipp:
    """One SIPp run (a single call) from a chosen local address."""

    def __init__(self, workdir: Path, name: str, scenario: str, *, local_ip: str = LOOPBACK):
        self.workdir = workdir
        self.name = name
        self.local_ip = local_ip
        self.port = free_port(host=local_ip)
        self.scenario_path = workdir / f"{name}.xml"
        self.scenario = scenario
        self._proc: subprocess.Popen[bytes] | None = None

    def start(
        self,
        target: str | None,
        *,
        service: str = "appliance",
        timeout_s: int = 60,
        calls: int = 1,
        tcp: bool = False,
        total_calls: int | None = None,
    ) -> Sipp:
        """Place ``calls`` concurrent calls to ``target`` (host:port), ``total_calls``
        in all (default: ``calls``), or with None wait for one call (UAS)."""
        if shutil.which(SIPP) is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scenario_path.write_text(self.scenario, encoding="ISO-8859-1")
        for _ in range(SIPP_BIND_ATTEMPTS):
            self._launch(
                target,
                service=service,
                timeout_s=timeout_s,
                calls=calls,
                tcp=tcp,
                total_calls=total_calls,
            )
            assert self._proc is not None
            try:
                if self._proc.wait(SIPP_BIND_GRACE_S) != SIPP_EXIT_BIND_ERROR:
                    return self  # it finished (a refusal test can be that quick)
            except subprocess.TimeoutExpired:
                return self  # running: its sockets are bound
            # Another process took a port between our probe and SIPp's bind.
            self.port = free_port(host=self.local_ip)
        return self

    def _launch(
        self,
        target: str | None,
        *,
        service: str,
        timeout_s: int,
        calls: int,
        tcp: bool,
        total_calls: int | None,
    ) -> None:
        media_port = free_port_range(4, host=self.local_ip)
        self._proc = subprocess.Popen(
            [
                SIPP,
                *([target] if target else []),
                "-sf",
                str(self.scenario_path),
                "-t",
                "t1" if tcp else "u1",
                "-s",
                service,
                "-i",
                self.local_ip,
                "-mi",
                self.local_ip,
                "-p",
                str(self.port),
                "-mp",
                str(media_port),
                "-m",
                str(total_calls or calls),
                "-l",
                str(calls),
                "-r",
                "20",
                "-timeout",
                f"{timeout_s}s",
                "-timeout_error",
                "-recv_timeout",
                "20000",
                "-nostdin",
                "-trace_msg",
                "-message_file",
                str(self.workdir / f"{self.name}.messages.log"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )

    def wait(self, timeout_s: float = 90.0) -> SippResult:
        assert self._proc is not None
        out, _ = self._proc.communicate(timeout=timeout_s)
        messages_file = self.workdir / f"{self.name}.messages.log"
        messages = messages_file.read_text(errors="replace") if messages_file.exists() else ""
        return SippResult(self._proc.returncode, out.decode(errors="replace"), messages)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)


# -- TLS and SRTP ---------------------------------------------------------------


BARESIP_SECURE_MODULES = """module srtp.so
"""


class SecureBaresip(Baresip):
    """baresip with its SRTP module, over a chosen SIP transport (default TLS).

    ``mediaenc`` is baresip's account setting: ``srtp`` (offer SRTP, accept RTP),
    ``srtp-mand`` (SRTP only) or None (plain RTP). ``ca_file`` is what baresip
    checks the appliance's certificate against. baresip's TLS socket listens on
    ``sip_port + 1``. ``answer`` makes it a callee that answers every call itself.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        audio: Int16Audio,
        sample_rate: int,
        sip_trace: bool = True,
        transport: str = "tls",
        mediaenc: str | None = "srtp-mand",
        ca_file: Path | None = None,
        user: str = "caller",
        answer: bool = False,
    ) -> None:
        super().__init__(workdir, audio=audio, sample_rate=sample_rate, sip_trace=sip_trace)
        self.transport = transport
        self.mediaenc = mediaenc
        self.ca_file = ca_file
        self.user = user
        self.answer = answer

    def config_text(self) -> str:
        config = super().config_text() + BARESIP_SECURE_MODULES
        if self.ca_file is not None:
            config += f"sip_cafile {self.ca_file}\n"
        return config

    def account_line(self) -> str:
        account = f"<sip:{self.user}@{self.host};transport={self.transport}>;regint=0"
        account += ";audio_codecs=PCMU"
        if self.mediaenc:
            account += f";mediaenc={self.mediaenc}"
        if self.answer:
            account += ";answermode=auto"
        return account

    @property
    def uri(self) -> str:
        """Where this baresip takes calls (over its transport)."""
        port = self.sip_port + 1 if self.transport == "tls" else self.sip_port
        return f"sip:{self.user}@{self.host}:{port};transport={self.transport}"


KAMAILIO_TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


class TlsKamailio(Kamailio):
    """Kamailio with a TLS listener too (Debian ``kamailio-tls-modules``), on
    ``tls_port``, presenting ``cert``/``key``; ``tls_uri`` registers over it."""

    shared_memory_mb = 64  # OpenSSL's contexts live in shared memory
    private_memory_mb = 8

    def __init__(self, workdir: Path, *, user: str, password: str, cert: Path, key: Path) -> None:
        super().__init__(workdir, user=user, password=password)
        self.cert = cert
        self.key = key
        self.tls_port = free_port(socket.SOCK_STREAM)

    @property
    def tls_uri(self) -> str:
        return f"sip:{self.host}:{self.tls_port};transport=tls"

    def config_text(self) -> str:
        tls_cfg = self.workdir / "tls.cfg"
        tls_cfg.write_text(KAMAILIO_TLS_CFG.format(cert=self.cert, key=self.key), encoding="utf-8")
        head, _, rest = super().config_text().partition('mpath="')
        return (
            head
            + f"enable_tls=yes\nlisten=tls:{self.host}:{self.tls_port}\n"
            + f'alias="{self.host}:{self.tls_port}"\nmpath="'
            + rest.replace(
                'loadmodule "tm.so"',
                f'loadmodule "tls.so"\nmodparam("tls", "config", "{tls_cfg}")\nloadmodule "tm.so"',
                1,
            )
        )

    def start(self) -> TlsKamailio:
        super().start()
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((self.host, self.tls_port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("kamailio does not listen on TLS") from None
                time.sleep(0.1)
