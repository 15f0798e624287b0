"""Carrying out what the intent router decided, and saying the result without an LLM.

A missing detail becomes the question for it; a call runs through the tool
registry like any LLM tool call (recorded, identity enforced, side effects
only once the turn is committed). A successful verification resumes the
request that was waiting for it. Results are spoken with the connector's
``say`` template for the call's language (a plain rendering of the kept fields
when there is none), so the embedded tier needs no model to phrase them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
from dataclasses import dataclass
from typing import Any

from appliance.agent.router import IntentRouter, MissingSlot, RoutedCall
from appliance.agent.tool_round import ToolCallRecord, describe, run_tool_calls
from appliance.config import Settings
from appliance.errors import ErrorCode
from appliance.llm.client import ToolCall
from appliance.tools.identity import CallerIdentity
from appliance.tools.registry import ToolRegistry

_ASK = {
    "identity": "verify_first",
    "case_number": "ask_case_number",
    "date": "ask_date_time",
    "time": "ask_date_time",
    "phone": "ask_phone",
}
# When the details the caller gave do not fit (a misheard digit), ask for them again.
_ASK_AGAIN = {
    "verify_caller": "verify_first",
    "case_status": "ask_case_number",
    "book_appointment": "ask_date_time",
    "reschedule_appointment": "ask_date_time",
    "schedule_callback": "ask_phone",
}
_ids = itertools.count(1)


@dataclass(frozen=True)
class Spoken:
    text: str
    records: tuple[ToolCallRecord, ...] = ()


def failure_prompt(records: tuple[ToolCallRecord, ...] | list[ToolCallRecord]) -> str:
    outcomes = {r.outcome for r in records}
    if ErrorCode.IDENTITY_NOT_VERIFIED in outcomes:
        return "not_verified"
    if outcomes & {ErrorCode.IDENTITY_REQUIRED, ErrorCode.IDENTITY_MISMATCH}:
        return "verify_first"
    return "tool_failed"


class RoutedTurn:
    def __init__(
        self,
        registry: ToolRegistry,
        router: IntentRouter,
        settings: Settings,
        committed: asyncio.Event,
    ) -> None:
        self.registry = registry
        self.router = router
        self.settings = settings
        self.committed = committed

    async def answer(self, routed: RoutedCall | MissingSlot, identity: CallerIdentity) -> Spoken:
        if isinstance(routed, MissingSlot):
            return Spoken(self.settings.agent.prompt(_ASK[routed.slot]))
        records: list[ToolCallRecord] = []
        if routed.name == "reschedule_appointment":
            routed = await self._with_next_appointment(routed, identity, records)
        record, data = await self._call(routed, identity)
        records.append(record)
        if record.outcome == ErrorCode.TOOL_BAD_ARGUMENTS and routed.name in _ASK_AGAIN:
            if routed.name != self.settings.tools.identity.verify_tool:
                identity.pending = routed.name  # the next answer fills the detail in
            prompt = _ASK_AGAIN[routed.name]
            return Spoken(self.settings.agent.prompt(prompt), tuple(records))
        if record.outcome != "ok":
            return Spoken(self.settings.agent.prompt(failure_prompt(records)), tuple(records))
        if routed.name == self.settings.tools.identity.verify_tool and identity.pending:
            resumed = self.router.route("", identity, resume=True)
            if isinstance(resumed, RoutedCall | MissingSlot):
                follow = await self.answer(resumed, identity)
                return Spoken(follow.text, (*records, *follow.records))
        if routed.name == self.settings.tools.identity.verify_tool:
            return Spoken(self.settings.agent.prompt("verified"), tuple(records))
        return Spoken(self._say(routed.name, data), tuple(records))

    async def _call(
        self, routed: RoutedCall, identity: CallerIdentity
    ) -> tuple[ToolCallRecord, Any]:
        call = ToolCall(f"router-{next(_ids)}", routed.name, json.dumps(routed.arguments))
        _, records = await run_tool_calls(
            self.registry, (call,), identity, self.committed, limit=1, source="router"
        )
        record = records[0]
        return record, json.loads(record.data_json) if record.data_json else None

    async def _with_next_appointment(
        self, routed: RoutedCall, identity: CallerIdentity, records: list[ToolCallRecord]
    ) -> RoutedCall:
        """The caller's next appointment is the one to move."""
        listing = RoutedCall("list_appointments", {"customer_number": identity.customer_number})
        record, data = await self._call(listing, identity)
        records.append(record)
        today = self.router.today().isoformat()
        upcoming = sorted(
            (a for a in (data or {}).get("appointments", []) if str(a.get("date", "")) >= today),
            key=lambda a: (a.get("date", ""), a.get("time", "")),
        )
        if not upcoming:
            return routed  # the registry refuses it: no appointment_id
        return RoutedCall(
            routed.name, {**routed.arguments, "appointment_id": upcoming[0]["appointment_id"]}
        )

    def _say(self, tool: str, data: Any) -> str:
        connector = self.registry.connectors[tool]
        template = connector.say.get(self.settings.agent.language)
        if template and isinstance(data, dict):
            try:
                return template.format(**_spoken_values(data, self.settings.agent.language))
            except (KeyError, IndexError, ValueError):
                pass  # the back-end answered differently than the template expects
        return describe(data) + "."


_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
}


def _spoken_date(day: dt.date, language: str) -> str:
    month = _MONTHS.get(language, _MONTHS["en"])[day.month - 1]
    return f"{day.day}. {month} {day.year}" if language == "de" else f"{day.day} {month} {day.year}"


def _spoken_values(data: dict[str, Any], language: str) -> dict[str, Any]:
    """ISO dates as words a voice reads well; everything else as it is."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace(".", "_")
        out[name] = value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                out[name] = _spoken_date(dt.date.fromisoformat(value), language)
    return out
