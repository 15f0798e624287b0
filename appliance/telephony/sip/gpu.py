"""GPU headroom for call admission: free GPU memory and utilisation from NVML.

A box whose LLM runs on the GPU should take no new call when the GPU has no
room left (``sip.min_free_gpu_memory_mb``, ``sip.max_gpu_utilization_pct``; 0
turns a check off, both are off by default). The readings come from NVML
through ``nvidia-smi --query-gpu=memory.free,utilization.gpu``; with several
GPUs the tightest one decides (least free memory, highest utilisation), since
the model may be spread over all of them.

The probe never runs on the SIP thread or the event loop: a sampler thread runs
it every ``REFRESH_S`` with a timeout and keeps the last reading, and an INVITE
only looks at that reading. The first reading is taken when the endpoint starts.

When the GPU state is unknown (nvidia-smi missing, failing, hanging or printing
something unreadable, or the last good reading is too old) new calls are
**refused** with 503 and Retry-After: a box configured to need GPU headroom
cannot promise the LLM its memory without knowing it, and a refused caller can
retry while a half-served one cannot. The failure is logged once (code
``SIP_GPU_UNAVAILABLE``) until a good reading comes back, and shows in health.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import ApplianceError, ErrorCode
from appliance.telephony.sip.settings import SipSettings

log = logging.getLogger(__name__)

NVIDIA_SMI = (
    "nvidia-smi",
    "--query-gpu=memory.free,utilization.gpu",
    "--format=csv,noheader,nounits",
)
PROBE_TIMEOUT_S = 2.0
REFRESH_S = 1.5  # how often the sampler reads the GPUs
STALE_AFTER_S = 3 * REFRESH_S + PROBE_TIMEOUT_S  # a reading older than this is unknown
NOT_AVAILABLE = ("[n/a]", "[not supported]", "n/a")


class GpuProbeError(ApplianceError):
    code = ErrorCode.SIP_GPU_UNAVAILABLE


@dataclass(frozen=True)
class GpuReading:
    """One GPU: free memory in MiB, utilisation in percent (None where NVML has none)."""

    index: int
    free_mb: int
    utilization_pct: int | None


GpuProbe = Callable[[], tuple[GpuReading, ...]]


def parse_nvidia_smi(text: str) -> tuple[GpuReading, ...]:
    """Readings from ``nvidia-smi --query-gpu=memory.free,utilization.gpu
    --format=csv,noheader,nounits``: one ``free, utilisation`` line per GPU."""
    readings: list[GpuReading] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2:
            raise GpuProbeError(f"nvidia-smi: unexpected line {line[:80]!r}")
        free, utilization = fields
        try:
            free_mb = int(free)
            util = None if utilization.lower() in NOT_AVAILABLE else int(utilization)
        except ValueError as exc:
            raise GpuProbeError(f"nvidia-smi: unexpected line {line[:80]!r}") from exc
        if free_mb < 0 or (util is not None and not 0 <= util <= 100):
            raise GpuProbeError(f"nvidia-smi: value out of range in {line[:80]!r}")
        readings.append(GpuReading(len(readings), free_mb, util))
    if not readings:
        raise GpuProbeError("nvidia-smi reported no GPU")
    return tuple(readings)


def nvidia_smi_probe(timeout_s: float = PROBE_TIMEOUT_S) -> GpuProbe:
    """A probe that runs nvidia-smi (with a timeout) and parses what it prints."""

    def probe() -> tuple[GpuReading, ...]:
        try:
            done = subprocess.run(
                NVIDIA_SMI, capture_output=True, timeout=timeout_s, check=False, text=True
            )
        except FileNotFoundError as exc:
            raise GpuProbeError("nvidia-smi is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise GpuProbeError(f"nvidia-smi did not answer within {timeout_s} s") from exc
        except OSError as exc:
            raise GpuProbeError(f"nvidia-smi could not run: {exc}") from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[:1]
            raise GpuProbeError(f"nvidia-smi failed ({done.returncode}): {' '.join(detail)}")
        return parse_nvidia_smi(done.stdout)

    return probe


class GpuHeadroom:
    """The last GPU reading and what it means for a new call."""

    def __init__(
        self,
        *,
        min_free_mb: int,
        max_utilization_pct: float,
        probe: GpuProbe,
        clock: Callable[[], float] = time.monotonic,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.min_free_mb = min_free_mb
        self.max_utilization_pct = max_utilization_pct
        self._probe = probe
        self._clock = clock
        self._stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._readings: tuple[GpuReading, ...] = ()
        self._read_at: float | None = None
        self._error: str | None = "no reading yet"
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- sampling ------------------------------------------------------------

    def refresh(self) -> None:
        """Read the GPUs once (sampler thread, or a test); never raises."""
        try:
            readings = self._probe()
        except GpuProbeError as exc:
            self._failed(exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - a broken probe must not kill the sampler
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            self._readings, self._read_at, self._error = readings, self._clock(), None
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("gpu readings back", extra={"gpus": len(readings)})

    def _failed(self, reason: str) -> None:
        with self._lock:
            self._error = reason
            first, self._failing = not self._failing, True
        if first:
            log.warning(
                "gpu state unknown, new calls are refused: %s",
                reason,
                extra={"code": ErrorCode.SIP_GPU_UNAVAILABLE.value},
            )

    def start(self, interval_s: float = REFRESH_S) -> None:
        """Take a first reading now, then keep reading on a thread of its own."""
        self.refresh()
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), name="gpu-probe", daemon=True
        )
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(PROBE_TIMEOUT_S + 1.0)

    # -- decisions (any thread) -----------------------------------------------

    def verdict(self) -> str | None:
        """Why a new call should be refused for lack of GPU headroom, or None."""
        with self._lock:
            readings, read_at, error = self._readings, self._read_at, self._error
        if error is not None:
            return f"GPU state unknown ({error})"
        if read_at is None or self._clock() - read_at > self._stale_after_s:
            return "GPU state unknown (no recent reading)"
        if self.min_free_mb:
            free = min(reading.free_mb for reading in readings)
            if free < self.min_free_mb:
                return f"low GPU memory ({free} MB free)"
        if self.max_utilization_pct:
            busy = [r.utilization_pct for r in readings if r.utilization_pct is not None]
            if busy and max(busy) > self.max_utilization_pct:
                return f"GPU busy ({max(busy)} % utilised)"
        return None

    def state(self) -> dict[str, object]:
        """For health: the thresholds, the last reading and whether calls are admitted."""
        with self._lock:
            readings, read_at, error = self._readings, self._read_at, self._error
        refusal = self.verdict()
        return {
            "enabled": True,
            "min_free_mb": self.min_free_mb,
            "max_utilization_pct": self.max_utilization_pct,
            "admitting": refusal is None,
            "refusal": refusal,
            "error": error,
            "reading_age_s": None if read_at is None else round(self._clock() - read_at, 1),
            "gpus": [
                {"index": r.index, "free_mb": r.free_mb, "utilization_pct": r.utilization_pct}
                for r in readings
            ],
        }


def headroom_for(settings: SipSettings, probe: GpuProbe | None = None) -> GpuHeadroom | None:
    """The GPU admission check the settings ask for (None when both checks are off);
    ``probe`` replaces nvidia-smi (tests inject faults there)."""
    if not settings.min_free_gpu_memory_mb and not settings.max_gpu_utilization_pct:
        return None
    return GpuHeadroom(
        min_free_mb=settings.min_free_gpu_memory_mb,
        max_utilization_pct=settings.max_gpu_utilization_pct,
        probe=probe or nvidia_smi_probe(),
    )
