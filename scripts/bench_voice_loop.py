"""Benchmark the whole voice loop on the real engines: STT, LLM, TTS, voice-to-voice.

Run from the repository root with the repository on the import path::

    PYTHONPATH=. python scripts/bench_voice_loop.py [--limit N] [--json PATH]

It is a benchmark, not a test: it prints a table of figures with their targets
and PASS/FAIL, writes every sample as JSON, and exits 0 unless it crashed. All
speech is synthesised at run time (Piper and espeak-ng); nothing is downloaded.
See ``--help`` for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.agent.chunker import SentenceChunker
from appliance.audio.frames import FRAME_MS, samples_per_frame
from appliance.audio.resample import resample
from appliance.audio.wav import write_wav
from appliance.calls.events import (
    AgentText,
    BackchannelIgnored,
    BargeIn,
    TranscriptFinal,
    TurnTimings,
)
from appliance.calls.session import CallRecord, run_call
from appliance.config import LogSettings, Settings, load_settings
from appliance.engines import Engines
from appliance.errors import ApplianceError
from appliance.llm.client import StreamStats
from appliance.logs import setup_logging
from appliance.speech.stt import Int16Audio, SpeechToText
from appliance.telephony.simulated import CallerTurn, Recording, SimulatedCaller
from tests.support.speech import espeak_speech, normalise_words, silence, word_error_rate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUESTIONS = REPO.parent / "shared" / "eval" / "kb" / "questions.jsonl"
DEFAULT_JSON = REPO / "bench-results" / "voice_loop.json"

RATE = 16_000  # the simulated line rate and Whisper's rate
FRAME = samples_per_frame(RATE)
IDLE_BEFORE_TURN_MS = 400  # the caller waits this long after the agent falls silent
TURN_PAD_MS = 1000  # silence after each question, see question_turns
TAIL_MS = 1500
BARGE_AFTER_AGENT_MS = 700
STOP_PHRASE = "Stop, I have another question."
LOUD_DBFS = -40.0  # energy floor for speech on/offsets in the recordings
BLOCK_MS = 10  # resolution of the energy on/offsets
GIB = 1024**3
MIB = 1024**2

TARGET_WER = 0.15
TARGET_TTS_RTF = 0.3
TARGET_V2V_P50_MS = 1000.0
TARGET_V2V_P95_MS = 1600.0
TARGET_IDLE_BYTES = 2 * GIB
TARGET_BARGE_MS = 100.0

EPILOG = f"""\
figures (p50/p95/p99 are linearly interpolated percentiles over the samples;
n= is the number of samples):

STT  Each question is synthesised at run time: English with the appliance's
     Piper voice (resampled to 16 kHz; the primary figure) and with espeak-ng
     (en-us), German with espeak-ng (-v de). English is transcribed with the
     English appliance's model (tiny.en, language "en"), German with the
     multilingual base model of a German-configured appliance (language "de").
  WER   corpus word error rate: word-level edit distance between the question
        and the transcript after normalisation (casefold, no punctuation),
        summed over all questions / number of reference words.
        Target (English, Piper voice): <= {TARGET_WER:.0%}; the others are
        shown against it for orientation only ("info").
  RTF   real-time factor: transcription time / audio duration, mean over
        questions (lower is faster; 0.1 = ten times faster than real time).

LLM  Each question, alone with the system prompt (engines.responder.messages),
     is streamed from the appliance's LLM with its max_tokens/temperature,
     one after the other; the first request after start-up is included.
  first token   time from sending the request to the first text delta.
  tokens/s      decode rate after the first token, mean over questions.
  reply tokens  completion tokens per reply, mean.

TTS  The LLM's English replies are cut into chunks by the appliance's chunker
     and synthesised chunk by chunk with Piper, as the voice loop does.
  first audio   synthesis time of a reply's first chunk (what a caller waits
                for once the LLM has written the first chunk).
  RTF           synthesis time / audio duration over all chunks of all
                replies (aggregate), and the worst single reply.
                Target: aggregate RTF <= {TARGET_TTS_RTF}.

Voice-to-voice  Realtime simulated calls (a pacing thread, 20 ms a frame): the
     caller waits for the greeting, then each question (Piper voice) is one
     turn, asked {IDLE_BEFORE_TURN_MS} ms after the agent fell silent. Several
     questions share a call (--turns-per-call), so later turns carry history.
  v2v        the appliance's own TurnTimings.voice_to_voice_ms: arrival of the
             caller's last voiced frame -> the first frame of the answer pulled
             by the transport. It includes the end-of-turn silence wait.
             Targets: p50 <= {TARGET_V2V_P50_MS:.0f} ms, p95 <= {TARGET_V2V_P95_MS:.0f} ms.
  v2v from recording  cross-check from the recorded tracks: end of the
             caller's speech by energy (> {LOUD_DBFS:.0f} dBFS, {BLOCK_MS} ms blocks) -> first
             agent frame carrying audio.
  split      means of TurnTimings: end of speech -> transcript ready, LLM first
             token (request -> first delta), TTS first audio (synthesis of the
             first chunk). "remainder" is v2v minus those three: the LLM
             writing the rest of the first chunk after its first token, hand-
             offs and the wait for the next 20 ms tick.
  speculative  fraction of turns whose reply was started in the pause before
             the end of the turn and kept.
  in-call WER  WER of the transcripts the appliance made during the calls.
  prompt-first  turns whose first audio was a fixed prompt (the "one moment"
             filler or "didn't catch that"): their v2v times the prompt, not
             the answer.
  without timings  questions for which no TurnTimings could be matched (not
             heard, split in two, or merged with another turn).
  German     the same through a German-configured appliance (whisper base,
             German prompts), the caller speaking espeak-ng German, on the
             first --german-calls questions. The only voice is the English
             Piper voice, so the agent reads German with an English voice.

Frame pacing jitter  |interval between two ticks of the realtime pacing thread
     - {FRAME_MS} ms| over all realtime calls (v2v and barge-in); "busy" restricts
     it to ticks between the end of a caller turn (TranscriptFinal.end_ms,
     media time = tick x {FRAME_MS} ms) and the agent's first audio of the reply,
     when STT, LLM and TTS compete for the CPU.

Memory  idle: VmRSS of this process right after Engines.start (English) plus
     the embedded LLM server child's VmRSS. Target: <= {TARGET_IDLE_BYTES / GIB:.0f} GiB.
     The German idle figure is an upper bound: it is measured in the same
     process after the English engines ran and were closed.
     peak: ru_maxrss of this process at the end of the run, and the highest
     LLM server VmRSS sampled every 0.5 s during the run.

Barge-in  One realtime call: a question, then "{STOP_PHRASE}"
     spoken {BARGE_AFTER_AGENT_MS} ms into the agent's answer, repeatedly (each repetition
     interrupts the answer to the previous one; alternately Piper and espeak).
  stop latency  from the caller's speech onset (energy in the caller track
             after the turn started) to the end of the last agent frame with
             audio before the caller finished speaking (so playback that was
             resumed counts as not stopped). Target: p50 and max <= {TARGET_BARGE_MS:.0f} ms.
  self-reported  BargeIn.playback_stopped_ms - BargeIn.onset_ms (media clock).
  detected   repetitions that produced a BargeIn event.

Settings come from the defaults plus APPLIANCE_* environment variables
(APPLIANCE_CONFIG for a TOML file), except that the data directory is a fresh
temporary one unless --data-dir is given. Progress goes to stderr; the
appliance's warnings are listed under the table.
"""


# -- small helpers ----------------------------------------------------------------


_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def vm_rss_bytes(pid: int | str = "self") -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def loud_blocks(audio: Int16Audio, floor_dbfs: float = LOUD_DBFS) -> npt.NDArray[np.bool_]:
    """Per BLOCK_MS block: is it louder than the floor?"""
    block = RATE * BLOCK_MS // 1000
    count = len(audio) // block
    blocks = audio[: count * block].astype(np.float64).reshape(count, block)
    rms = np.sqrt(np.mean(np.square(blocks), axis=1))
    result: npt.NDArray[np.bool_] = rms > 32768.0 * 10.0 ** (floor_dbfs / 20.0)
    return result


def audible_frames(audio: Int16Audio) -> npt.NDArray[np.bool_]:
    """Per 20 ms frame of a recorded agent track: did the agent play anything?"""
    count = len(audio) // FRAME
    frames = audio[: count * FRAME].reshape(count, FRAME)
    result: npt.NDArray[np.bool_] = np.any(frames != 0, axis=1)
    return result


# -- the figures ------------------------------------------------------------------


@dataclass(slots=True)
class Figure:
    key: str
    label: str
    value: float | None
    unit: str  # "ms", "%", "x", "tok/s", "MiB", "" (a plain number)
    target: float | None = None
    gated: bool = True  # False: the target is shown for orientation only
    samples: int | None = None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if not self.gated:
            return "info"
        if self.value is None:
            return "n/a"
        return "PASS" if self.value <= self.target else "FAIL"

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        formatter = _FORMATS.get(self.unit)
        return formatter(value) if formatter else f"{value:.1f} {self.unit}"


_FORMATS: dict[str, Callable[[float], str]] = {
    "%": lambda v: f"{v * 100:.1f} %",
    "MiB": lambda v: f"{v / MIB:.0f} MiB",
    "x": lambda v: f"{v:.3f}",
    "ms": lambda v: f"{v:.0f} ms" if abs(v) >= 100 else f"{v:.1f} ms",
    "": lambda v: f"{v:.1f}" if v % 1 else f"{v:.0f}",
}


@dataclass(slots=True)
class Report:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        key: str,
        label: str,
        value: float | None,
        unit: str,
        target: float | None = None,
        *,
        gated: bool = True,
        n: int | None = None,
    ) -> None:
        self.figures.append(Figure(key, label, value, unit, target, gated, n))


HEADINGS = ("Figure", "Value", "Target", "Result")


def print_table(report: Report, header: str) -> None:
    rows = [
        (
            f.label + (f" (n={f.samples})" if f.samples is not None else ""),
            f.show(f.value),
            "" if f.target is None else "<= " + f.show(f.target),
            f.verdict,
        )
        for f in report.figures
    ]
    widths = [max(len(row[i]) for row in [HEADINGS, *rows]) for i in range(4)]
    rule = "  ".join("-" * w for w in widths)
    print(header)
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(HEADINGS, widths, strict=True)).rstrip())
    print(rule)
    for label, value, target, verdict in rows:
        cells = (label.ljust(widths[0]), value.rjust(widths[1]), target.rjust(widths[2]), verdict)
        print("  ".join(cells).rstrip())
    print(rule)


# -- questions and speech ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    lang: str
    text: str


@dataclass(frozen=True, slots=True)
class Utterance:
    question: Question
    voice: str  # "piper" | "espeak"
    audio: Int16Audio  # 16 kHz mono


def load_questions(path: Path, limit: int | None) -> dict[str, list[Question]]:
    by_lang: dict[str, list[Question]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                raw = json.loads(line)
                question = Question(str(raw["id"]), str(raw["lang"]), str(raw["question"]))
                by_lang.setdefault(question.lang, []).append(question)
    if limit is not None:
        by_lang = {lang: questions[:limit] for lang, questions in by_lang.items()}
    return by_lang


async def piper_audio(engines: Engines, text: str) -> Int16Audio:
    speech = await engines.tts.synthesize(text)
    return resample(speech.audio, speech.sample_rate, RATE)


async def espeak_audio(text: str, lang: str) -> Int16Audio:
    return await asyncio.to_thread(espeak_speech, text, lang=lang, sample_rate=RATE)


async def synthesise(
    engines: Engines, questions: list[Question], voices: Sequence[str]
) -> dict[str, list[Utterance]]:
    out: dict[str, list[Utterance]] = {voice: [] for voice in voices}
    for question in questions:
        for voice in voices:
            if voice == "piper":
                audio = await piper_audio(engines, question.text)
            else:
                lang = "en-us" if question.lang == "en" else question.lang
                audio = await espeak_audio(question.text, lang)
            out[voice].append(Utterance(question, voice, audio))
    return out


# -- STT --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SttSample:
    id: str
    voice: str
    reference: str
    hypothesis: str
    wer: float
    ref_words: int
    audio_s: float
    elapsed_s: float
    rtf: float


async def bench_stt(
    stt: SpeechToText, utterances: list[Utterance], language: str
) -> list[SttSample]:
    samples = []
    for utt in utterances:
        result = await stt.transcribe(utt.audio, language=language)
        samples.append(
            SttSample(
                id=utt.question.id,
                voice=utt.voice,
                reference=utt.question.text,
                hypothesis=result.text,
                wer=word_error_rate(utt.question.text, result.text),
                ref_words=len(normalise_words(utt.question.text)),
                audio_s=result.audio_s,
                elapsed_s=result.elapsed_s,
                rtf=result.real_time_factor,
            )
        )
    return samples


def corpus_wer(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Summed word errors / summed reference words over (reference, hypothesis) pairs."""
    words = [len(normalise_words(ref)) for ref, _ in pairs]
    errors = sum(word_error_rate(ref, hyp) * n for (ref, hyp), n in zip(pairs, words, strict=True))
    return errors / sum(words) if sum(words) else None


def stt_figures(
    report: Report, key: str, label: str, samples: list[SttSample], *, gated: bool
) -> None:
    wer = corpus_wer([(s.reference, s.hypothesis) for s in samples])
    n = len(samples)
    report.add(f"{key}.wer", f"{label} WER", wer, "%", TARGET_WER, gated=gated, n=n)
    report.add(f"{key}.rtf", f"{label} RTF (mean)", mean([s.rtf for s in samples]), "x", n=n)


# -- LLM --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LlmSample:
    id: str
    first_token_ms: float | None
    tokens: int
    tokens_per_s: float
    total_ms: float
    finish_reason: str | None
    reply: str
    error: str | None = None


async def bench_llm(
    engines: Engines, settings: Settings, questions: list[Question]
) -> list[LlmSample]:
    samples = []
    for question in questions:
        stats = StreamStats()
        parts: list[str] = []
        error = None
        try:
            async for delta in engines.llm.stream_chat(
                engines.responder.messages([], question.text),
                max_tokens=settings.llm.max_tokens,
                temperature=settings.llm.temperature,
                stats=stats,
            ):
                parts.append(delta)
        except ApplianceError as exc:
            error = f"{exc.code}: {exc.message}"
            progress(f"  LLM failed on {question.id}: {error}")
        first = stats.first_token_s
        samples.append(
            LlmSample(
                id=question.id,
                first_token_ms=None if first is None else first * 1000,
                tokens=stats.tokens,
                tokens_per_s=stats.tokens_per_s,
                total_ms=stats.total_s * 1000,
                finish_reason=stats.finish_reason,
                reply="".join(parts),
                error=error,
            )
        )
    return samples


def llm_figures(report: Report, key: str, label: str, samples: list[LlmSample]) -> None:
    ttft = present([s.first_token_ms for s in samples])
    rates = [s.tokens_per_s for s in samples if s.tokens > 1]
    n = len(ttft)
    report.add(
        f"{key}.first_token_p50", f"{label} first token p50", percentile(ttft, 50), "ms", n=n
    )
    report.add(
        f"{key}.first_token_p95", f"{label} first token p95", percentile(ttft, 95), "ms", n=n
    )
    report.add(
        f"{key}.tokens_per_s", f"{label} tokens/s (mean)", mean(rates), "tok/s", n=len(rates)
    )
    tokens = mean([s.tokens for s in samples])
    report.add(f"{key}.tokens", f"{label} reply tokens (mean)", tokens, "", n=len(samples))
    errors = sum(1 for s in samples if s.error)
    if errors:
        report.add(f"{key}.errors", f"{label} failed requests", float(errors), "", n=len(samples))


# -- TTS --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TtsSample:
    id: str
    chunks: int
    first_chunk: str
    first_audio_ms: float
    elapsed_s: float
    audio_s: float

    @property
    def rtf(self) -> float:
        return self.elapsed_s / self.audio_s if self.audio_s > 0 else 0.0


def chunks_of(text: str) -> list[str]:
    chunker = SentenceChunker()
    return [*chunker.feed(text), *chunker.flush()]


async def bench_tts(engines: Engines, replies: list[tuple[str, str]]) -> list[TtsSample]:
    samples = []
    for reply_id, text in replies:
        chunks = chunks_of(text)
        if not chunks:
            continue
        speeches = [await engines.tts.synthesize(chunk) for chunk in chunks]
        samples.append(
            TtsSample(
                id=reply_id,
                chunks=len(chunks),
                first_chunk=chunks[0],
                first_audio_ms=speeches[0].elapsed_s * 1000,
                elapsed_s=sum(s.elapsed_s for s in speeches),
                audio_s=sum(s.duration_s for s in speeches),
            )
        )
    return samples


def tts_figures(report: Report, samples: list[TtsSample]) -> None:
    first = [s.first_audio_ms for s in samples]
    audio = sum(s.audio_s for s in samples)
    rtf = sum(s.elapsed_s for s in samples) / audio if audio else None
    worst = max((s.rtf for s in samples), default=None)
    n = len(samples)
    report.add("tts.first_audio_p50", "TTS first audio p50", percentile(first, 50), "ms", n=n)
    report.add("tts.first_audio_p95", "TTS first audio p95", percentile(first, 95), "ms", n=n)
    report.add("tts.rtf", "TTS RTF (aggregate)", rtf, "x", TARGET_TTS_RTF, n=n)
    report.add("tts.rtf_max", "TTS RTF (worst reply)", worst, "x", n=n)


# -- realtime calls ---------------------------------------------------------------


@dataclass(slots=True)
class CallRun:
    label: str
    record: CallRecord
    recording: Recording
    turns: list[CallerTurn]
    turn_labels: list[str]
    references: list[str]
    wall_s: float


async def realtime_call(
    engines: Engines,
    label: str,
    turns: list[CallerTurn],
    labels: list[str],
    references: list[str],
) -> CallRun:
    audio_s = sum(len(t.audio) for t in turns) / RATE
    caller = SimulatedCaller(
        turns,
        sample_rate=RATE,
        realtime=True,
        tail_ms=TAIL_MS,
        max_duration_s=120.0 + audio_s + 60.0 * len(turns),
    )
    started = time.perf_counter()
    record = await run_call(engines, caller, engines.settings)
    wall = time.perf_counter() - started
    progress(f"  {label}: {len(turns)} turns, {wall:.1f} s, ended: {record.end_reason}")
    return CallRun(label, record, caller.recording, turns, labels, references, wall)


def question_turns(utterances: list[Utterance]) -> list[CallerTurn]:
    """One turn per question, each followed by silence.

    The simulated caller starts its idle timer when its own audio ends, and
    IDLE_BEFORE_TURN_MS (400) is shorter than the agent's end-of-turn silence
    (544 ms by default): without the pad the next turn, or the hang-up after
    the last one, could start before the agent has even committed the turn.
    """
    pad = silence(TURN_PAD_MS)
    return [
        CallerTurn(np.concatenate([u.audio, pad]), after_agent_idle_ms=IDLE_BEFORE_TURN_MS)
        for u in utterances
    ]


async def v2v_calls(
    engines: Engines, utterances: list[Utterance], per_call: int, label: str
) -> list[CallRun]:
    runs = []
    for start in range(0, len(utterances), per_call):
        batch = utterances[start : start + per_call]
        run = await realtime_call(
            engines,
            f"{label} call {start // per_call + 1}",
            question_turns(batch),
            [u.question.id for u in batch],
            [u.question.text for u in batch],
        )
        runs.append(run)
    return runs


@dataclass(slots=True)
class TurnSample:
    call: str
    question_id: str
    reference: str
    turn_index: int
    transcript: str | None = None
    transcripts: int = 0
    voice_to_voice_ms: float | None = None
    recording_v2v_ms: float | None = None
    end_of_speech_to_transcript_ms: float | None = None
    llm_first_token_ms: float | None = None
    tts_first_audio_ms: float | None = None
    speculative: bool | None = None
    first_source: str | None = None

    @property
    def remainder_ms(self) -> float | None:
        parts = (
            self.end_of_speech_to_transcript_ms,
            self.llm_first_token_ms,
            self.tts_first_audio_ms,
        )
        if self.voice_to_voice_ms is None or any(p is None for p in parts):
            return None
        return self.voice_to_voice_ms - sum(present(parts))


def turn_span_ms(run: CallRun, index: int) -> tuple[int, int] | None:
    """Media time of a caller turn's audio (start, end), from the recording."""
    starts = run.recording.turn_starts_ms
    if index >= len(starts):
        return None
    return starts[index], starts[index] + len(run.turns[index].audio) * 1000 // RATE


def voiced_blocks(loud: npt.NDArray[np.bool_], span: tuple[int, int]) -> tuple[int, int] | None:
    """First and last loud block (as ms) inside a span, by energy."""
    first, last = span[0] // BLOCK_MS, min(span[1] // BLOCK_MS, len(loud))
    voiced = np.flatnonzero(loud[first:last])
    if len(voiced) == 0:
        return None
    return (first + int(voiced[0])) * BLOCK_MS, (first + int(voiced[-1]) + 1) * BLOCK_MS


def first_audio_ms(audible: npt.NDArray[np.bool_], from_ms: int) -> int | None:
    start = from_ms // FRAME_MS
    hits = np.flatnonzero(audible[start:])
    return None if len(hits) == 0 else (start + int(hits[0])) * FRAME_MS


def turn_samples(run: CallRun) -> list[TurnSample]:
    loud = loud_blocks(run.recording.caller_audio())
    audible = audible_frames(run.recording.agent_audio())
    finals = run.record.of(TranscriptFinal)
    timings = {t.turn_id: t for t in run.record.of(TurnTimings)}
    texts = run.record.of(AgentText)
    samples = []
    for index, label in enumerate(run.turn_labels):
        sample = TurnSample(run.label, label, run.references[index], index)
        samples.append(sample)
        span = turn_span_ms(run, index)
        if span is None:
            continue
        voiced = voiced_blocks(loud, span)
        if voiced is not None:
            agent_start = first_audio_ms(audible, voiced[1])
            sample.recording_v2v_ms = None if agent_start is None else agent_start - voiced[1]
        mine = [f for f in finals if span[0] - 300 <= f.start_ms <= span[1]]
        sample.transcripts = len(mine)
        if len(mine) != 1:
            continue
        final = mine[0]
        sample.transcript = final.text
        timing = timings.get(final.turn_id)
        if timing is not None:
            sample.voice_to_voice_ms = timing.voice_to_voice_ms
            sample.end_of_speech_to_transcript_ms = timing.end_of_speech_to_transcript_ms
            sample.llm_first_token_ms = timing.llm_first_token_ms
            sample.tts_first_audio_ms = timing.tts_first_audio_ms
            sample.speculative = timing.speculative
        sources = [t.source for t in texts if t.turn_id == final.turn_id]
        sample.first_source = sources[0] if sources else None
    return samples


def v2v_figures(report: Report, key: str, label: str, samples: list[TurnSample]) -> None:
    v2v = present([s.voice_to_voice_ms for s in samples])
    rec = present([s.recording_v2v_ms for s in samples])
    n = len(v2v)
    report.add(f"{key}.p50", f"{label} p50", percentile(v2v, 50), "ms", TARGET_V2V_P50_MS, n=n)
    report.add(f"{key}.p95", f"{label} p95", percentile(v2v, 95), "ms", TARGET_V2V_P95_MS, n=n)
    report.add(f"{key}.max", f"{label} max", max(v2v, default=None), "ms", n=n)
    rec_p50 = percentile(rec, 50)
    report.add(f"{key}.recording_p50", f"{label} p50, from recording", rec_p50, "ms", n=len(rec))
    for attr, name in (
        ("end_of_speech_to_transcript_ms", "end of speech -> transcript"),
        ("llm_first_token_ms", "LLM first token"),
        ("tts_first_audio_ms", "TTS first audio"),
        ("remainder_ms", "remainder"),
    ):
        values = present([getattr(s, attr) for s in samples])
        report.add(f"{key}.{attr}", f"  mean {name}", mean(values), "ms", n=len(values))
    spec = [s.speculative for s in samples if s.speculative is not None]
    fraction = sum(spec) / len(spec) if spec else None
    report.add(f"{key}.speculative", "  speculative turns", fraction, "%", n=len(spec))
    heard = [(s.reference, s.transcript) for s in samples if s.transcript is not None]
    report.add(f"{key}.in_call_wer", "  in-call WER", corpus_wer(heard), "%", n=len(heard))
    prompt_first = sum(1 for s in samples if s.first_source not in (None, "llm"))
    report.add(
        f"{key}.prompt_first", "  prompt-first turns", float(prompt_first), "", n=len(samples)
    )
    missing = sum(1 for s in samples if s.voice_to_voice_ms is None)
    report.add(f"{key}.missing", "  questions without timings", float(missing), "", n=len(samples))


# -- barge-in ---------------------------------------------------------------------


@dataclass(slots=True)
class BargeSample:
    repetition: int
    voice: str
    onset_ms: int | None = None
    agent_playing_at_onset: bool = False
    stop_latency_ms: float | None = None
    self_reported_ms: float | None = None
    backchannel_ignored: bool = False


async def barge_call(engines: Engines, question: Utterance, reps: int) -> tuple[CallRun, list[str]]:
    stop_piper = await piper_audio(engines, STOP_PHRASE)
    stop_espeak = await espeak_audio(STOP_PHRASE, "en-us")
    turns = question_turns([question])
    voices = []
    for rep in range(reps):
        voice, audio = ("piper", stop_piper) if rep % 2 == 0 else ("espeak", stop_espeak)
        if rep == reps - 1:  # let the last answer start before the caller hangs up
            audio = np.concatenate([audio, silence(TURN_PAD_MS)])
        turns.append(CallerTurn(audio, after_agent_audio_ms=BARGE_AFTER_AGENT_MS))
        voices.append(voice)
    labels = [question.question.id, *(f"stop-{i + 1}" for i in range(reps))]
    references = [question.question.text, *([STOP_PHRASE] * reps)]
    run = await realtime_call(engines, "barge-in call", turns, labels, references)
    return run, voices


def barge_samples(run: CallRun, voices: list[str]) -> list[BargeSample]:
    loud = loud_blocks(run.recording.caller_audio())
    audible = audible_frames(run.recording.agent_audio())
    barges = run.record.of(BargeIn)
    ignored = run.record.of(BackchannelIgnored)
    samples = []
    for rep, voice in enumerate(voices):
        sample = BargeSample(rep + 1, voice)
        samples.append(sample)
        span = turn_span_ms(run, rep + 1)
        voiced = None if span is None else voiced_blocks(loud, span)
        if span is None or voiced is None:
            continue
        onset = voiced[0]
        sample.onset_ms = onset
        frame = onset // FRAME_MS
        sample.agent_playing_at_onset = bool(audible[max(frame - 1, 0) : frame + 1].any())
        played = np.flatnonzero(audible[frame : voiced[1] // FRAME_MS])
        last_end = (frame + int(played[-1]) + 1) * FRAME_MS if len(played) else onset
        sample.stop_latency_ms = float(max(0, last_end - onset))
        mine = [b for b in barges if span[0] - 200 <= b.onset_ms <= span[1]]
        if mine:
            sample.self_reported_ms = float(mine[0].playback_stopped_ms - mine[0].onset_ms)
        sample.backchannel_ignored = any(span[0] - 200 <= b.onset_ms <= span[1] for b in ignored)
    return samples


def barge_figures(report: Report, samples: list[BargeSample]) -> None:
    valid = [s for s in samples if s.agent_playing_at_onset]
    latency = present([s.stop_latency_ms for s in valid])
    own = present([s.self_reported_ms for s in valid])
    n = len(latency)
    p50, worst = percentile(latency, 50), max(latency, default=None)
    report.add("barge.stop_p50", "barge-in stop latency p50", p50, "ms", TARGET_BARGE_MS, n=n)
    report.add("barge.stop_max", "barge-in stop latency max", worst, "ms", TARGET_BARGE_MS, n=n)
    own_p50 = percentile(own, 50)
    report.add("barge.self_p50", "barge-in stop, self-reported p50", own_p50, "ms", n=len(own))
    detected = sum(1 for s in samples if s.self_reported_ms is not None)
    report.add("barge.detected", "barge-ins detected", float(detected), "", n=len(samples))
    not_playing = float(len(samples) - len(valid))
    report.add("barge.not_playing", "repetitions with the agent silent at onset", not_playing, "")


# -- jitter -----------------------------------------------------------------------


def busy_ticks(run: CallRun) -> set[int]:
    """Tick indices between the end of a caller turn and the agent's next audio."""
    audible = audible_frames(run.recording.agent_audio())
    ticks: set[int] = set()
    for final in run.record.of(TranscriptFinal):
        first = first_audio_ms(audible, final.end_ms)
        end = len(audible) if first is None else first // FRAME_MS
        ticks.update(range(final.end_ms // FRAME_MS, end))
    return ticks


def jitter_figures(report: Report, runs: list[CallRun]) -> dict[str, Any]:
    overall: list[float] = []
    busy: list[float] = []
    worst: list[tuple[float, str, int, bool]] = []
    for run in runs:
        ticks = busy_ticks(run)
        for index, interval in enumerate(run.recording.tick_intervals_ms()):
            deviation = abs(interval - FRAME_MS)
            overall.append(deviation)
            if index in ticks:
                busy.append(deviation)
            worst.append((deviation, run.label, index, index in ticks))
    for name, values in (("all", overall), ("busy", busy)):
        for stat, value in (
            ("p50", percentile(values, 50)),
            ("p99", percentile(values, 99)),
            ("max", max(values, default=None)),
        ):
            label = f"pacing jitter {stat}, {name} ticks"
            report.add(f"jitter.{name}.{stat}", label, value, "ms", n=len(values))
    worst.sort(reverse=True)
    return {
        "intervals": len(overall),
        "busy_intervals": len(busy),
        "over_one_frame": sum(1 for v in overall if v > FRAME_MS),
        "worst": [
            {"deviation_ms": round(d, 2), "call": c, "tick": t, "media_ms": t * FRAME_MS, "busy": b}
            for d, c, t, b in worst[:10]
        ],
    }


# -- memory -----------------------------------------------------------------------


class MemorySampler:
    """Samples this process's and the LLM server's RSS while engines run."""

    def __init__(self) -> None:
        self.engines: Engines | None = None
        self.process_peak = 0
        self.server_peak = 0

    def sample(self) -> None:
        self.process_peak = max(self.process_peak, vm_rss_bytes() or 0)
        if self.engines is not None and self.engines.server is not None:
            self.server_peak = max(self.server_peak, self.engines.server.rss_bytes() or 0)

    async def run(self, interval_s: float = 0.5) -> None:
        while True:
            self.sample()
            await asyncio.sleep(interval_s)


def idle_memory(engines: Engines) -> dict[str, int | None]:
    process = vm_rss_bytes()
    server = engines.server.rss_bytes() if engines.server is not None else None
    total = None if process is None else process + (server or 0)
    return {"process": process, "llm_server": server, "total": total}


# -- logging ----------------------------------------------------------------------


class WarningCounter(logging.Handler):
    """Counts the appliance's warnings and errors, for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname.lower()} {record.name}: {record.getMessage()}"] += 1


# -- the run ----------------------------------------------------------------------


def build_settings(data_dir: Path, language: str) -> Settings:
    environ = {k: v for k, v in os.environ.items() if k.startswith("APPLIANCE_")}
    environ.update(
        {
            "HOME": str(data_dir),
            "APPLIANCE_DATA_DIR": str(data_dir),
            "APPLIANCE_LOG__FORMAT": "text",
            "APPLIANCE_AGENT__LANGUAGE": language,
        }
    )
    return load_settings(environ=environ)


async def start_engines(settings: Settings, memory: MemorySampler) -> Engines:
    language = settings.agent.language
    progress(f"starting the {language} appliance engines (STT {settings.stt_model_id()})")
    started = time.perf_counter()
    engines = await Engines.start(settings, progress=lambda m: progress(f"  {m}"))
    progress(f"  engines ready in {time.perf_counter() - started:.1f} s")
    memory.engines = engines
    return engines


def save_audio(directory: Path | None, runs: list[CallRun]) -> None:
    if directory is None:
        return
    for run in runs:
        stem = run.label.replace(" ", "-")
        write_wav(directory / f"{stem}-caller.wav", run.recording.caller_audio(), RATE)
        write_wav(directory / f"{stem}-agent.wav", run.recording.agent_audio(), RATE)


async def run_english(
    args: argparse.Namespace,
    settings: Settings,
    questions: list[Question],
    report: Report,
    memory: MemorySampler,
) -> list[CallRun]:
    engines = await start_engines(settings, memory)
    try:
        idle = idle_memory(engines)
        memory.sample()
        report.details["memory_idle_en"] = idle
        report.add("memory.idle_process", "idle RSS, appliance process", idle["process"], "MiB")
        report.add("memory.idle_server", "idle RSS, LLM server", idle["llm_server"], "MiB")
        report.add(
            "memory.idle_total", "idle RSS, total (en)", idle["total"], "MiB", TARGET_IDLE_BYTES
        )

        progress(f"synthesising {len(questions)} English questions (Piper, espeak-ng)")
        speech = await synthesise(engines, questions, ("piper", "espeak"))

        progress("STT (en, tiny.en)")
        stt_piper = await bench_stt(engines.stt, speech["piper"], "en")
        stt_espeak = await bench_stt(engines.stt, speech["espeak"], "en")
        stt_figures(report, "stt.en.piper", "STT en, Piper voice,", stt_piper, gated=True)
        stt_figures(report, "stt.en.espeak", "STT en, espeak voice,", stt_espeak, gated=False)
        report.details["stt_en"] = [asdict(s) for s in (*stt_piper, *stt_espeak)]

        progress("LLM (en)")
        llm = await bench_llm(engines, settings, questions)
        llm_figures(report, "llm.en", "LLM en", llm)
        report.details["llm_en"] = [asdict(s) for s in llm]

        progress("TTS over the English replies")
        tts = await bench_tts(engines, [(s.id, s.reply) for s in llm if s.reply.strip()])
        tts_figures(report, tts)
        report.details["tts"] = [{**asdict(s), "rtf": s.rtf} for s in tts]

        progress(f"voice-to-voice (en): realtime calls, up to {args.turns_per_call} questions each")
        runs = await v2v_calls(engines, speech["piper"], args.turns_per_call, "en")
        turns = [t for run in runs for t in turn_samples(run)]
        v2v_figures(report, "v2v.en", "voice-to-voice en", turns)
        report.details["v2v_en"] = [{**asdict(t), "remainder_ms": t.remainder_ms} for t in turns]

        if args.barge_reps > 0:
            progress(f"barge-in: {args.barge_reps} repetitions in one realtime call")
            barge_run, voices = await barge_call(engines, speech["piper"][0], args.barge_reps)
            barges = barge_samples(barge_run, voices)
            barge_figures(report, barges)
            report.details["barge_in"] = [asdict(b) for b in barges]
            runs.append(barge_run)
        memory.sample()
        return runs
    finally:
        await engines.close()


async def run_german(
    args: argparse.Namespace,
    settings: Settings,
    questions: list[Question],
    report: Report,
    memory: MemorySampler,
) -> list[CallRun]:
    engines = await start_engines(settings, memory)
    try:
        idle = idle_memory(engines)
        report.details["memory_idle_de_upper_bound"] = idle
        label = "idle RSS, total (de, upper bound)"
        report.add(
            "memory.idle_total_de", label, idle["total"], "MiB", TARGET_IDLE_BYTES, gated=False
        )

        progress(f"synthesising {len(questions)} German questions (espeak-ng)")
        speech = await synthesise(engines, questions, ("espeak",))

        progress("STT (de, whisper base)")
        stt = await bench_stt(engines.stt, speech["espeak"], "de")
        stt_figures(report, "stt.de.espeak", "STT de, espeak voice,", stt, gated=False)
        report.details["stt_de"] = [asdict(s) for s in stt]

        progress("LLM (de)")
        llm = await bench_llm(engines, settings, questions)
        llm_figures(report, "llm.de", "LLM de", llm)
        report.details["llm_de"] = [asdict(s) for s in llm]

        utterances = speech["espeak"]
        if args.german_calls is not None:
            utterances = utterances[: args.german_calls]
        runs: list[CallRun] = []
        if utterances:
            progress(f"voice-to-voice (de): {len(utterances)} questions in realtime calls")
            runs = await v2v_calls(engines, utterances, args.turns_per_call, "de")
            turns = [t for run in runs for t in turn_samples(run)]
            v2v_figures(report, "v2v.de", "voice-to-voice de", turns)
            report.details["v2v_de"] = [
                {**asdict(t), "remainder_ms": t.remainder_ms} for t in turns
            ]
        memory.sample()
        return runs
    finally:
        await engines.close()


def memory_figures(report: Report, memory: MemorySampler) -> None:
    memory.sample()
    report.add("memory.peak_process", "peak RSS, appliance process", max_rss_bytes(), "MiB")
    server = memory.server_peak or None
    report.add("memory.peak_server", "peak RSS, LLM server (sampled)", server, "MiB")


def call_summaries(runs: list[CallRun]) -> list[dict[str, Any]]:
    return [
        {
            "label": run.label,
            "turns": run.turn_labels,
            "turn_starts_ms": run.recording.turn_starts_ms,
            "end_reason": run.record.end_reason,
            "wall_s": round(run.wall_s, 2),
            "events": [e.to_dict() for e in run.record.events if e.kind != "state_changed"],
        }
        for run in runs
    ]


def write_json(path: Path, report: Report, args: argparse.Namespace, started: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "voice_loop",
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.perf_counter() - started, 1),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "figures": [{**asdict(f), "verdict": f.verdict} for f in report.figures],
        **report.details,
    }
    text = json.dumps(data, indent=1, ensure_ascii=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the appliance's voice loop (STT, LLM, TTS, voice-to-voice, "
        "frame pacing, memory, barge-in) on the real engines and models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--questions", type=Path, default=DEFAULT_QUESTIONS, help="questions JSONL (%(default)s)")
    add("--limit", type=int, metavar="N", help="only the first N questions of each language")
    add("--json", type=Path, default=DEFAULT_JSON, help="results file (%(default)s)")
    add("--data-dir", type=Path, help="appliance data dir (default: a fresh temporary one)")
    add("--turns-per-call", type=int, default=4, metavar="N", help="questions a call (%(default)s)")
    add("--barge-reps", type=int, default=6, metavar="N", help="barge-ins, 0 skips (%(default)s)")
    add(
        "--german",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also benchmark a German-configured appliance (default: yes)",
    )
    add(
        "--german-calls",
        type=int,
        default=8,
        metavar="N",
        help="German questions asked in realtime calls; -1: all (%(default)s)",
    )
    add("--save-audio", type=Path, metavar="DIR", help="write each call's tracks as WAV files")
    add("--verbose", action="store_true", help="show the appliance's INFO logs")
    args = parser.parse_args(argv)
    if args.german_calls is not None and args.german_calls < 0:
        args.german_calls = None
    if args.turns_per_call < 1:
        parser.error("--turns-per-call must be at least 1")
    return args


def sort_figures(report: Report) -> None:
    """Group the table by topic, keeping the order within a topic."""
    order = ["stt.", "llm.", "tts.", "v2v.en", "v2v.de", "jitter.", "memory.", "barge."]

    def rank(figure: Figure) -> int:
        return next((i for i, p in enumerate(order) if figure.key.startswith(p)), len(order))

    report.figures.sort(key=rank)


def print_results(report: Report, warnings: WarningCounter) -> None:
    sort_figures(report)
    load = report.details["load_average_start"]
    header = f"\nvoice loop benchmark ({os.cpu_count()} CPUs, load average at start {load[0]:.2f})"
    print_table(report, header)
    if warnings.counts:
        total = sum(warnings.counts.values())
        print(f"\nappliance warnings/errors during the run ({total}):")
        for message, count in warnings.counts.most_common(10):
            print(f"  {count:4d} x {message}")


async def run(args: argparse.Namespace, data_dir: Path) -> int:
    started = time.perf_counter()
    setup_logging(LogSettings(level="INFO" if args.verbose else "WARNING", format="text"))
    warnings = WarningCounter()
    logging.getLogger().addHandler(warnings)
    questions = load_questions(args.questions, args.limit)
    report = Report()
    report.details["load_average_start"] = os.getloadavg()
    memory = MemorySampler()
    sampler = asyncio.create_task(memory.run())
    runs: list[CallRun] = []
    try:
        english = questions.get("en", [])
        if english:
            settings = build_settings(data_dir, "en")
            runs += await run_english(args, settings, english, report, memory)
        german = questions.get("de", [])
        if args.german and german:
            settings = build_settings(data_dir, "de")
            runs += await run_german(args, settings, german, report, memory)
    finally:
        sampler.cancel()
    report.details["jitter"] = jitter_figures(report, runs)
    memory_figures(report, memory)
    report.details["load_average_end"] = os.getloadavg()
    report.details["appliance_warnings"] = dict(warnings.counts)
    report.details["calls"] = call_summaries(runs)
    save_audio(args.save_audio, runs)
    print_results(report, warnings)
    write_json(args.json, report, args, started)
    progress(f"results written to {args.json}")
    return 0


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.data_dir is not None:
        return await run(args, args.data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-voice-loop-") as tmp:
        return await run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
