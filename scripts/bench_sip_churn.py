"""SIP churn benchmark: many sequential calls, and what they leave behind.

Starts the real engines and the SIP endpoint in trunk mode on loopback, lets
SIPp place N sequential calls (INVITE, a short hold, BYE), and compares
threads, open file descriptors, live pjsua2 call objects and RSS before and
after. A leak per call would grow with N; pools may settle by a thread or two.

    PYTHONPATH=. ./scripts/python scripts/bench_sip_churn.py [--calls 200] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.config import load_settings
from appliance.engines import Engines
from appliance.telephony.sip.service import SipService
from scripts.stats import write_report
from tests.support.sip_peers import LOOPBACK, Sipp, sipp_scenario


def footprint() -> dict[str, int]:
    with open("/proc/self/status", encoding="ascii") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {
        "threads": len(os.listdir("/proc/self/task")),
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_mib": rss_kib // 1024,
    }


async def settle(service: SipService) -> None:
    """Until no call is active and pjsua2 released every call object (10 s at most)."""
    deadline = time.monotonic() + 10
    # pjsua2 releases call objects on its own thread: there is no event to await.
    while time.monotonic() < deadline:
        health = service.health()
        if health.get("active_calls") == 0 and health.get("live_call_objects") == 0:
            return
        await asyncio.sleep(0.1)


async def run(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sip-churn-") as tmp:
        work = Path(tmp)
        settings = load_settings(
            environ={
                "HOME": tmp,
                "APPLIANCE_DATA_DIR": tmp,
                "APPLIANCE_LOG__LEVEL": "WARNING",
                "APPLIANCE_SIP__ENABLED": "true",
                "APPLIANCE_SIP__MODE": "trunk",
                "APPLIANCE_SIP__ALLOWED_PEERS": json.dumps([LOOPBACK]),
                "APPLIANCE_SIP__BIND_HOST": LOOPBACK,
                "APPLIANCE_SIP__PORT": "0",
                "APPLIANCE_SIP__RTP_PORT": "0",
            }
        )
        engines = await Engines.start(settings)
        service = SipService(engines, settings)
        try:
            endpoint = await service.start()
            target = f"{LOOPBACK}:{endpoint.local_port}"

            async def one_call(name: str) -> bool:
                peer = Sipp(work, name, sipp_scenario(hold_ms=500))
                result = await asyncio.to_thread(lambda: peer.start(target).wait())
                return bool(result.passed)

            await one_call("warm-up")
            await service.wait_records(1, 30)
            await settle(service)
            before = footprint()
            started = time.perf_counter()
            passed = 0
            for index in range(calls):
                passed += await one_call(f"call-{index}")
                if (index + 1) % 25 == 0:
                    print(f"… {index + 1}/{calls} calls", flush=True)
            await settle(service)
            after = footprint()
            health = service.health()
        finally:
            await service.stop()
            await engines.close()
    return {
        "calls": calls,
        "passed": passed,
        "seconds": round(time.perf_counter() - started, 1),
        "answered": health.get("answered"),
        "live_call_objects_after": health.get("live_call_objects"),
        "before": before,
        "after": after,
        "growth": {key: after[key] - before[key] for key in before},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench-results/sip_churn.json"))
    args = parser.parse_args()
    report = asyncio.run(run(args.calls))
    growth = report["growth"]
    print(
        f"{report['passed']}/{report['calls']} calls passed in {report['seconds']} s; "
        f"growth: threads {growth['threads']:+d}, fds {growth['fds']:+d}, "
        f"RSS {growth['rss_mib']:+d} MiB; live call objects after: "
        f"{report['live_call_objects_after']}"
    )
    write_report(args.out, report)


if __name__ == "__main__":
    main()
