"""The context package a person gets when they take over a call.

Built from the call's own events (the same ones the store and the audit log
see): the transcript with timestamps, the caller's concern, a short summary,
what the agent already tried (tool calls, knowledge answers), a sentiment
score per caller turn and over the call, and the verified customer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.agent.small_talk import is_small_talk
from appliance.calls.events import (
    AgentTurnCompleted,
    AnswerSources,
    CallEvent,
    CallStarted,
    HandoffRequested,
    ToolCalled,
    TranscriptFinal,
)

# Sentiment per caller turn in [-1, 0]: minus the strength of the negative
# emotion the escalation detector finds (0 = calm). Positive sentiment is not
# measured; the person taking over needs to know about distress, not delight.
Sentiment = Callable[[str], float]


@dataclass(frozen=True)
class Line:
    at_ms: int
    speaker: str  # "caller" | "agent"
    text: str
    interrupted: bool = False


@dataclass(frozen=True)
class ContextPackage:
    call_id: str
    reason: str
    detail: str
    created_at: str
    language: str
    remote: str
    concern: str
    summary: str
    transcript: tuple[Line, ...]
    tried: tuple[dict[str, Any], ...]
    sentiment_turns: tuple[float, ...]
    sentiment_overall: float
    verified_customer: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _tried(events: Sequence[CallEvent]) -> tuple[dict[str, Any], ...]:
    tried: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, ToolCalled):
            tried.append(
                {
                    "kind": "tool",
                    "name": event.name,
                    "outcome": event.outcome,
                    "at_ms": event.media_ms,
                }
            )
        elif isinstance(event, AnswerSources) and event.mode != "small_talk":
            tried.append(
                {
                    "kind": "knowledge",
                    "mode": event.mode,
                    "documents": sorted({p.doc_id for p in event.passages}),
                    "at_ms": event.media_ms,
                }
            )
    return tuple(tried)


def _verified(events: Sequence[CallEvent]) -> str | None:
    customer = None
    for event in events:
        if (
            isinstance(event, ToolCalled)
            and event.name == "verify_caller"
            and event.outcome == "ok"
        ):
            try:
                customer = str(json.loads(event.arguments).get("customer_number") or "") or None
            except ValueError:
                continue
    return customer


def _summary(concern: str, tried: Sequence[dict[str, Any]], reason: str) -> str:
    parts = [f"Caller's concern: {concern or 'not stated'}."]
    tools = [f"{t['name']} ({t['outcome']})" for t in tried if t["kind"] == "tool"]
    if tools:
        parts.append(f"Tools used: {', '.join(tools)}.")
    answers = [t for t in tried if t["kind"] == "knowledge"]
    if answers:
        found = sum(t["mode"] != "not_found" for t in answers)
        parts.append(f"Knowledge base: {found} of {len(answers)} questions answered.")
    parts.append(f"Handed over because: {reason.replace('_', ' ')}.")
    return " ".join(parts)


def build_package(
    events: Sequence[CallEvent],
    handoff: HandoffRequested,
    sentiment: Sentiment,
    *,
    now: Callable[[], dt.datetime],
) -> ContextPackage:
    started = next((e for e in events if isinstance(e, CallStarted)), None)
    lines: list[Line] = []
    for event in events:
        if isinstance(event, TranscriptFinal):
            lines.append(Line(event.start_ms, "caller", event.text))
        elif isinstance(event, AgentTurnCompleted) and event.text:
            lines.append(Line(event.media_ms, "agent", event.text, event.interrupted))
    caller_texts = [line.text for line in lines if line.speaker == "caller"]
    concern = next((t for t in caller_texts if not is_small_talk(t)), "")
    scores = tuple(round(sentiment(text), 3) for text in caller_texts)
    tried = _tried(events)
    return ContextPackage(
        call_id=handoff.call_id,
        reason=handoff.reason,
        detail=handoff.detail,
        created_at=now().isoformat(timespec="seconds"),
        language=started.language if started else "",
        remote=started.remote if started else "",
        concern=concern,
        summary=_summary(concern, tried, handoff.reason),
        transcript=tuple(lines),
        tried=tried,
        sentiment_turns=scores,
        sentiment_overall=round(min(scores), 3) if scores else 0.0,
        verified_customer=_verified(events),
    )
