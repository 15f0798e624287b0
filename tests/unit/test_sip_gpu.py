"""GPU headroom for SIP admission: nvidia-smi output, the decision, its failure mode."""

from __future__ import annotations

import logging
import re
import stat
from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.telephony.sip.gpu import (
    GpuHeadroom,
    GpuProbeError,
    GpuReading,
    headroom_for,
    nvidia_smi_probe,
    parse_nvidia_smi,
)
from tests.support.clock import ManualClock


class Probe:
    """Stands in for nvidia-smi: returns what it is given, or raises it."""

    def __init__(self, *gpus: tuple[int, int | None]) -> None:
        self.result: tuple[GpuReading, ...] | Exception = readings(*gpus)
        self.calls = 0

    def __call__(self) -> tuple[GpuReading, ...]:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def readings(*gpus: tuple[int, int | None]) -> tuple[GpuReading, ...]:
    return tuple(GpuReading(i, free, util) for i, (free, util) in enumerate(gpus))


def smi_lines(*gpus: tuple[int, str]) -> str:
    return "".join(f"{free}, {util}\n" for free, util in gpus)


def headroom(
    probe: Probe, clock: ManualClock, *, free_mb: int = 0, util_pct: float = 0
) -> GpuHeadroom:
    return GpuHeadroom(min_free_mb=free_mb, max_utilization_pct=util_pct, probe=probe, clock=clock)


# -- parsing nvidia-smi ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        pytest.param(((7_821, "3"),), ((7_821, 3),), id="one-gpu"),
        pytest.param(((24_000, "97"), (512, "0")), ((24_000, 97), (512, 0)), id="two-gpus"),
        pytest.param(((4_096, "[N/A]"),), ((4_096, None),), id="utilisation-not-available"),
        pytest.param(((80, "[Not Supported]"),), ((80, None),), id="utilisation-not-supported"),
    ],
)
def test_nvidia_smi_lines_become_one_reading_per_gpu(
    gpus: tuple[tuple[int, str], ...], expected: tuple[tuple[int, int | None], ...]
) -> None:
    assert parse_nvidia_smi("\n" + smi_lines(*gpus) + "\n") == readings(*expected)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="no-gpu"),
        pytest.param("NVIDIA-SMI has failed because it couldn't communicate\n", id="driver-down"),
        pytest.param("1024\n", id="one-field"),
        pytest.param("1024, 5, 7\n", id="three-fields"),
        pytest.param("lots, 5\n", id="memory-not-a-number"),
        pytest.param("-5, 5\n", id="negative-memory"),
        pytest.param("1024, 140\n", id="utilisation-over-100"),
    ],
)
def test_unreadable_nvidia_smi_output_is_a_probe_error(text: str) -> None:
    with pytest.raises(GpuProbeError) as caught:
        parse_nvidia_smi(text)
    assert caught.value.code == "SIP_GPU_UNAVAILABLE"


def fake_nvidia_smi(directory: Path, script: str) -> None:
    binary = directory / "nvidia-smi"
    binary.write_text("#!/bin/sh\n" + script, encoding="ascii")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)


def test_the_probe_runs_nvidia_smi_with_the_query_and_parses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in binary at the process boundary echoes its arguments back as a check.
    fake_nvidia_smi(
        tmp_path,
        '[ "$1 $2" = "--query-gpu=memory.free,utilization.gpu '
        '--format=csv,noheader,nounits" ] || exit 9\necho "2048, 12"\n',
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    assert nvidia_smi_probe()() == readings((2048, 12))


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        pytest.param("echo 'No devices were found' >&2\nexit 6\n", "failed (6)", id="exit-code"),
        pytest.param("exec /bin/sleep 5\n", "did not answer", id="hangs"),
        pytest.param(None, "not installed", id="missing"),
    ],
)
def test_a_failing_nvidia_smi_is_a_probe_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str | None, reason: str
) -> None:
    if script is not None:
        fake_nvidia_smi(tmp_path, script)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GpuProbeError, match=re.escape(reason)):
        nvidia_smi_probe(timeout_s=0.3)()


# -- the decision ----------------------------------------------------------------------


def test_enough_free_memory_admits_and_the_tightest_gpu_decides() -> None:
    clock, probe = ManualClock(), Probe((9_000, 10), (6_000, 20))
    gpu = headroom(probe, clock, free_mb=4_000)
    gpu.refresh()
    assert gpu.verdict() is None
    probe.result = readings((9_000, 10), (3_000, 20))
    gpu.refresh()
    assert gpu.verdict() == "low GPU memory (3000 MB free)"


def test_a_busy_gpu_refuses_when_a_utilisation_limit_is_set() -> None:
    clock, probe = ManualClock(), Probe((9_000, 95), (9_000, None))
    gpu = headroom(probe, clock, util_pct=90)
    gpu.refresh()
    assert gpu.verdict() == "GPU busy (95 % utilised)"
    probe.result = readings((9_000, 40), (9_000, None))  # N/A counts as nothing known
    gpu.refresh()
    assert gpu.verdict() is None


def test_a_failing_probe_refuses_calls_and_is_logged_once_until_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.telephony.sip.gpu")
    clock, probe = ManualClock(), Probe((8_000, 5))
    gpu = headroom(probe, clock, free_mb=1_000)
    assert gpu.verdict() == "GPU state unknown (no reading yet)"
    probe.result = GpuProbeError("nvidia-smi is not installed")
    for _ in range(3):
        gpu.refresh()
        clock.now += 1.5
    assert gpu.verdict() == "GPU state unknown (nvidia-smi is not installed)"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert getattr(warnings[0], "code", "") == "SIP_GPU_UNAVAILABLE"

    probe.result = readings((8_000, 5))
    gpu.refresh()
    assert gpu.verdict() is None
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "gpu readings back"
    ]
    probe.result = GpuProbeError("nvidia-smi did not answer within 2.0 s")
    gpu.refresh()  # failing again after a recovery is news again
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_probe_that_breaks_unexpectedly_refuses_instead_of_raising() -> None:
    clock, probe = ManualClock(), Probe()
    probe.result = RuntimeError("driver exploded")
    gpu = headroom(probe, clock, free_mb=1)
    gpu.refresh()
    assert gpu.verdict() == "GPU state unknown (RuntimeError: driver exploded)"


def test_a_reading_gone_stale_refuses() -> None:
    clock, probe = ManualClock(), Probe((8_000, 5))
    gpu = headroom(probe, clock, free_mb=1_000)
    gpu.refresh()
    clock.now += 4.0
    assert gpu.verdict() is None
    clock.now += 60.0  # the sampler stopped reading (e.g. it hangs)
    assert gpu.verdict() == "GPU state unknown (no recent reading)"


def test_health_shows_thresholds_readings_and_the_verdict() -> None:
    clock, probe = ManualClock(), Probe((1_500, 30))
    gpu = headroom(probe, clock, free_mb=2_000, util_pct=80)
    gpu.refresh()
    clock.now += 0.5
    state = gpu.state()
    assert state["admitting"] is False
    assert state["refusal"] == "low GPU memory (1500 MB free)"
    assert state["error"] is None
    assert state["reading_age_s"] == 0.5
    assert state["gpus"] == [{"index": 0, "free_mb": 1_500, "utilization_pct": 30}]
    assert (state["min_free_mb"], state["max_utilization_pct"]) == (2_000, 80)


def test_the_gpu_check_exists_only_when_configured(settings: Settings) -> None:
    assert headroom_for(settings.sip) is None  # the default: off, nvidia-smi never runs
    probe = Probe((100, 0))
    on = settings.with_overrides(sip={"min_free_gpu_memory_mb": 512}).sip
    gpu = headroom_for(on, probe)
    assert gpu is not None
    assert probe.calls == 0  # nothing runs before the endpoint starts it
    gpu.refresh()
    assert gpu.verdict() == "low GPU memory (100 MB free)"
    busy = settings.with_overrides(sip={"max_gpu_utilization_pct": 50}).sip
    assert headroom_for(busy, probe) is not None
