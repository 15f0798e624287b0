"""Repeated failures count per concern: a rephrased question is the same concern,
another topic or another tool is not (HandoffPolicy with synthetic turns, no engines)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from appliance.agent.responder import AnswerNotes
from appliance.agent.tool_round import ToolCallRecord
from appliance.calls.concerns import Concerns
from appliance.calls.handoff import Handoff, HandoffPolicy
from appliance.calls.reply import Reply
from appliance.escalation.settings import EscalationSettings
from appliance.handoff.settings import HandoffSettings


def call(name: str, outcome: str = "ok") -> ToolCallRecord:
    return ToolCallRecord(name, "{}", outcome, f"{name}: {outcome}", 1.0, "router")


def turn(text: str, *, mode: str = "extractive", tools: tuple[ToolCallRecord, ...] = ()) -> Reply:
    notes = AnswerNotes(mode=mode, tool_calls=list(tools))
    audio = np.zeros(320, dtype=np.int16)
    return Reply(turn_id=1, user_audio=audio, user_text=text, notes=notes)


def policy() -> HandoffPolicy:
    monday_noon = dt.datetime(2026, 11, 23, 12, 0)
    return HandoffPolicy(
        EscalationSettings(), HandoffSettings(), clock=lambda: 0.0, now=lambda: monday_noon
    )


def test_a_rephrased_question_is_the_same_concern() -> None:
    concerns = Concerns()
    first = concerns.of("Where can I park my car?", [])
    assert concerns.of("Is there parking near the entrance?", []) == first
    assert concerns.of("Wie teuer ist das Mittagessen?", []) != first


def test_tools_are_concerns_of_their_own_and_a_knowledge_search_is_not_one() -> None:
    concerns = Concerns()
    status = concerns.of("How is my claim doing?", [call("case_status")])
    assert concerns.of("And the claim?", [call("case_status", "TOOL_TIMEOUT")]) == status
    searched = concerns.of("Parking fees?", [call("search_knowledge")])
    assert searched.startswith("question:")
    assert concerns.of("book me in", [call("book_appointment")]) not in {status, searched}


def test_a_turn_without_words_stays_with_the_last_concern() -> None:
    concerns = Concerns()
    parking = concerns.of("Where can I park?", [])
    assert concerns.of("", []) == parking
    assert concerns.of("what?", []) == parking
    assert Concerns().of("", []) == "unclear"


def test_two_failures_on_one_concern_hand_over_even_with_a_success_between() -> None:
    handoffs = policy()
    failed = (call("case_status", "TOOL_UNAVAILABLE"),)
    assert handoffs.after_turn(turn("Status of case 778812?", mode="tools", tools=failed)) is None
    assert handoffs.after_turn(turn("When can I visit my mother?")) is None
    handoff = handoffs.after_turn(turn("Case 778812 please", mode="tools", tools=failed))
    assert isinstance(handoff, Handoff)
    assert handoff.reason == "repeated_failure"
    assert "case_status" in handoff.detail


def test_two_failures_on_different_topics_do_not_hand_over() -> None:
    handoffs = policy()
    assert handoffs.after_turn(turn("What is the wifi password?", mode="not_found")) is None
    assert handoffs.after_turn(turn("Do you sell flowers?", mode="not_found")) is None
    handoff = handoffs.after_turn(turn("The wifi, what is its password?", mode="not_found"))
    assert handoff is not None
    assert handoff.reason == "repeated_failure"


def test_a_success_on_the_concern_clears_it() -> None:
    handoffs = policy()
    assert handoffs.after_turn(turn("Where can I park?", mode="not_found")) is None
    assert handoffs.after_turn(turn("Parking at the main entrance?")) is None
    assert handoffs.after_turn(turn("Is parking free at night?", mode="not_found")) is None
