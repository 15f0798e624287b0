"""The typed results of escalation detection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Label = Literal["emergency", "human_request", "complex", "emotional", "none"]
Trigger = Literal["emergency", "human_request", "complex", "emotional", "repeated_failure"]

# Order of precedence when several labels fire: an emergency outranks all, an
# explicit request for a person comes next; complex and emotional compete on score.
LABELS: tuple[Label, ...] = ("emergency", "human_request", "complex", "emotional", "none")


@dataclass(frozen=True)
class CueHit:
    """One lexicon cue found in the folded utterance."""

    label: Label
    cue: str  # the cue's name, e.g. "chest_pain"
    matched: str  # the folded text it matched
    start: int  # offsets into the folded text
    end: int
    weight: float  # after context (damping); 0 when negated or blocked
    topic: str | None = None  # for complex cues: complaint, cancellation, ...
    negated: bool = False
    damped_by: str | None = None


@dataclass(frozen=True)
class EscalationResult:
    label: Label
    score: float  # 0..1, the combined strength of the winning label's cues
    reason: str  # human-readable: which cue fired, or why nothing did
    hits: tuple[CueHit, ...] = ()
    scores: Mapping[Label, float] = field(default_factory=dict)

    @property
    def escalate(self) -> bool:
        return self.label != "none"

    def trigger_event(self) -> TriggerEvent | None:
        """The event to record and act on, or None for ``none``."""
        if self.label == "none":
            return None
        return TriggerEvent(self.label, self.reason, self.score)

    @property
    def topic(self) -> str | None:
        """The complex topic behind a ``complex`` label."""
        if self.label != "complex":
            return None
        best = max(
            (h for h in self.hits if h.label == "complex" and h.weight > 0),
            key=lambda h: h.weight,
            default=None,
        )
        return best.topic if best else None


@dataclass(frozen=True)
class TriggerEvent:
    """A trigger that fired for a call, with the reason to record."""

    trigger: Trigger
    reason: str
    score: float = 1.0
