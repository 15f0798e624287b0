"""Digit sequences: customer numbers, postcodes, phone numbers.

Callers read numbers digit by digit, in pairs or in blocks, and Whisper writes
them as "4711", "4 7 1 1", "47 11", "4-7-1-1" or "4, 7, 1, 1"; after
normalisation ("vier sieben eins eins" -> "4 7 1 1") a *run* of digit groups
is joined into one value. A comma only joins single digits or pairs, so
"4711, 1980" stays two numbers. Each slot needs its cue ("Kundennummer",
"postcode", "Telefonnummer"...) or the caller having just been asked for it
(``expected``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.slots.normalize import Normalized
from appliance.slots.results import Slot, SlotKind, make_slot, overlaps

# "(0)" is the trunk zero written after a country code: "+49 (0) 40 123456".
_TRUNK_ZERO = re.compile(r"\s?\(0\)\s?")
_RUN = re.compile(r"(?:(?:\+|plus)\s?)?\d+(?:(?:\s*[-/]\s*|\s+|\s?\(0\)\s?)\d+|,\s?\d{1,2}(?!\d))*")
_CUSTOMER_CUE = re.compile(
    r"\b(?:kunden\s?-?\s?(?:nummer|nr\.?)|kundennr\.?|customer (?:number|id|no\.?|reference)|"
    r"client (?:number|id)|account number|konto\s?-?\s?(?:nummer|nr\.?)|patienten\s?-?\s?"
    r"(?:nummer|nr\.?|id)|patient (?:number|id)|fall\s?nummer|case number|vertrags\s?-?\s?nummer|"
    r"contract number|mitglieds\s?-?\s?nummer|member(?:ship)? number|versicherten\s?-?\s?nummer|"
    r"insurance number|reference number|referenz\s?-?\s?nummer|aktenzeichen|vorgangsnummer|"
    r"ticket\s?-?\s?nummer|ticket number)\b"
)
_POSTCODE_CUE = re.compile(r"\b(?:postleitzahl|plz|post\s?code|zip(?: code)?)\b")
_PHONE_CUE = re.compile(
    r"\b(?:telefon\s?-?\s?nummer|telefon|rufnummer|handy\s?-?\s?nummer|handy|mobil\s?-?\s?nummer|"
    r"mobilnummer|festnetz\w*|phone(?: number)?|mobile(?: number)?|cell(?: number)?|telephone|"
    r"erreichbar unter|reach me (?:on|at)|call me (?:back )?(?:on|at)|zurückrufen unter|"
    r"unter der nummer|number to call)\b"
)
# Between a cue and its number: "ist", "lautet", "is", ":", articles, "meine".
_GAP = re.compile(
    r"^(?:\s|[:,.\-])*(?:(?:ist|lautet|is|was|war|are|die|der|das|meine|mein|my|it's|its|"
    r"number|nummer|also|so|ähm|äh|uh|um|erm|bitte|please|the)(?:\s|[:,.\-])+){0,4}"
)

CUSTOMER_DIGITS = (3, 16)
PHONE_DIGITS = (6, 15)
POSTCODE_DIGITS = 5


@dataclass(frozen=True)
class _Run:
    start: int
    end: int
    digits: str
    plus: bool


def _runs(norm: Normalized, taken: list[tuple[int, int]]) -> list[_Run]:
    out: list[_Run] = []
    for m in _RUN.finditer(norm.text):
        if overlaps(taken, *m.span()):
            continue
        raw = m.group(0)
        digits = re.sub(r"\D", "", _TRUNK_ZERO.sub(" ", raw))
        out.append(_Run(m.start(), m.end(), digits, raw.startswith(("+", "plus"))))
    return out


def _after_cue(cue: re.Pattern[str], norm: Normalized, runs: list[_Run]) -> list[_Run]:
    found: list[_Run] = []
    for m in cue.finditer(norm.text):
        gap = _GAP.match(norm.text[m.end() :])
        at = m.end() + (gap.end() if gap else 0)
        for run in runs:
            if run.start == at or (run.start > m.end() and run.start <= at):
                found.append(run)
                break
    return found


def _phone_value(run: _Run) -> str:
    digits = run.digits
    if run.plus:
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def _fits(kind: SlotKind, run: _Run) -> bool:
    if kind == "customer_number":
        return CUSTOMER_DIGITS[0] <= len(run.digits) <= CUSTOMER_DIGITS[1] and not run.plus
    if kind == "postcode":
        return len(run.digits) == POSTCODE_DIGITS and not run.plus
    if kind == "phone_number":
        return PHONE_DIGITS[0] <= len(run.digits) <= PHONE_DIGITS[1]
    return False


def _value(kind: SlotKind, run: _Run) -> str:
    return _phone_value(run) if kind == "phone_number" else run.digits


_CUES: tuple[tuple[SlotKind, re.Pattern[str]], ...] = (
    ("customer_number", _CUSTOMER_CUE),
    ("postcode", _POSTCODE_CUE),
    ("phone_number", _PHONE_CUE),
)


def find_digit_slots(
    norm: Normalized, taken: list[tuple[int, int]], expected: SlotKind | None = None
) -> dict[SlotKind, list[Slot[str]]]:
    """Customer numbers, postcodes and phone numbers, by kind."""
    runs = _runs(norm, taken)
    found: dict[SlotKind, list[Slot[str]]] = {kind: [] for kind, _ in _CUES}
    used: set[int] = set()

    def take(kind: SlotKind, run: _Run) -> None:
        used.add(run.start)
        taken.append((run.start, run.end))
        found[kind].append(make_slot(norm, kind, _value(kind, run), run.start, run.end))

    for kind, cue in _CUES:
        for run in _after_cue(cue, norm, runs):
            if run.start not in used and _fits(kind, run):
                take(kind, run)
    # No cue, but the agent just asked for it: the longest run that fits.
    if expected in found and not found[expected]:
        for run in sorted(runs, key=lambda r: len(r.digits), reverse=True):
            if run.start not in used and _fits(expected, run):
                take(expected, run)
                break
    # No cue at all: a run that can only be a phone number (leading 0 or +, 8+ digits).
    for run in runs:
        if (
            run.start not in used
            and (run.plus or run.digits.startswith("0"))
            and len(run.digits) >= 8
            and _fits("phone_number", run)
        ):
            take("phone_number", run)
    for slots in found.values():
        slots.sort(key=lambda s: s.start)
    return found
