"""Measure how many concurrent calls the installed pjsua2 build really carries.

PJSUA_MAX_CALLS is fixed when pjproject is compiled; ``uaConfig.maxCalls``
above it is not an error at ``libInit``. This script asks for far more calls
than any build allows, lets SIPp (``sip-tester``) place that many concurrent
calls on loopback, and counts how many pjsua answered (each also gets its own
conference-bridge port, as an appliance call does) and what the rest got.

    ./scripts/python scripts/sip_max_calls.py --calls 80
"""

from __future__ import annotations

import argparse
import collections
import gc
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pjsua2 as pj

ANSWER = 200


class _Port(pj.AudioMediaPort):  # type: ignore[misc]  # pjsua2 has no stubs
    """A silent port per call, so the bridge carries what an appliance call needs."""

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802  # pjsua2 API name
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(bytes(640))

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802  # pjsua2 API name
        return


class _Call(pj.Call):  # type: ignore[misc]  # pjsua2 has no stubs
    def __init__(self, account: _Account, call_id: int) -> None:
        super().__init__(account, call_id)
        self.port: _Port | None = None

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802  # pjsua2 API name
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                fmt = pj.MediaFormatAudio()
                fmt.type = pj.PJMEDIA_TYPE_AUDIO
                fmt.init(pj.PJMEDIA_FORMAT_PCM, 16000, 1, 20000, 16)
                self.port = _Port()
                self.port.createPort(f"p{info.id}", fmt)
                audio = self.getAudioMedia(index)
                audio.startTransmit(self.port)
                self.port.startTransmit(audio)
                return


class _Account(pj.Account):  # type: ignore[misc]  # pjsua2 has no stubs
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[_Call] = []
        self.failed: collections.Counter[str] = collections.Counter()

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802  # pjsua2 API name
        call = _Call(self, prm.callId)
        self.calls.append(call)
        op = pj.CallOpParam(True)
        op.statusCode = ANSWER
        try:
            call.answer(op)
        except pj.Error as exc:
            self.failed[str(exc.reason)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=80, help="concurrent calls to place")
    parser.add_argument(
        "--max-calls", type=int, default=None, help="uaConfig.maxCalls (default: --calls)"
    )
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp not found: apt-get install sip-tester")
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = False
    config.uaConfig.maxCalls = args.max_calls or args.calls
    config.logConfig.level = 0
    config.logConfig.consoleLevel = 0
    config.medConfig.maxMediaPorts = args.calls * 4
    endpoint.libInit(config)
    endpoint.audDevManager().setNullDev()
    transport_config = pj.TransportConfig()
    transport_config.port = 0
    transport_config.boundAddress = "127.0.0.1"
    transport = endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport_config)
    port = int(str(endpoint.transportGetInfo(transport).localName).rsplit(":", 1)[1])
    endpoint.libStart()
    account = _Account()
    account_config = pj.AccountConfig()
    account_config.idUri = f"sip:appliance@127.0.0.1:{port}"
    account_config.mediaConfig.transportConfig.port = 0
    account.create(account_config, True)
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.csv"
        proc = subprocess.Popen(
            [sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0",
             "-m", str(args.calls), "-l", str(args.calls), "-r", "50", "-d", "15000",
             "-recv_timeout", "20000", "-trace_stat", "-stf", str(stats), "-fd", "1",
             "-nostdin", "-bg"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proc.wait()
        peak = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            endpoint.libHandleEvents(20)
            peak = max(peak, _active(account))
        print(
            f"pjsua2 {endpoint.libVersion().full}: maxCalls {config.uaConfig.maxCalls}, "
            f"placed {args.calls} concurrent calls"
        )
        print(f"  INVITEs reaching the application: {len(account.calls)}")
        print(f"  answered and confirmed at once:   {peak}")
        print(f"  answer() errors:                  {dict(account.failed) or 'none'}")
        endpoint.hangupAllCalls()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            endpoint.libHandleEvents(20)
    account.calls.clear()
    del account
    gc.collect()
    endpoint.libDestroy()


def _active(account: _Account) -> int:
    count = 0
    for call in account.calls:
        try:
            if call.isActive() and call.getInfo().state == pj.PJSIP_INV_STATE_CONFIRMED:
                count += 1
        except pj.Error:
            continue
    return count


if __name__ == "__main__":
    main()
