"""The embedded tier's deterministic intent router: which tool, with which arguments.

The 135M model picks tools but cannot fill their arguments, so with the
embedded LLM the agent routes itself: intent cues (German and English, folded
spellings) choose the tool, the slot filler supplies customer numbers, dates
of birth, case numbers, dates and times, and the verified identity supplies
the caller's own customer number. A request that needs verification first is
kept as pending and carried out once the caller is verified. The result is
either a call to make, the slot the agent must ask for, or nothing (no tool
intent: the knowledge base or the LLM answers).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.escalation.text import fold, fold_pattern
from appliance.slots.extract import extract_slots
from appliance.slots.normalize import normalize
from appliance.slots.results import Slots
from appliance.tools.identity import CallerIdentity


@dataclass(frozen=True)
class RoutedCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class MissingSlot:
    tool: str
    slot: str  # "case_number" | "date" | "time" | "identity" | "phone"


def _cue(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fold_pattern(p)})" for p in patterns))


_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "reschedule_appointment",
        _cue(r"\b(verschieb|verleg|umleg|reschedul|move my appointment|change my appointment)"),
    ),
    (
        "book_appointment",
        _cue(
            r"\btermin\w* (?:\S+ ){0,6}(?:vereinbar|buch|mach|hab|bekomm)",
            r"\b(?:brauch|braeucht|moecht|haett)\w* (?:\S+ ){0,3}termin",
            r"\b(?:vereinbar|buch|mach)\w* (?:\S+ ){0,3}termin",
            r"\b(?:book|make|schedule|get|need|want)\w* (?:\w+ ){0,3}appointment",
            r"\bappointment (?:\w+ ){0,2}(?:on|for|at)\b",
        ),
    ),
    (
        "list_appointments",
        _cue(
            r"\b(?:wann|welche) (?:\w+ ){0,4}termin",
            r"\bmeine termine\b",
            r"\b(?:when|what) (?:\w+ ){0,3}(?:my )?appointments?\b",
            r"\bmy appointments\b",
        ),
    ),
    (
        "case_status",
        _cue(
            r"\b(?:stand|status|bearbeitungsstand)\b",
            r"\b(?:antrag|vorgang|bestellung|erstattung|schadensfall)",
            r"\b(?:claim|order|case|refund)\b",
        ),
    ),
    (
        "schedule_callback",
        _cue(r"\b(?:rueckruf|zurueckruf|ruf\w* (?:\w+ ){0,3}zurueck|call me back|callback)"),
    ),
    (
        "lookup_customer",
        _cue(
            r"\b(?:meine|unsere) (?:adresse|anschrift|kontaktdaten|telefonnummer|daten)\b",
            r"\bmy (?:address|contact details|phone number|details)\b",
        ),
    ),
)
# Six digits, spoken one by one or in groups: "778812", "7 7 8 8 1 2", "7, 7, 8, 8, 1, 2".
# Whisper punctuates spoken digit strings freely ("7? 7, 8, 8, 1, 2").
_CASE_NUMBER = re.compile(
    r"(?<!\d)(?<!\d[ ,.?-])(?<!\d[ ,.?-]{2})(\d(?:[ ,.?-]{0,2}\d){5})(?!\d)(?![ ,.?-]{1,2}\d)"
)


def _case_number(text: str) -> str | None:
    digits = normalize(text).text
    match = _CASE_NUMBER.search(digits)
    return re.sub(r"\D", "", match.group(1)) if match else None


def _gives_details(text: str, slots: Slots) -> bool:
    return (
        bool(slots.date or slots.time or slots.phone_number or slots.customer_number)
        or _case_number(text) is not None
    )


def intent_of(text: str) -> str | None:
    folded = fold(text)
    for name, cue in _INTENTS:
        if cue.search(folded):
            return name
    return None


class IntentRouter:
    def __init__(self, *, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.today = today  # injected: relative dates resolve against it

    def route(
        self, text: str, state: CallerIdentity, *, resume: bool = False
    ) -> RoutedCall | MissingSlot | None:
        """The call to make for ``text``; ``state`` keeps the pending request.

        ``resume`` carries on with the pending request (after a verification).
        """
        verified_customer = state.customer_number if state.verified else None
        slots = extract_slots(text, self.today(), expected=_expected(state))
        if verified_customer is None and slots.customer_number and slots.date_of_birth:
            return RoutedCall(
                "verify_caller",
                {
                    "customer_number": slots.customer_number,
                    "date_of_birth": slots.date_of_birth.isoformat(),
                },
            )
        intent = state.pending if resume else intent_of(text)
        if intent is None and state.pending is not None:
            # A bare answer to the agent's question continues the pending request;
            # anything else drops it (the caller moved on).
            if _gives_details(text, slots):
                intent = state.pending
            else:
                state.pending, state.partial = None, {}
        if intent is None:
            return None
        state.pending = intent
        wanted = self._arguments(intent, text, slots, state, verified_customer=verified_customer)
        if isinstance(wanted, MissingSlot):
            return wanted
        state.pending, state.partial = None, {}
        return RoutedCall(intent, wanted)

    def _arguments(
        self,
        intent: str,
        text: str,
        slots: Slots,
        state: CallerIdentity,
        *,
        verified_customer: str | None,
    ) -> dict[str, Any] | MissingSlot:
        found = dict(state.partial)
        if slots.date is not None:
            found["date"] = slots.date.isoformat()
        if slots.time is not None:
            found["time"] = slots.time.strftime("%H:%M")
        if slots.phone_number:
            found["phone"] = slots.phone_number
        case = _case_number(text)
        if case and intent == "case_status":
            found["case_number"] = case
        state.partial = found
        needs_identity = intent in {
            "book_appointment",
            "list_appointments",
            "lookup_customer",
            "reschedule_appointment",
            "case_status",
        }
        if needs_identity and verified_customer is None:
            return MissingSlot(intent, "identity")
        required = _REQUIRED[intent]
        for slot in required:
            if slot not in found:
                return MissingSlot(intent, slot)
        arguments = {slot: found[slot] for slot in required}
        if intent in {"book_appointment", "list_appointments", "lookup_customer"}:
            arguments["customer_number"] = verified_customer
        return arguments


_REQUIRED: dict[str, tuple[str, ...]] = {
    "case_status": ("case_number",),
    "book_appointment": ("date", "time"),
    "reschedule_appointment": ("date", "time"),
    "list_appointments": (),
    "lookup_customer": (),
    "schedule_callback": ("phone", "date", "time"),
}


def _expected(state: CallerIdentity) -> Any:
    """The slot the agent last asked for, so a bare answer counts."""
    if state.pending is None:
        return None
    for slot in _REQUIRED.get(state.pending, ()):
        if slot not in state.partial:
            return {"phone": "phone_number"}.get(slot, slot if slot in {"date", "time"} else None)
    return None
