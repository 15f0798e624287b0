"""When a person must take over, decided after each agent turn.

Two sources: the responder's escalation verdict on what the caller said
(emergency, a request for a person, a complex topic, strong emotion), and the
repeated-failure tracker (two failed attempts on the same concern: nothing
found, not understood, every tool call refused or failed; see
``calls/concerns.py`` for what "the same concern" is). Each yields the reason
and what fired it, for the ``HandoffRequested`` event.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.calls.concerns import Concerns
from appliance.calls.reply import Reply
from appliance.escalation.settings import EscalationSettings
from appliance.escalation.tracker import FailureTracker, TurnOutcome
from appliance.handoff.availability import human_available
from appliance.handoff.settings import HandoffSettings


@dataclass(frozen=True)
class Handoff:
    reason: str
    detail: str
    human_available: bool = True


def turn_failed(reply: Reply) -> bool:
    notes = reply.notes
    if not any(char.isalnum() for char in reply.user_text):
        return True  # nothing understood
    if notes.mode == "not_found":
        return True
    return bool(notes.tool_calls) and all(call.outcome != "ok" for call in notes.tool_calls)


class HandoffPolicy:
    def __init__(
        self,
        settings: EscalationSettings,
        handoff: HandoffSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.tracker = FailureTracker.from_settings(settings, clock)
        self.concerns = Concerns()
        self.handoff = handoff
        self.now = now

    def after_turn(self, reply: Reply) -> Handoff | None:
        verdict = reply.notes.escalation
        if verdict is not None:
            return Handoff(verdict.label, verdict.reason, reply.notes.human_available)
        if reply.user_audio is None:
            return None  # the agent's own prompts are no caller turn
        outcome = TurnOutcome.FAILED if turn_failed(reply) else TurnOutcome.RESOLVED
        concern = self.concerns.of(reply.user_text, reply.notes.tool_calls)
        trigger = self.tracker.record(concern, outcome)
        if trigger is None:
            return None
        return Handoff(trigger.trigger, trigger.reason, self.human_available())

    def human_available(self) -> bool:
        return human_available(self.handoff, self.now())
