"""Which of the caller's concerns a turn worked on, for "two failed attempts on the same concern".

A concern is what the caller is trying to get done. A tool turn's concern is
its tool ("case_status", "book_appointment"); a question's concern is the
topic its content words name, so a rephrased question ("Where can I park?",
"Is there a car park?") is the same concern when the two share a word stem,
and a question on another topic is a new one. A turn with no content words
(nothing understood, "what?") stays with the most recent concern. The keys are
neutral ("tool:case_status", "question:2"): what the caller said stays in the
transcript, not in the trigger's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.agent.knowledge_tool import NAME as SEARCH_KNOWLEDGE
from appliance.agent.tool_round import ToolCallRecord
from appliance.knowledge.keyword import tokens

_MIN_STEM = 4
_KEEP = 8  # concerns remembered per call


@dataclass
class _Concern:
    key: str
    stems: set[str] = field(default_factory=set)


def _related(a: str, b: str) -> bool:
    short, long_ = sorted((a, b), key=len)
    return len(short) >= _MIN_STEM and long_.startswith(short)


class Concerns:
    def __init__(self) -> None:
        self._recent: list[_Concern] = []
        self._questions = 0

    def of(self, user_text: str, tool_calls: list[ToolCallRecord]) -> str:
        """The concern of one caller turn; remembered for the turns after it."""
        named = [call.name for call in tool_calls if call.name != SEARCH_KNOWLEDGE]
        if named:
            return self._remember(_Concern(f"tool:{named[0]}")).key
        stems = set(tokens(user_text))
        if not stems:
            return self._recent[-1].key if self._recent else self._remember(_Concern("unclear")).key
        for concern in reversed(self._recent):
            if concern.key.startswith("question:") and any(
                _related(a, b) for a in stems for b in concern.stems
            ):
                concern.stems |= stems
                return self._remember(concern).key
        self._questions += 1
        return self._remember(_Concern(f"question:{self._questions}", stems)).key

    def _remember(self, concern: _Concern) -> _Concern:
        self._recent = [c for c in self._recent if c.key != concern.key][-(_KEEP - 1) :]
        self._recent.append(concern)
        return concern
