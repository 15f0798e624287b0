"""The closed set of events a call produces.

Every event is immutable and carries the call id, a per-call sequence number
and a wall-clock timestamp. Control events (hang-up, barge-in, DTMF) outrank
media and text: subscribers that fall behind see them first. ``CallEnded`` is
the exception that closes the stream: it comes after everything else of its call. The store, the
audit log, the live dashboard and the CLI are all subscribers; the voice loop
never calls them directly.

Events may carry what the caller said (transcripts, agent text). They belong
in the store under access control and never in the operational log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ClassVar


class Priority(IntEnum):
    CONTROL = 0
    STATE = 1
    MEDIA = 2
    FINAL = 3
    """The call's last event (``CallEnded``): it never overtakes the events the
    call emitted before it, so a subscriber that reads it has the call's whole
    stream (its last transcript included) and may close its record of the call."""


class AgentState(StrEnum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ENDED = "ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    """Base of every call event; never emitted itself."""

    kind: ClassVar[str] = "event"
    priority: ClassVar[Priority] = Priority.MEDIA
    carries_content: ClassVar[bool] = False

    call_id: str
    seq: int
    at: float = field(metadata={"doc": "wall clock, seconds since the epoch"})
    media_ms: int = field(metadata={"doc": "position on the call's inbound media clock"})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(CallEvent):
    kind: ClassVar[str] = "call_started"
    priority: ClassVar[Priority] = Priority.STATE
    transport: str
    language: str
    remote: str = ""
    dialled: str = ""
    """The number the caller dialled (SIP request URI), when known."""
    collection: str = ""
    """The knowledge base that answers this call ("" without one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(CallEvent):
    kind: ClassVar[str] = "call_ended"
    priority: ClassVar[Priority] = Priority.FINAL
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(CallEvent):
    kind: ClassVar[str] = "hangup"
    priority: ClassVar[Priority] = Priority.CONTROL
    by: str  # "caller" | "agent" | "system"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dtmf(CallEvent):
    kind: ClassVar[str] = "dtmf"
    priority: ClassVar[Priority] = Priority.CONTROL
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BargeIn(CallEvent):
    """The caller spoke over the agent and it was a real turn: the answer was cut."""

    kind: ClassVar[str] = "barge_in"
    priority: ClassVar[Priority] = Priority.CONTROL
    carries_content: ClassVar[bool] = True
    turn_id: int
    onset_ms: int
    playback_stopped_ms: int
    heard_text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BackchannelIgnored(CallEvent):
    """A short burst over the agent ("mhm", a cough): playback paused, then resumed."""

    kind: ClassVar[str] = "backchannel_ignored"
    priority: ClassVar[Priority] = Priority.CONTROL
    carries_content: ClassVar[bool] = True
    onset_ms: int
    duration_ms: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(CallEvent):
    kind: ClassVar[str] = "state_changed"
    priority: ClassVar[Priority] = Priority.STATE
    state: AgentState
    previous: AgentState


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(CallEvent):
    kind: ClassVar[str] = "speech_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStopped(CallEvent):
    kind: ClassVar[str] = "speech_stopped"
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptPartial(CallEvent):
    kind: ClassVar[str] = "transcript_partial"
    carries_content: ClassVar[bool] = True
    turn_id: int
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptFinal(CallEvent):
    kind: ClassVar[str] = "transcript_final"
    carries_content: ClassVar[bool] = True
    turn_id: int
    text: str
    start_ms: int
    end_ms: int
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentText(CallEvent):
    """One chunk of what the agent says, as it is handed to the voice."""

    kind: ClassVar[str] = "agent_text"
    carries_content: ClassVar[bool] = True
    turn_id: int
    text: str
    source: str  # "llm" | "extractive" | "knowledge" | "prompt" | "fallback"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One knowledge-base chunk an answer drew on (ids only; the text stays in the base)."""

    point_id: str
    doc_id: str
    title: str
    version: str
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerSources(CallEvent):
    """Which knowledge a turn's answer used and how it was checked.

    ``mode``: ``generative`` (LLM answer from the passages, grounding check
    passed), ``extractive`` (the passages' own sentences), ``not_found`` (nothing
    relevant: the agent said so and offered a person), ``small_talk`` (no
    knowledge needed). ``unsupported`` lists the facts of a rejected LLM answer
    that no passage contains; ``withheld`` the chunks kept out of the prompt
    because they read as instructions to the assistant; ``llm_error`` the code
    of an LLM failure that the extractive answer covered for.
    """

    kind: ClassVar[str] = "answer_sources"
    carries_content: ClassVar[bool] = True
    turn_id: int
    mode: str
    relevant: bool
    top_score: float
    passages: tuple[SourceRef, ...]
    grounding: str  # "passed" | "failed" | "declined" (by the LLM) | "not_checked"
    unsupported: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    llm_error: str = ""  # the LLM's error code when the passages answered in its place
    collection: str = ""  # the knowledge base the passages came from


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCalled(CallEvent):
    """A tool call of the agent: what was asked, how it ended, how long it took.

    ``arguments`` may hold personal data (a customer number), so the event
    carries content; ``summary`` (outcome, HTTP status, duration) does not.
    """

    kind: ClassVar[str] = "tool_called"
    priority: ClassVar[Priority] = Priority.STATE
    carries_content: ClassVar[bool] = True
    turn_id: int
    name: str
    arguments: str
    outcome: str  # "ok" or an error code (TOOL_*, IDENTITY_*)
    summary: str
    duration_ms: float
    source: str  # "llm" | "router"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTurnCompleted(CallEvent):
    kind: ClassVar[str] = "agent_turn_completed"
    carries_content: ClassVar[bool] = True
    turn_id: int
    text: str
    interrupted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnTimings(CallEvent):
    """Latency of one turn, in milliseconds; None where a stage did not run."""

    kind: ClassVar[str] = "turn_timings"
    turn_id: int
    speech_ms: int
    end_of_speech_to_transcript_ms: float | None
    llm_first_token_ms: float | None
    llm_tokens: int
    llm_tokens_per_s: float | None
    tts_first_audio_ms: float | None
    voice_to_voice_ms: float | None
    speculative: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequested(CallEvent):
    """A person must take over; ``reason`` is the trigger, ``detail`` what fired it."""

    kind: ClassVar[str] = "handoff_requested"
    priority: ClassVar[Priority] = Priority.CONTROL
    # emergency | human_request | complex | emotional | repeated_failure | technical_problem
    reason: str
    detail: str = ""
    human_available: bool = True  # False: the agent offered a callback instead


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextPackageReady(CallEvent):
    """What the person taking over needs (see appliance.handoff.context), as plain data."""

    kind: ClassVar[str] = "context_package_ready"
    priority: ClassVar[Priority] = Priority.STATE
    carries_content: ClassVar[bool] = True
    reason: str
    package: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStored(CallEvent):
    """Both directions of the call were recorded (recording.enabled)."""

    kind: ClassVar[str] = "recording_stored"
    priority: ClassVar[Priority] = Priority.STATE
    caller_path: str
    agent_path: str
    seconds: float
    sample_rate: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRaised(CallEvent):
    kind: ClassVar[str] = "error"
    priority: ClassVar[Priority] = Priority.STATE
    code: str
    stage: str
    message: str


EVENT_TYPES: tuple[type[CallEvent], ...] = (
    CallStarted,
    CallEnded,
    Hangup,
    Dtmf,
    BargeIn,
    BackchannelIgnored,
    StateChanged,
    SpeechStarted,
    SpeechStopped,
    TranscriptPartial,
    TranscriptFinal,
    AgentText,
    AnswerSources,
    ToolCalled,
    AgentTurnCompleted,
    TurnTimings,
    HandoffRequested,
    ContextPackageReady,
    RecordingStored,
    ErrorRaised,
)
