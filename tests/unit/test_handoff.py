"""Availability and the context package, from synthetic events (no engines)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.calls.bus import CallEmitter, EventBus
from appliance.calls.events import (
    AgentTurnCompleted,
    AnswerSources,
    CallStarted,
    HandoffRequested,
    SourceRef,
    ToolCalled,
    TranscriptFinal,
)
from appliance.handoff.availability import human_available
from appliance.handoff.context import build_package
from appliance.handoff.settings import HandoffSettings

MONDAY_NOON = dt.datetime(2026, 11, 23, 12, 0)


@pytest.mark.parametrize(
    ("settings", "now", "available"),
    [
        (HandoffSettings(), MONDAY_NOON, True),
        (HandoffSettings(), MONDAY_NOON.replace(hour=19), False),
        (HandoffSettings(), MONDAY_NOON + dt.timedelta(days=5), False),  # Saturday
        (HandoffSettings(presence="always"), MONDAY_NOON.replace(hour=3), True),
        (HandoffSettings(presence="never"), MONDAY_NOON, False),
        (HandoffSettings(opening_hours={"sat": ("09:00-12:30",)}), MONDAY_NOON, False),
        (
            HandoffSettings(opening_hours={"sat": ("09:00-12:30",)}),
            MONDAY_NOON + dt.timedelta(days=5),
            True,
        ),
    ],
)
def test_opening_hours(settings: HandoffSettings, now: dt.datetime, available: bool) -> None:
    assert human_available(settings, now) is available


def test_opening_hours_are_validated() -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        HandoffSettings(opening_hours={"mon": ("8-18",)})
    with pytest.raises(ValueError, match="unknown weekday"):
        HandoffSettings(opening_hours={"monday": ("08:00-18:00",)})


def test_the_package_has_what_the_person_taking_over_needs() -> None:
    emitter = CallEmitter("c1", EventBus(), wall_clock=lambda: 1.0)
    events = [
        emitter.emit(CallStarted, transport="sip", language="en", remote="sip:+494181@pbx"),
        emitter.emit(
            TranscriptFinal, turn_id=1, text="Hello", start_ms=900, end_ms=1300, language="en"
        ),
        emitter.emit(AgentTurnCompleted, turn_id=1, text="Hi, how can I help?", interrupted=False),
        emitter.emit(
            TranscriptFinal,
            turn_id=2,
            text="My customer number is 100234, born 23 March 1980.",
            start_ms=4000,
            end_ms=7000,
            language="en",
        ),
        emitter.emit(
            ToolCalled,
            turn_id=2,
            name="verify_caller",
            arguments='{"customer_number": "100234", "date_of_birth": "1980-03-23"}',
            outcome="ok",
            summary="verify_caller: ok http 200 in 12 ms",
            duration_ms=12.0,
            source="router",
        ),
        emitter.emit(
            AnswerSources,
            turn_id=3,
            mode="not_found",
            relevant=False,
            top_score=0.05,
            passages=(),
            grounding="not_checked",
        ),
        emitter.emit(
            AnswerSources,
            turn_id=4,
            mode="extractive",
            relevant=True,
            top_score=0.6,
            passages=(SourceRef("p1", "billing", "Billing", "v1", 0.6),),
            grounding="not_checked",
        ),
        emitter.emit(
            TranscriptFinal,
            turn_id=5,
            text="This is ridiculous, I am so angry about this invoice!",
            start_ms=20000,
            end_ms=23000,
            language="en",
        ),
    ]
    handoff = emitter.emit(HandoffRequested, reason="emotional", detail="emotional: anger")
    package = build_package(
        [*events, handoff],
        handoff,
        lambda text: -0.8 if "angry" in text else 0.0,
        now=lambda: dt.datetime(2026, 11, 23, 12, 0, 5),
    )
    assert package.reason == "emotional"
    assert package.remote == "sip:+494181@pbx"
    assert package.concern.startswith("My customer number is")
    assert [(line.speaker, line.at_ms) for line in package.transcript] == [
        ("caller", 900),
        ("agent", 0),
        ("caller", 4000),
        ("caller", 20000),
    ]
    assert package.verified_customer == "100234"
    assert [t["kind"] for t in package.tried] == ["tool", "knowledge", "knowledge"]
    assert package.tried[2]["documents"] == ["billing"]
    assert package.sentiment_turns == (0.0, 0.0, -0.8)
    assert package.sentiment_overall == -0.8
    assert "verify_caller (ok)" in package.summary
    assert "1 of 2 questions answered" in package.summary
    assert "emotional" in package.summary
    assert package.created_at == "2026-11-23T12:00:05"
    assert package.to_dict()["transcript"][0]["text"] == "Hello"
