"""SIP load benchmark: N concurrent baresip callers each ask a question over RTP.

Run from the repository root (needs the Debian packages baresip; everything on
loopback)::

    PYTHONPATH=. python scripts/bench_sip.py [--levels 1,2,4] [--rounds 3] [--json PATH]

For each level N, N callers dial the appliance's SIP endpoint at once (trunk
mode, real pjsua2, real engines), let the greeting play, ask the question and
record what they hear. Voice-to-voice is measured on the RTP streams as the
callers recorded them: from the end of the caller's question (their sent audio)
to the first loud frame of the answer (their received audio). Also reported:
answered calls, the appliance's own voice-to-voice figure, CPU and RSS, and
media-clock health (late frames, largest gap). CPU (cores busy over the level)
and peak RSS are given for the appliance process, for its child processes (the
embedded LLM server, llama_cpp.server) and in total, read from /proc over the
appliance's process tree; the baresip callers, children too, are the load and
are left out. A child that starts and ends inside one level is missed.
It is a benchmark, not a test: it prints a table, writes JSON and exits 0
unless it crashed. The levels stop at the pjsua2 build's call ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from appliance.audio.frames import rms_dbfs
from appliance.audio.resample import resample
from appliance.audio.wav import read_wav
from appliance.calls.events import TurnTimings
from appliance.config import load_settings
from appliance.engines import Engines
from appliance.errors import AudioInputError
from appliance.speech.stt import Int16Audio
from appliance.telephony.sip.service import SipService
from appliance.telephony.sip.settings import PJSUA_MAX_CALLS
from scripts.png_plot import line_chart
from tests.support.sip_peers import LOOPBACK, Baresip

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "bench-results" / "sip.json"
LINE_RATE = 8_000
GREETING_ROOM_S = 10
LOUD_DBFS = -40.0
QUIET_AFTER_QUESTION_S = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOAD_GENERATORS = frozenset({"baresip"})  # callers: the load, not the appliance
PROC = Path("/proc")
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.\w+)+")


@dataclass(frozen=True)
class ProcessUsage:
    pid: int
    name: str
    cpu_s: float  # user + system since the process started
    peak_rss_mb: float  # VmHWM


def _stat(pid: int) -> tuple[str, int, float] | None:
    """Name, parent pid and CPU seconds of a process from /proc/<pid>/stat."""
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None  # gone meanwhile
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in (PROC / str(pid) / "status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def process_tree(root: int) -> dict[int, ProcessUsage]:
    """``root`` and its descendants, minus the load generators and theirs."""
    stats = {pid: stat for pid in _pids() if (stat := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    tree: dict[int, ProcessUsage] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid not in stats or stats[pid][0] in LOAD_GENERATORS:
            continue
        name, _, cpu_s = stats[pid]
        tree[pid] = ProcessUsage(pid, _module(pid) or name, cpu_s, _peak_rss_mb(pid))
        todo.extend(children.get(pid, []))
    return tree


def _module(pid: int) -> str | None:
    """The Python module a child runs (e.g. llama_cpp.server), from its command line."""
    try:
        args = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for arg in args[1:]:
        text = arg.decode(errors="replace")
        if MODULE_NAME.fullmatch(text):
            return text
    return None


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


@dataclass
class TreeUsage:
    """CPU (cores busy over a stretch of wall time) and peak RSS of a process tree."""

    cpu_cores: float
    peak_rss_mb: float
    children_cpu_cores: float
    children_peak_rss_mb: float
    children: list[str]

    @property
    def total_cpu_cores(self) -> float:
        return self.cpu_cores + self.children_cpu_cores

    @property
    def total_peak_rss_mb(self) -> float:
        """The sum of each process's own peak: an upper bound of the peak together."""
        return self.peak_rss_mb + self.children_peak_rss_mb


def tree_usage(
    before: dict[int, ProcessUsage], after: dict[int, ProcessUsage], root: int, wall_s: float
) -> TreeUsage:
    def cpu(pid: int) -> float:
        start = before[pid].cpu_s if pid in before else 0.0
        return (after[pid].cpu_s - start) / wall_s

    others = [pid for pid in after if pid != root]
    return TreeUsage(
        cpu_cores=cpu(root),
        peak_rss_mb=after[root].peak_rss_mb,
        children_cpu_cores=sum(cpu(pid) for pid in others),
        children_peak_rss_mb=sum(after[pid].peak_rss_mb for pid in others),
        children=sorted(f"{after[pid].name}:{pid}" for pid in others),
    )


@dataclass
class Level:
    calls: int
    answered: int
    v2v_ms: list[float]
    appliance_v2v_ms: list[float]
    usage: TreeUsage
    late_frames: int
    max_frame_gap_ms: float

    def p(self, q: float) -> float | None:
        if not self.v2v_ms:
            return None
        return float(np.percentile(self.v2v_ms, q))


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def _loud(audio: Int16Audio, rate: int) -> list[bool]:
    size = rate // 50
    return [rms_dbfs(audio[i : i + size]) > LOUD_DBFS for i in range(0, len(audio) - size, size)]


def rtp_voice_to_voice_ms(recordings: Path) -> float | None:
    """End of the caller's question (sent) to the answer's first loud frame (heard)."""
    sent_files = sorted(recordings.glob("*-enc.wav"))
    heard_files = sorted(recordings.glob("*-dec.wav"))
    if not sent_files or not heard_files:
        return None
    try:
        sent, rate = read_wav(sent_files[-1])
        heard, heard_rate = read_wav(heard_files[-1])
    except AudioInputError:
        return None  # a call that never carried audio
    frames = _loud(sent, rate)
    voiced = [i for i, loud in enumerate(frames) if loud]
    if not voiced:
        return None
    quiet = int(QUIET_AFTER_QUESTION_S * 50)
    end = next(
        (i for i in range(voiced[0], len(frames) - quiet) if not any(frames[i : i + quiet])),
        None,
    )
    if end is None:
        return None
    answer = _loud(heard, heard_rate)
    start = next((i for i in range(end, len(answer)) if answer[i]), None)
    return None if start is None else float((start - end) * 20)


async def run_level(
    calls: int, service: SipService, question: Int16Audio, workdir: Path, rounds: int
) -> Level:
    """``rounds`` times ``calls`` concurrent calls; CPU and RSS over all of them."""
    before_records = len(service.records)
    before_health = service.health()
    root = os.getpid()
    tree_before = process_tree(root)
    wall_before = time.monotonic()
    v2v: list[float] = []
    established = 0
    for round_ in range(rounds):
        ms, answered = await _round(calls, service, question, workdir / f"n{calls}-r{round_}")
        v2v.extend(ms)
        established += answered
    try:
        await service.wait_records(before_records + established, 30)
    except TimeoutError:
        progress("not every call record arrived")
    usage = tree_usage(tree_before, process_tree(root), root, time.monotonic() - wall_before)
    records = list(service.records)[before_records:]
    appliance_v2v = [
        float(t.voice_to_voice_ms)
        for record in records
        for t in record.of(TurnTimings)
        if t.voice_to_voice_ms is not None
    ]
    health = service.health()
    late = int(str(health["late_frames"])) - int(str(before_health["late_frames"]))
    return Level(
        calls=calls,
        answered=int(str(health["answered"])) - int(str(before_health["answered"])),
        v2v_ms=v2v,
        appliance_v2v_ms=appliance_v2v,
        usage=usage,
        late_frames=late,
        max_frame_gap_ms=float(str(health["max_frame_gap_ms"])),
    )


async def _round(
    calls: int, service: SipService, question: Int16Audio, workdir: Path
) -> tuple[list[float], int]:
    """One round: the callers' voice-to-voice figures and how many calls were set up."""
    endpoint = service.endpoint
    assert endpoint is not None
    audio = np.concatenate(
        [
            np.zeros(LINE_RATE * GREETING_ROOM_S, dtype=np.int16),
            question,
            np.zeros(LINE_RATE * 25, dtype=np.int16),
        ]
    )
    callers = [
        Baresip(workdir / f"caller{i}", audio=audio, sample_rate=LINE_RATE).start()
        for i in range(calls)
    ]
    try:
        for caller in callers:
            caller.dial(f"sip:appliance@{LOOPBACK}:{endpoint.local_port}")
        established = 0
        for caller in callers:
            try:
                await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", 15)
                established += 1
            except TimeoutError:
                continue
        await asyncio.sleep(GREETING_ROOM_S + len(question) / LINE_RATE + 14)
        for caller in callers:
            caller.hangup()
        for caller in callers:
            try:
                await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 10)
            except TimeoutError:
                continue
    finally:
        for caller in callers:
            caller.stop()
    v2v = [ms for c in callers if (ms := rtp_voice_to_voice_ms(c.recordings)) is not None]
    return v2v, established


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def print_table(levels: list[Level]) -> None:
    print(
        "\ncalls  answered  v2v p50  v2v p95  (appliance p50)  "
        "CPU cores app+children=total  peak RSS MB app+children=total  late frames"
    )
    for level in levels:
        appliance = statistics.median(level.appliance_v2v_ms) if level.appliance_v2v_ms else None
        use = level.usage
        cpu = f"{use.cpu_cores:.2f}+{use.children_cpu_cores:.2f}={use.total_cpu_cores:.2f}"
        rss = f"{use.peak_rss_mb:.0f}+{use.children_peak_rss_mb:.0f}={use.total_peak_rss_mb:.0f}"
        print(
            f"{level.calls:>5}  {level.answered:>8}  {_fmt(level.p(50)):>7}  "
            f"{_fmt(level.p(95)):>7}  {_fmt(appliance):>15}  {cpu:>28}  {rss:>32}  "
            f"{level.late_frames:>11}"
        )
    children = sorted({child for level in levels for child in level.usage.children})
    print("(voice-to-voice in ms, measured on the callers' RTP recordings;")
    print(f" children: {', '.join(children) or 'none'}; total RSS sums each process's peak)")


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
        workdir = Path(tmp)
        settings = load_settings(
            environ={"APPLIANCE_DATA_DIR": str(workdir / "data"), "HOME": str(workdir)}
        ).with_overrides(
            sip={
                "enabled": True,
                "mode": "trunk",
                "bind_host": LOOPBACK,
                "port": 0,
                "rtp_port": 0,
                "allowed_peers": [LOOPBACK],
                "max_calls": PJSUA_MAX_CALLS,
            },
            log={"level": "WARNING", "format": "text"},
        )
        logging.basicConfig(level=logging.WARNING)
        progress("starting engines")
        engines = await Engines.start(settings)
        service = SipService(engines, settings)
        try:
            await service.start()
            speech = await engines.tts.synthesize(args.question)
            question = resample(speech.audio, speech.sample_rate, LINE_RATE)
            levels: list[Level] = []
            for calls in args.levels:
                progress(f"{calls} concurrent call(s)")
                levels.append(await run_level(calls, service, question, workdir, args.rounds))
        finally:
            await service.stop()
            await engines.close()
    print_table(levels)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "rounds_per_level": args.rounds,
        "question": args.question,
        "levels": [
            asdict(level)
            | {
                "p50": level.p(50),
                "p95": level.p(95),
                "total_cpu_cores": level.usage.total_cpu_cores,
                "total_peak_rss_mb": level.usage.total_peak_rss_mb,
            }
            for level in levels
        ],
    }
    args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    progress(f"results written to {args.json}")
    plot = args.json.with_suffix(".png")
    line_chart(
        plot,
        [
            [(level.calls, p) for level in levels if (p := level.p(50)) is not None],
            [(level.calls, p) for level in levels if (p := level.p(95)) is not None],
        ],
        limit=2000.0,
    )
    progress(f"curve (x: concurrent calls; y: ms; blue p50, red p95, dashed 2 s) in {plot}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--levels",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[n for n in (1, 2, 4) if n <= PJSUA_MAX_CALLS],
        help="concurrent calls per level, comma-separated (default 1,2,4)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds per level, for more than one voice-to-voice sample per caller (default 3)",
    )
    parser.add_argument("--question", default="What are the visiting hours on the ward?")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file")
    args = parser.parse_args(argv)
    if max(args.levels) > PJSUA_MAX_CALLS:
        parser.error(f"the pjsua2 build carries at most {PJSUA_MAX_CALLS} calls")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parse_args())))
