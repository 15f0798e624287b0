"""GPU headroom in SIP call admission, through the real pjsua2 endpoint and SIPp.

There is no GPU here: the GPU readings come from a probe injected where
nvidia-smi would be (a fault injected at the boundary on purpose); everything
between the INVITE and the answer SIPp gets is real.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from appliance.telephony.sip.call import SipTransport
from appliance.telephony.sip.endpoint import SipEndpoint
from appliance.telephony.sip.gpu import GpuProbe, GpuProbeError, GpuReading
from appliance.telephony.sip.settings import SipSettings
from tests.support.sip_peers import LOOPBACK, Sipp, sipp_scenario

pytestmark = pytest.mark.asyncio

RETRY_AFTER_S = 42


def gpus(*free_mb: int) -> GpuProbe:
    readings = tuple(GpuReading(i, free, 10) for i, free in enumerate(free_mb))
    return lambda: readings


def broken() -> tuple[GpuReading, ...]:
    raise GpuProbeError("nvidia-smi is not installed")


@pytest_asyncio.fixture
async def endpoints() -> AsyncIterator[list[SipEndpoint]]:
    started: list[SipEndpoint] = []
    yield started
    for endpoint in started:
        await asyncio.to_thread(endpoint.stop)


async def start_endpoint(probe: GpuProbe, started: list[SipEndpoint]) -> SipEndpoint:
    settings = SipSettings(
        enabled=True,
        bind_host=LOOPBACK,
        port=0,
        rtp_port=0,
        mode="trunk",
        allowed_peers=(f"{LOOPBACK}/32",),
        min_free_gpu_memory_mb=4_000,
        retry_after_s=RETRY_AFTER_S,
    )
    calls: list[SipTransport] = []
    endpoint = SipEndpoint(
        settings, on_call=calls.append, loop=asyncio.get_running_loop(), gpu_probe=probe
    )
    started.append(endpoint)
    await asyncio.to_thread(endpoint.start)
    return endpoint


async def call(endpoint: SipEndpoint, workdir: Path, name: str, expect: int) -> str:
    sipp = Sipp(workdir, name, sipp_scenario(expect=expect, hold_ms=300))
    result = await asyncio.to_thread(lambda: sipp.start(f"{LOOPBACK}:{endpoint.local_port}").wait())
    assert result.passed, result.output
    return result.messages


async def test_low_free_gpu_memory_refuses_new_calls_with_503_and_retry_after(
    tmp_path: Path, endpoints: list[SipEndpoint]
) -> None:
    endpoint = await start_endpoint(gpus(24_000, 1_200), endpoints)  # the tight GPU decides
    messages = await call(endpoint, tmp_path, "low-gpu", 503)
    assert f"Retry-After: {RETRY_AFTER_S}" in messages
    assert "SIP/2.0 200" not in messages
    health = endpoint.health()
    assert (health["refused_overload"], health["answered"]) == (1, 0)
    gpu = health["gpu"]
    assert isinstance(gpu, dict)
    assert gpu["admitting"] is False
    assert gpu["refusal"] == "low GPU memory (1200 MB free)"


async def test_enough_free_gpu_memory_admits_the_call(
    tmp_path: Path, endpoints: list[SipEndpoint]
) -> None:
    endpoint = await start_endpoint(gpus(24_000, 6_000), endpoints)
    await call(endpoint, tmp_path, "roomy-gpu", 200)
    health = endpoint.health()
    assert (health["refused_overload"], health["answered"]) == (0, 1)
    gpu = health["gpu"]
    assert isinstance(gpu, dict)
    assert (gpu["admitting"], gpu["error"]) == (True, None)
    assert [g["free_mb"] for g in gpu["gpus"]] == [24_000, 6_000]


async def test_an_unknown_gpu_state_refuses_calls_and_is_logged_once(
    tmp_path: Path, endpoints: list[SipEndpoint], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    endpoint = await start_endpoint(broken, endpoints)
    for attempt in range(2):
        messages = await call(endpoint, tmp_path, f"unknown-gpu-{attempt}", 503)
        assert f"Retry-After: {RETRY_AFTER_S}" in messages
    unknown = [r for r in caplog.records if getattr(r, "code", "") == "SIP_GPU_UNAVAILABLE"]
    assert len(unknown) == 1, [r.getMessage() for r in unknown]
    health = endpoint.health()
    assert (health["refused_overload"], health["answered"]) == (2, 0)
    gpu = health["gpu"]
    assert isinstance(gpu, dict)
    assert gpu["error"] == "nvidia-smi is not installed"
    assert gpu["admitting"] is False
