"""The voice loop: one per call, transport-independent, asyncio.

Inbound 20 ms frames are resampled to 16 kHz, cut into 32 ms VAD chunks and
fed to the turn detector. On a short pause the loop already transcribes and
asks the LLM (speculation); if the caller goes on, that work is discarded; at
the end of the turn it is committed and its audio starts at once. While the
agent speaks, one voiced chunk pauses playback (barge-in); a short burst that
turns out to be "mhm" or a cough resumes it, a real turn cancels generation.

The loop never waits on a subscriber: everything it does is an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from appliance.agent.backchannel import is_backchannel
from appliance.audio.frames import ms_of
from appliance.audio.loudness import LoudnessGate
from appliance.audio.playout import Heard, PlayoutBuffer, PlayoutNotice
from appliance.audio.resample import StreamResampler, resample
from appliance.calls.bus import CallEmitter, EventBus
from appliance.calls.events import (
    AgentState,
    AgentText,
    AgentTurnCompleted,
    AnswerSources,
    BackchannelIgnored,
    BargeIn,
    CallEnded,
    CallStarted,
    Dtmf,
    ErrorRaised,
    HandoffRequested,
    Hangup,
    RecordingStored,
    SourceRef,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    ToolCalled,
    TranscriptFinal,
    TranscriptPartial,
    TurnTimings,
)
from appliance.calls.handoff import HandoffPolicy
from appliance.calls.recording import CallRecorder
from appliance.calls.reply import Reply
from appliance.calls.turn_detector import CHUNK_MS, TurnDetector, TurnSignal
from appliance.config import Settings
from appliance.engines import Engines
from appliance.errors import ApplianceError, EngineError, ErrorCode
from appliance.llm.client import ChatMessage, StreamStats
from appliance.speech.stt import Int16Audio, Transcript
from appliance.telephony.transport import InboundAudio, InboundControl, MediaPorts, Transport
from appliance.tools.identity import CallerIdentity

log = logging.getLogger(__name__)

VAD_RATE = 16_000
VAD_CHUNK = VAD_RATE * CHUNK_MS // 1000
TRANSPORT_STOP_S = 5.0
# After a hang-up, how long the caller's last words may still take to transcribe
# (a long monologue can leave several 20 s segments queued for the STT worker).
KEEP_WORDS_S = 60.0
GATE_CONFIRM_MS = 160  # the VAD must hear speech this soon after the loudness gate did
PREROLL_CHUNKS = 15  # 480 ms before the onset go to STT too: Silero can lag a first word
VAD_RESET_CHUNKS = 63  # ~2 s of quiet between turns: start the VAD afresh
TAIL_CHUNKS = 4  # and 128 ms after the last voiced chunk


@dataclass(slots=True)
class _BargeCandidate:
    onset_ms: int
    paused_ms: int
    check: asyncio.Task[None] | None = None
    confirm_by_ms: int | None = None  # set while only the loudness gate has heard it
    turn_ended: bool = False  # the burst ended before its transcript was in


class VoiceLoop:
    def __init__(
        self,
        *,
        call_id: str,
        transport: Transport,
        engines: Engines,
        settings: Settings,
        bus: EventBus,
    ) -> None:
        self.call_id = call_id
        self.transport = transport
        self.engines = engines
        self.settings = settings
        # The knowledge base this call is answered from follows the number dialled.
        self.responder = engines.responder_for(transport.dialled)
        lookup = self.responder.knowledge
        self.collection = lookup.collection if lookup is not None else ""
        self.language = settings.agent.language
        self.emitter = CallEmitter(call_id, bus)
        self.detector = TurnDetector(settings.turn, settings.vad)
        self.vad = engines.vad.stream()
        self.history: list[ChatMessage] = []
        self.identity = CallerIdentity()  # what this call has proven about the caller
        self.handoff = HandoffPolicy(settings.escalation, settings.handoff)
        self.state = AgentState.LISTENING
        self._loop = asyncio.get_running_loop()
        self.playout = PlayoutBuffer(transport.sample_rate, notify=self._notify_threadsafe)
        self.ports = MediaPorts(self._loop, self.playout)
        self.recorder: CallRecorder | None = None
        if settings.recording.enabled:
            folder = (settings.recording.dir or settings.data_dir / "recordings") / call_id
            self.recorder = CallRecorder(folder, transport.sample_rate)
            self.playout.tap, self.ports.inbound_tap = self.recorder.agent, self.recorder.caller
        self._inbound = StreamResampler(transport.sample_rate, VAD_RATE)
        self._gate = LoudnessGate()
        self._quiet_chunks = 0
        self._pending16 = np.zeros(0, dtype=np.int16)
        self._preroll: deque[Int16Audio] = deque(maxlen=PREROLL_CHUNKS)
        self._utterance: list[Int16Audio] = []
        self._segments: list[asyncio.Task[Transcript]] = []
        self._carry: list[Int16Audio] = []
        self._turn_ids = 0
        self._active: Reply | None = None  # the committed reply (thinking or speaking)
        self._speculation: Reply | None = None
        self._barge: _BargeCandidate | None = None
        self._ignore_utterance = False
        self._last_voiced_perf = 0.0
        self._last_activity_ms = 0
        self._reprompts = 0
        self._ended = False
        self.end_reason = ""

    # -- lifecycle -------------------------------------------------------

    @property
    def media_ms(self) -> int:
        return self.detector.now_ms

    async def run(self) -> str:
        self.emitter.emit(
            CallStarted,
            transport=self.transport.name,
            language=self.language,
            remote=self.transport.remote,
            dialled=self.transport.dialled,
            collection=self.collection,
        )
        log.info(
            "call started",
            extra={
                "call_id": self.call_id,
                "transport": self.transport.name,
                "dialled": self.transport.dialled,
                "collection": self.collection,
            },
        )
        transport_task = asyncio.create_task(self.transport.run(self.ports))
        self._speak_prompt("greeting")
        hangup_by = "caller"
        try:
            while not self._ended:
                item = await self.ports.get()
                try:
                    if isinstance(item, InboundControl):
                        if item.kind == "hangup":
                            hangup_by = item.value or "caller"
                            break
                        if item.kind == "dtmf":
                            self.emitter.emit(Dtmf, media_ms=self.media_ms, digit=item.value)
                            self._on_dtmf(item.value)
                        if item.kind == "transfer_failed":
                            self._on_transfer_failed(item.value)
                    else:
                        self._on_audio(item)
                finally:
                    self.ports.task_done()
            else:
                hangup_by = "agent"
        finally:
            await self._finish(hangup_by, transport_task)
        return self.end_reason

    async def _finish(self, hangup_by: str, transport_task: asyncio.Task[str]) -> None:
        started = time.perf_counter()
        self.emitter.emit(Hangup, media_ms=self.media_ms, by=hangup_by)
        if self._speculation is not None:
            self._speculation.cancel()
        active = self._active
        if active is not None and not active.closed:
            heard = self._heard_text(self.playout.flush(), active.turn_id)
            active.cancel()
            await self._keep_unheard_words(active)
            self._complete(active, heard, interrupted=True)
        await self._keep_partial_transcript()
        if self._barge is not None and self._barge.check is not None:
            self._barge.check.cancel()
        for task in self._segments:
            task.cancel()
        await self.transport.hangup()
        try:
            self.end_reason = await asyncio.wait_for(transport_task, TRANSPORT_STOP_S)
        except TimeoutError:
            self.end_reason = "transport_stuck"
            log.error("transport did not stop", extra={"call_id": self.call_id})
        if hangup_by == "agent":
            self.end_reason = "agent_hangup"
        if self.recorder is not None:
            self.playout.tap = self.ports.inbound_tap = None
            stored = await asyncio.to_thread(self.recorder.close)
            self.emitter.emit(
                RecordingStored,
                caller_path=str(stored.caller),
                agent_path=str(stored.agent),
                seconds=round(stored.seconds, 2),
                sample_rate=self.transport.sample_rate,
            )
        self._set_state(AgentState.ENDED)
        self.emitter.emit(CallEnded, media_ms=self.media_ms, reason=self.end_reason)
        log.info(
            "call ended",
            extra={
                "call_id": self.call_id,
                "reason": self.end_reason,
                # hang-up to CallEnded: the caller's last words, transport, recording
                "finish_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    async def _keep_unheard_words(self, reply: Reply) -> None:
        """The caller hung up before their committed turn was transcribed: finish that."""
        if reply.transcript_emitted or not reply.committed:
            return
        if reply.user_audio is None and not reply.segments:
            return  # one of the agent's own prompts
        if await self._transcribed_after_hangup(reply):
            self._emit_transcript(reply)

    async def _transcribed_after_hangup(self, reply: Reply) -> bool:
        try:
            await asyncio.wait_for(self._transcribe(reply), timeout=KEEP_WORDS_S)
        except (EngineError, TimeoutError):
            log.warning(
                "the caller's last words could not be transcribed after the hang-up",
                extra={"call_id": self.call_id, "code": ErrorCode.STT_FAILED.value},
            )
            return False
        return True

    async def _keep_partial_transcript(self) -> None:
        """A caller who hangs up mid-sentence still gets what they said recorded,
        the pieces of a long monologue already sent to the STT included."""
        if not self.detector.confirmed or not (self._utterance or self._segments):
            return
        audio = np.concatenate(self._utterance) if self._utterance else None
        reply = Reply(turn_id=self._turn_ids + 1, user_audio=audio, segments=self._segments)
        self._segments = []
        if await self._transcribed_after_hangup(reply) and reply.user_text:
            self._turn_ids += 1
            language = reply.transcript.language if reply.transcript else self.language
            self.emitter.emit(
                TranscriptFinal,
                media_ms=self.media_ms,
                turn_id=self._turn_ids,
                text=reply.user_text,
                start_ms=self.detector.onset_ms,
                end_ms=self.media_ms,
                language=language,
            )

    # -- inbound audio ---------------------------------------------------

    def _on_audio(self, item: InboundAudio) -> None:
        if self._gate.loud(item.pcm) and self._barge is None and self.playout.audible():
            self.playout.pause()
            self._barge = _BargeCandidate(
                self.media_ms, self.media_ms, confirm_by_ms=self.media_ms + GATE_CONFIRM_MS
            )
        audio16 = self._inbound.process(item.pcm)
        self._pending16 = np.concatenate([self._pending16, audio16])
        while len(self._pending16) >= VAD_CHUNK:
            chunk, self._pending16 = self._pending16[:VAD_CHUNK], self._pending16[VAD_CHUNK:]
            probability = self.vad.process(chunk.astype(np.float32) / 32768.0)
            self._quiet_chunks = (
                0 if self.detector.in_utterance or probability > 0.1 else self._quiet_chunks + 1
            )
            if self._quiet_chunks >= VAD_RESET_CHUNKS:
                # Silero's state drifts over long silence and then reacts late to speech.
                self.vad.reset()
                self._quiet_chunks = 0
            signals = self.detector.update(probability)
            self.emitter.media_ms = self.detector.now_ms
            self._collect(chunk, probability, signals, item.arrived)
            for signal in signals:
                self._on_signal(signal)
            self._check_barge_duration()
        self._check_no_input()

    def _collect(
        self, chunk: Int16Audio, probability: float, signals: list[TurnSignal], arrived: float
    ) -> None:
        if TurnSignal.TENTATIVE_ONSET in signals:
            self._utterance = [*self._preroll]
        if self.detector.in_utterance or TurnSignal.END_OF_TURN in signals:
            self._utterance.append(chunk)
        else:
            self._preroll.append(chunk)
        if self.detector.speaking and probability >= self.settings.vad.release_threshold:
            self._last_voiced_perf = arrived
        limit = int(self.settings.turn.max_segment_s * 1000 / CHUNK_MS)
        if self.detector.speaking and len(self._utterance) >= limit:
            self._cut_segment()

    def _cut_segment(self) -> None:
        """Bound memory in a long monologue: transcribe what we have, keep the text."""
        audio = np.concatenate(self._utterance)
        self._utterance = []
        start = self.media_ms - ms_of(len(audio), VAD_RATE)
        task = asyncio.create_task(self.engines.stt.transcribe(audio, language=self.language))
        self._segments.append(task)
        end, turn_id = self.media_ms, self._turn_ids + 1  # the turn it belongs to, now
        task.add_done_callback(lambda t: self._emit_partial(t, turn_id, start, end))

    def _emit_partial(
        self, task: asyncio.Task[Transcript], turn_id: int, start_ms: int, end_ms: int
    ) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        self.emitter.emit(
            TranscriptPartial,
            turn_id=turn_id,
            text=task.result().text,
            start_ms=start_ms,
            end_ms=end_ms,
        )

    def _on_signal(self, signal: TurnSignal) -> None:
        if signal is TurnSignal.TENTATIVE_ONSET:
            self._ignore_utterance = False
            if self._barge is not None:
                self._barge.confirm_by_ms = None  # the VAD heard it too
            elif self.playout.audible():
                self.playout.pause()
                self._barge = _BargeCandidate(self.detector.onset_ms, self.media_ms)
        elif signal is TurnSignal.ONSET_REJECTED:
            self._utterance = []
            if self._barge is not None:
                self._barge = None
                self.playout.resume()
        elif signal is TurnSignal.SPEECH_START:
            self.emitter.emit(SpeechStarted, media_ms=self.detector.onset_ms)
            self._last_activity_ms = self.media_ms
            self._on_caller_continues()
        elif signal is TurnSignal.PAUSE:
            self._on_pause()
        elif signal is TurnSignal.RESUME:
            self._on_resume()
        elif signal is TurnSignal.END_OF_TURN:
            self._on_end_of_turn()

    def _on_caller_continues(self) -> None:
        """Speech while the agent is still thinking: the caller had not finished."""
        active = self._active
        if (
            self._barge is None
            and active is not None
            and not active.audible
            and active.user_audio is not None
        ):
            active.cancel()
            self.playout.flush()
            self._carry = [active.user_audio]
            self._complete(active, "", interrupted=True)

    def _on_pause(self) -> None:
        self.emitter.emit(SpeechStopped, duration_ms=self.detector.speech_ms)
        self._last_activity_ms = self.media_ms
        barge = self._barge
        if barge is not None:
            if self.detector.speech_ms > self.settings.turn.backchannel_max_ms:
                self._barge_in()
            elif barge.check is None:
                audio = np.concatenate(self._utterance)
                barge.check = asyncio.create_task(self._classify_burst(barge, audio))
            return
        if not self._ignore_utterance:
            self._speculate()

    def _on_resume(self) -> None:
        if self._speculation is not None:
            self._speculation.cancel()
            self._speculation = None
        if self._barge is not None and self._barge.check is not None:
            self._barge.check.cancel()
            self._barge.check = None
        if self.playout.audible():
            self.playout.pause()
            onset = self._barge.onset_ms if self._barge else self.detector.onset_ms
            self._barge = _BargeCandidate(onset, self.media_ms)
        self._ignore_utterance = False

    def _on_end_of_turn(self) -> None:
        barge = self._barge
        if barge is not None:
            if barge.check is not None and not barge.check.done():
                barge.turn_ended = True  # _classify_burst decides when the transcript is in
                return
            self._barge_in()
        if self._ignore_utterance:
            self._ignore_utterance = False
            self._utterance = []
            return
        reply = self._speculation or self._new_reply(speculative=False)
        self._speculation = None
        if reply.task is None:
            self._start(reply)
        self._commit(reply)

    def _check_barge_duration(self) -> None:
        barge = self._barge
        if barge is not None and barge.confirm_by_ms is not None:
            if not self.detector.in_utterance and self.media_ms > barge.confirm_by_ms:
                self._barge = None  # loud but not speech (a knock, a click): carry on
                self.playout.resume()
            return
        if (
            barge is not None
            and self.detector.confirmed
            and (self.detector.speech_ms > self.settings.turn.backchannel_max_ms)
        ):
            if barge.check is not None:
                barge.check.cancel()
            self._barge_in()

    def _check_no_input(self) -> None:
        idle = (
            self.state is AgentState.LISTENING
            and not self.detector.in_utterance
            and self._active is None
            and not self.playout.has_audio()
        )
        if not idle:
            return
        if self.media_ms - self._last_activity_ms < self.settings.turn.no_input_timeout_s * 1000:
            return
        self._last_activity_ms = self.media_ms
        if self._reprompts >= self.settings.turn.max_reprompts:
            self._speak_prompt("goodbye", ends_call=True)
        else:
            self._reprompts += 1
            self._speak_prompt("still_there")

    # -- barge-in --------------------------------------------------------

    async def _classify_burst(self, barge: _BargeCandidate, audio: Int16Audio) -> None:
        try:
            transcript = await self.engines.stt.transcribe(audio, language=self.language)
        except EngineError:
            text = ""
        else:
            text = transcript.text
        if self._barge is not barge:
            return
        if is_backchannel(text, self.language):
            self._barge = None
            if barge.turn_ended:
                self._utterance = []
            else:
                self._ignore_utterance = True
            if self._speculation is not None:
                self._speculation.cancel()
                self._speculation = None
            self.playout.resume()
            self.emitter.emit(
                BackchannelIgnored,
                onset_ms=barge.onset_ms,
                duration_ms=self.detector.speech_ms,
                text=text,
            )
        else:
            self._barge_in()
            if barge.turn_ended:
                reply = self._new_reply(speculative=False)
                self._start(reply)
                self._commit(reply)
            elif self.detector.in_utterance and not self.detector.speaking:
                self._speculate()

    def _barge_in(self) -> None:
        barge, self._barge = self._barge, None
        if barge is None:
            return
        if barge.check is not None and barge.check is not asyncio.current_task():
            barge.check.cancel()
        heard = self.playout.flush()
        active = self._active
        turn_id = active.turn_id if active else 0
        heard_text = self._heard_text(heard, turn_id)
        self.emitter.emit(
            BargeIn,
            turn_id=turn_id,
            onset_ms=barge.onset_ms,
            playback_stopped_ms=barge.paused_ms,
            heard_text=heard_text,
        )
        log.info("barge-in", extra={"call_id": self.call_id, "turn_id": turn_id})
        if active is not None:
            active.cancel()
            self._complete(active, heard_text, interrupted=True)

    @staticmethod
    def _heard_text(heard: list[Heard], turn_id: int) -> str:
        words: list[str] = []
        for part in heard:
            if part.turn_id != turn_id:
                continue
            chunk = part.text.split()
            words.extend(chunk[: round(len(chunk) * part.fraction)])
        return " ".join(words)

    # -- replies ---------------------------------------------------------

    def _new_reply(self, *, speculative: bool) -> Reply:
        audio = np.concatenate([*self._carry, *self._utterance]) if self._utterance else None
        reply = Reply(
            turn_id=0,  # numbered when committed: discarded speculation leaves no gaps
            speech_ms=self.detector.utterance_ms,
            start_ms=self.detector.onset_ms,
            end_ms=self.detector.last_speech_end_ms,
            user_audio=audio,
            eos_perf=self._last_voiced_perf,
            speculative=speculative,
        )
        reply.notes.committed.clear()  # tools with side effects wait for the commit
        return reply

    def _speculate(self) -> None:
        if self._speculation is not None:
            self._speculation.cancel()
        reply = self._new_reply(speculative=True)
        self._speculation = reply
        self._start(reply)

    def _start(self, reply: Reply) -> None:
        reply.segments = list(self._segments)
        reply.task = asyncio.create_task(self._produce(reply))

    def _commit(self, reply: Reply) -> None:
        self._utterance = []
        self._carry = []
        self._segments = []
        self._turn_ids += 1
        reply.turn_id = self._turn_ids
        reply.committed = True
        reply.notes.committed.set()
        self._active = reply
        self._reprompts = 0
        self.ports.agent_idle.clear()
        self._set_state(AgentState.THINKING)
        if reply.transcript is not None:
            self._emit_transcript(reply)
        for text, source, audio in reply.pending:
            self._push(reply, text, source, audio)
        reply.pending.clear()
        if reply.finished:
            self._close(reply)
        self._loop.call_later(
            self.settings.turn.thinking_filler_after_ms / 1000, self._filler, reply
        )

    def _filler(self, reply: Reply) -> None:
        """Never dead air: a slow answer gets a short "one moment" first."""
        if self._active is reply and not reply.produced_any and not reply.finished:
            self._deliver(reply, *self._prompt_audio("one_moment"), source="prompt")

    async def _transcribe(self, reply: Reply) -> None:
        """The turn's text: its monologue segments (already under way) and its last piece."""
        # shielded: a discarded speculation must not cancel the shared segment work
        done = await asyncio.gather(*(asyncio.shield(segment) for segment in reply.segments))
        texts = [segment.text for segment in done]
        if reply.user_audio is not None:
            transcript = await self.engines.stt.transcribe(reply.user_audio, language=self.language)
            reply.transcript = transcript
            texts.append(transcript.text)
        reply.stt_done_perf = time.perf_counter()
        reply.user_text = " ".join(t for t in texts if t).strip()

    async def _produce(self, reply: Reply) -> None:
        stage = "stt"
        try:
            await self._transcribe(reply)
            if reply.committed:
                self._emit_transcript(reply)
            if not any(char.isalnum() for char in reply.user_text):
                self._deliver(reply, *self._prompt_audio("not_understood"), source="prompt")
                return
            stage = "llm"
            stats = StreamStats()
            history = list(self.history)
            answer = self.responder.reply(
                history, reply.user_text, stats, reply.notes, self.identity
            )
            # aclosing: a cancelled turn closes the LLM stream before the loop moves on
            async with contextlib.aclosing(answer):
                async for chunk in answer:
                    if reply.llm_first_token_s is None:
                        reply.llm_first_token_s = stats.first_token_s
                    stage = "tts"
                    speech = await self.engines.tts.synthesize(chunk.text)
                    if reply.tts_first_audio_s is None:
                        reply.tts_first_audio_s = speech.elapsed_s
                    audio = resample(speech.audio, speech.sample_rate, self.transport.sample_rate)
                    self._deliver(reply, chunk.text, audio, source=chunk.source)
                    stage = "llm"
            reply.ends_call = reply.notes.end_call
            reply.llm_tokens = stats.tokens
            reply.llm_tokens_per_s = stats.tokens_per_s
        except asyncio.CancelledError:
            raise
        except ApplianceError as exc:
            self._fail(reply, exc, stage)
        except Exception as exc:
            self._fail(
                reply,
                EngineError(f"unexpected {type(exc).__name__}", code=ErrorCode.CALL_FAILED),
                stage,
            )
            log.exception("reply failed", extra={"call_id": self.call_id, "stage": stage})
        finally:
            reply.finished = True
            if reply.committed:
                self._close(reply)

    def _fail(self, reply: Reply, exc: ApplianceError, stage: str) -> None:
        log.warning(
            "turn failed, speaking fallback",
            extra={"call_id": self.call_id, "code": str(exc.code), "stage": stage},
        )
        self.emitter.emit(ErrorRaised, code=str(exc.code), stage=stage, message=exc.message)
        self.emitter.emit(HandoffRequested, reason="technical_problem")
        self._deliver(reply, *self._prompt_audio("technical_problem"), source="fallback")

    def _deliver(self, reply: Reply, text: str, audio: Int16Audio, *, source: str) -> None:
        reply.produced_any = True
        if reply.committed:
            self._push(reply, text, source, audio)
        else:
            reply.pending.append((text, source, audio))

    def _push(self, reply: Reply, text: str, source: str, audio: Int16Audio) -> None:
        if reply.closed:
            return
        reply.delivered.append(text)
        self.emitter.emit(AgentText, turn_id=reply.turn_id, text=text, source=source)
        self.playout.push(reply.turn_id, text, audio)

    def _emit_transcript(self, reply: Reply) -> None:
        if reply.transcript_emitted or not reply.user_text:
            return
        reply.transcript_emitted = True
        language = reply.transcript.language if reply.transcript else self.language
        self.emitter.emit(
            TranscriptFinal,
            turn_id=reply.turn_id,
            text=reply.user_text,
            start_ms=reply.start_ms,
            end_ms=reply.end_ms,
            language=language,
        )

    def _close(self, reply: Reply) -> None:
        if not reply.closed:
            self.playout.close_turn(reply.turn_id)

    def _speak_prompt(self, name: str, *, ends_call: bool = False) -> None:
        self._turn_ids += 1
        reply = Reply(turn_id=self._turn_ids, committed=True, finished=True, ends_call=ends_call)
        self._active = reply
        self.ports.agent_idle.clear()
        self._set_state(AgentState.THINKING)
        text, audio = self._prompt_audio(name)
        self._push(reply, text, "prompt", audio)
        self._close(reply)

    def _prompt_audio(self, name: str) -> tuple[str, Int16Audio]:
        text, audio, rate = self.engines.prompt(name)
        return text, resample(audio, rate, self.transport.sample_rate)

    # -- playout notices (hop from the transport thread) -----------------

    def _notify_threadsafe(self, notice: PlayoutNotice) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            self._loop.call_soon_threadsafe(self._on_playout, notice)

    def _on_playout(self, notice: PlayoutNotice) -> None:
        reply = self._active
        if reply is None or reply.turn_id != notice.turn_id:
            return
        if notice.kind == "first_audio":
            reply.first_audio_perf = notice.perf_time
            self._set_state(AgentState.SPEAKING)
        elif notice.kind == "drained":
            self._complete(reply, " ".join(reply.delivered), interrupted=False)
            if reply.ends_call:
                self._ended = True
                self.ports.push_control("wake")

    def _complete(self, reply: Reply, heard_text: str, *, interrupted: bool) -> None:
        if reply.closed:
            return
        reply.closed = True
        if reply.notes.used_knowledge:
            self._emit_sources(reply)
        for call in reply.notes.tool_calls:
            self.emitter.emit(
                ToolCalled,
                turn_id=reply.turn_id,
                name=call.name,
                arguments=call.arguments,
                outcome=call.outcome,
                summary=call.summary,
                duration_ms=call.duration_ms,
                source=call.source,
            )
        self.emitter.emit(
            AgentTurnCompleted, turn_id=reply.turn_id, text=heard_text, interrupted=interrupted
        )
        if reply.user_text:
            self.history.append(ChatMessage(role="user", content=reply.user_text))
            if heard_text:
                self.history.append(ChatMessage(role="assistant", content=heard_text))
        if reply.user_audio is not None:
            self._emit_timings(reply)
        if self._active is reply:
            self._active = None
            self._last_activity_ms = self.media_ms
            self._set_state(AgentState.LISTENING)
            self.ports.agent_idle.set()
        handoff = self.handoff.after_turn(reply)
        if handoff is not None:
            self.emitter.emit(
                HandoffRequested,
                reason=handoff.reason,
                detail=handoff.detail,
                human_available=handoff.human_available,
            )
            if handoff.reason == "repeated_failure" and self._active is None:
                if handoff.human_available:
                    self._speak_prompt("handoff")
                else:
                    self.identity.pending, self.identity.partial = "schedule_callback", {}
                    self._speak_prompt("no_human_callback")

    def _on_dtmf(self, digit: str) -> None:
        """The operator's key for "a person, please" hands over like the spoken request."""
        if digit != self.settings.handoff.dtmf_person:
            return
        active = self._active
        if active is not None:  # the key cuts the agent off, like a barge-in
            heard = self.playout.flush()
            active.cancel()
            self._complete(active, self._heard_text(heard, active.turn_id), interrupted=True)
        available = self.handoff.human_available()
        self.emitter.emit(
            HandoffRequested,
            reason="human_request",
            detail=f"human_request: key {digit}",
            human_available=available,
        )
        if not available:
            self.identity.pending, self.identity.partial = "schedule_callback", {}
        self._speak_prompt("handoff" if available else "no_human_callback")

    def _on_transfer_failed(self, why: str) -> None:
        """The transport could not hand the caller to a person (busy, no answer): the
        caller stays and is offered a callback, as when nobody is there."""
        active = self._active
        if active is not None:
            heard = self.playout.flush()
            active.cancel()
            self._complete(active, self._heard_text(heard, active.turn_id), interrupted=True)
        self.emitter.emit(
            ErrorRaised,
            code=ErrorCode.SIP_TRANSFER_FAILED.value,
            stage="transfer",
            message=why or "the transfer to a person failed",
        )
        self.identity.pending, self.identity.partial = "schedule_callback", {}
        self._speak_prompt("no_human_callback")

    def _emit_sources(self, reply: Reply) -> None:
        notes = reply.notes
        retrieval = notes.retrieval
        self.emitter.emit(
            AnswerSources,
            turn_id=reply.turn_id,
            mode=notes.mode,
            relevant=bool(retrieval and retrieval.relevant),
            top_score=round(retrieval.top_score, 4) if retrieval else 0.0,
            passages=tuple(
                SourceRef(p.point_id, p.doc_id, p.title, p.version, round(p.score, 4))
                for p in notes.used
            ),
            grounding=notes.grounding,
            unsupported=notes.unsupported,
            withheld=notes.withheld,
            llm_error=notes.llm_error,
            collection=self.collection,
        )

    def _emit_timings(self, reply: Reply) -> None:
        def since_eos(perf: float | None) -> float | None:
            if perf is None or not reply.eos_perf:
                return None
            return round((perf - reply.eos_perf) * 1000, 1)

        self.emitter.emit(
            TurnTimings,
            turn_id=reply.turn_id,
            speech_ms=reply.speech_ms,
            end_of_speech_to_transcript_ms=since_eos(reply.stt_done_perf),
            llm_first_token_ms=_ms(reply.llm_first_token_s),
            llm_tokens=reply.llm_tokens,
            llm_tokens_per_s=reply.llm_tokens_per_s,
            tts_first_audio_ms=_ms(reply.tts_first_audio_s),
            voice_to_voice_ms=since_eos(reply.first_audio_perf),
            speculative=reply.speculative,
        )

    def _set_state(self, state: AgentState) -> None:
        if state is not self.state:
            previous, self.state = self.state, state
            self.emitter.emit(StateChanged, state=state, previous=previous)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
