"""One agent turn in flight: from the caller's audio to the agent's last frame."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from appliance.agent.responder import AnswerNotes
from appliance.speech.stt import Int16Audio, Transcript


@dataclass(slots=True)
class Reply:
    turn_id: int
    speech_ms: int = 0
    start_ms: int = 0
    end_ms: int = 0
    user_audio: Int16Audio | None = None
    eos_perf: float | None = None  # when the caller's last voiced frame arrived
    speculative: bool = False
    committed: bool = False
    task: asyncio.Task[None] | None = None
    transcript: Transcript | None = None
    user_text: str = ""
    transcript_emitted: bool = False
    segments: list[asyncio.Task[Transcript]] = field(default_factory=list)
    """STT of the monologue pieces cut off before ``user_audio`` (see max_segment_s)."""
    pending: list[tuple[str, str, Int16Audio]] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    produced_any: bool = False
    finished: bool = False
    closed: bool = False
    ends_call: bool = False
    notes: AnswerNotes = field(default_factory=AnswerNotes)
    # timings (perf_counter seconds)
    stt_done_perf: float | None = None
    llm_first_token_s: float | None = None
    llm_tokens: int = 0
    llm_tokens_per_s: float | None = None
    tts_first_audio_s: float | None = None
    first_audio_perf: float | None = None

    @property
    def audible(self) -> bool:
        return self.first_audio_perf is not None

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
