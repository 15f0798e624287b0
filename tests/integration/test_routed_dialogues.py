"""The embedded tier's tool dialogues: the intent router, slots and the demo back-end.

Text-level caller turns through the real responder (embedded settings: the
router picks the tools; the LLM is not asked for these turns), over real HTTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from appliance.agent.responder import AnswerNotes, Responder
from appliance.config import Settings
from appliance.demo_backend.app import DemoData, create_demo_backend, seed
from appliance.demo_backend.connectors import demo_tools
from appliance.engines import Engines
from appliance.escalation.classifier import EscalationDetector
from appliance.llm.client import StreamStats
from appliance.tools.identity import CallerIdentity
from appliance.tools.registry import ToolRegistry
from tests.support.app_server import serve_asgi

pytestmark = pytest.mark.asyncio

TODAY = dt.date(2026, 11, 23)  # a Monday


class Dialogue:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.identity = CallerIdentity()
        self.calls: list[tuple[str, str]] = []

    async def say(self, text: str) -> str:
        notes = AnswerNotes()
        chunks = [
            c async for c in self.responder.reply([], text, StreamStats(), notes, self.identity)
        ]
        self.calls.extend((c.name, c.outcome) for c in notes.tool_calls)
        return " ".join(c.text for c in chunks)


@pytest_asyncio.fixture
async def demo(
    engines: Engines, settings: Settings
) -> AsyncIterator[tuple[Responder, DemoData, Settings]]:
    data = seed()
    async with serve_asgi(create_demo_backend(data)) as base:
        tuned = settings.with_overrides(tools=demo_tools(base).model_dump(mode="json"))
        registry = ToolRegistry(tuned.tools)
        try:
            yield Responder(engines.llm, tuned, None, registry, today=lambda: TODAY), data, tuned
        finally:
            await registry.aclose()


async def test_a_request_waits_for_verification_and_then_is_answered(
    demo: tuple[Responder, DemoData, Settings],
) -> None:
    responder, _, settings = demo
    dialogue = Dialogue(responder)
    assert await dialogue.say("What's the status of my claim 778812?") == settings.agent.prompt(
        "verify_first"
    )
    answer = await dialogue.say(
        "My customer number is 1 0 0 2 3 4 and my date of birth is the 23rd of March 1980."
    )
    assert answer == "Your claim is approved, last updated on 18 November 2026."
    assert dialogue.calls == [("verify_caller", "ok"), ("case_status", "ok")]


async def test_a_wrong_date_of_birth_is_not_verified_and_reveals_nothing(
    demo: tuple[Responder, DemoData, Settings],
) -> None:
    responder, _, settings = demo
    dialogue = Dialogue(responder)
    answer = await dialogue.say("Kundennummer 100234, geboren am 1. Mai 1990.")
    assert answer == settings.agent.prompt("not_verified")
    assert dialogue.calls == [("verify_caller", "IDENTITY_NOT_VERIFIED")]
    assert not dialogue.identity.verified


async def test_booking_asks_for_the_missing_time_and_books_once(
    demo: tuple[Responder, DemoData, Settings],
) -> None:
    responder, data, settings = demo
    dialogue = Dialogue(responder)
    await dialogue.say("Meine Kundennummer ist 1 0 0 2 3 4, geboren am 23.03.1980.")
    before = len(data.appointments)
    assert await dialogue.say("Ich möchte einen Termin vereinbaren.") == settings.agent.prompt(
        "ask_date_time"
    )
    answer = await dialogue.say("Am Donnerstag um halb zehn, bitte.")
    assert answer == "You are booked for 26 November 2026 at 09:30."
    assert len(data.appointments) == before + 1
    assert dialogue.calls[-1] == ("book_appointment", "ok")


async def test_rescheduling_moves_the_next_appointment(
    demo: tuple[Responder, DemoData, Settings],
) -> None:
    responder, data, _ = demo
    dialogue = Dialogue(responder)
    await dialogue.say("My customer number is 100234 and I was born on 23 March 1980.")
    answer = await dialogue.say("Can I move my appointment to December 9th at 2 pm?")
    assert answer == "Your appointment is now on 9 December 2026 at 14:00."
    assert (data.appointments["A3001"].date, data.appointments["A3001"].time) == (
        "2026-12-09",
        "14:00",
    )
    assert dialogue.calls[-2:] == [("list_appointments", "ok"), ("reschedule_appointment", "ok")]


async def test_someone_elses_case_is_refused(demo: tuple[Responder, DemoData, Settings]) -> None:
    responder, _, settings = demo
    dialogue = Dialogue(responder)
    await dialogue.say("My customer number is 100234 and I was born on 23 March 1980.")
    answer = await dialogue.say("And what is the status of case 778813?")
    assert answer == settings.agent.prompt("verify_first")
    assert dialogue.calls[-1] == ("case_status", "IDENTITY_MISMATCH")


async def test_questions_without_a_tool_intent_are_left_to_the_knowledge_base(
    demo: tuple[Responder, DemoData, Settings],
) -> None:
    responder, _, _ = demo
    dialogue = Dialogue(responder)
    notes = AnswerNotes()
    chunks = [
        c
        async for c in responder.reply(
            [], "Hello, when are visiting hours?", StreamStats(), notes, dialogue.identity
        )
    ]
    assert chunks
    assert notes.mode != "tools"
    assert not notes.tool_calls


async def test_with_nobody_available_a_callback_is_booked_and_confirmed(
    engines: Engines, settings: Settings
) -> None:
    data = seed()
    async with serve_asgi(create_demo_backend(data)) as base:
        tuned = settings.with_overrides(
            tools=demo_tools(base).model_dump(mode="json"), handoff={"presence": "never"}
        )
        registry = ToolRegistry(tuned.tools)
        try:
            responder = Responder(
                engines.llm,
                tuned,
                None,
                registry,
                EscalationDetector(tuned.escalation),
                today=lambda: TODAY,
            )
            dialogue = Dialogue(responder)
            offer = await dialogue.say("Can I speak to a person, please?")
            assert offer == tuned.agent.prompt("no_human_callback")
            confirmed = await dialogue.say("Yes, tomorrow at 10 am on 04181 55501.")
        finally:
            await registry.aclose()
    assert confirmed == "A colleague will call you back on 24 November 2026 at 10:00."
    assert dialogue.calls == [("schedule_callback", "ok")]
    assert data.callbacks[0]["phone"] == "0418155501"


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("/faults/slow?seconds=2", "TOOL_TIMEOUT"),
        ("/faults/error", "TOOL_FAILED"),
        ("/faults/garbage", "TOOL_BAD_RESPONSE"),
    ],
)
async def test_a_failing_back_end_gets_an_apology_and_the_call_goes_on(
    engines: Engines, settings: Settings, path: str, outcome: str
) -> None:
    async with serve_asgi(create_demo_backend(seed())) as base:
        tools = demo_tools(base)
        broken = tuple(
            c.model_copy(update={"url": f"{base}{path}", "timeout_s": 0.5})
            if c.name == "case_status"
            else c
            for c in tools.connectors
        )
        tuned = settings.with_overrides(
            tools=tools.model_copy(update={"connectors": broken}).model_dump(mode="json")
        )
        registry = ToolRegistry(tuned.tools)
        try:
            dialogue = Dialogue(Responder(engines.llm, tuned, None, registry, today=lambda: TODAY))
            await dialogue.say("My customer number is 100234 and I was born on 23 March 1980.")
            answer = await dialogue.say("What's the status of my claim 778812?")
            again = await dialogue.say("When is my next appointment?")
        finally:
            await registry.aclose()
    assert answer == tuned.agent.prompt("tool_failed")
    assert dialogue.calls[1] == ("case_status", outcome)
    assert again.startswith("Your next appointment is")  # the call goes on
