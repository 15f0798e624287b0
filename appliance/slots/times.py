"""Times of day, German and English, as Whisper writes them.

"15:30", "15.30 Uhr", "15 Uhr 30", "drei Uhr", "um drei", "halb vier" (3:30),
"viertel nach drei", "viertel vor fünf", "dreiviertel fünf" (4:45), "fünf vor
halb vier" (3:25), "3 pm", "half past three", "quarter to five", "ten past
four", "half three" (British 3:30), "at three thirty", noon/midnight/Mittag.
"nachmittags", "abends", "in the afternoon" etc. move an hour below 12 to the
afternoon; without such a word an hour from 1 to 11 is reported as spoken and
marked ambiguous.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from appliance.slots.normalize import Normalized
from appliance.slots.results import Slot, make_slot, overlaps

_H = r"(?P<h>\d{1,2})"
_M = r"(?P<m>\d{1,2})"
_PM_AFTER = re.compile(
    r"^\s*(?:uhr\s+)?(?:p\.?\s?m\.?|nachmittags|abends|am nachmittag|am abend|in the afternoon|"
    r"in the evening|at night|tonight|nachts|in der nacht)\b"
)
_AM_AFTER = re.compile(
    r"^\s*(?:uhr\s+)?(?:a\.\s?m\.?|am(?=\s*(?:$|[.,!?]))|morgens|früh|frueh|vormittags|"
    r"am morgen|am vormittag|in the morning)\b"
)
_PM_BEFORE = re.compile(
    r"\b(?:heute abend|morgen abend|nachmittags|abends|this afternoon|this evening|tonight|"
    r"tomorrow afternoon|tomorrow evening|am nachmittag|am abend)\s+(?:\S+\s+){0,2}$"
)
_AM_BEFORE = re.compile(
    r"\b(?:morgen früh|morgen frueh|heute morgen|morgens|vormittags|this morning|"
    r"tomorrow morning|am vormittag|am morgen)\s+(?:\S+\s+){0,2}$"
)

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[int, int]], bool]


def _hm(m: re.Match[str]) -> tuple[int, int]:
    minute = m.groupdict().get("m")
    return int(m.group("h")), int(minute) if minute else 0


def _offset(minutes: int) -> Callable[[re.Match[str]], tuple[int, int]]:
    """Minutes relative to the named hour: "quarter to five" -> -15 from 5:00."""

    def convert(m: re.Match[str]) -> tuple[int, int]:
        total = int(m.group("h")) * 60 + minutes
        return (total // 60) % 24, total % 60

    return convert


def _past_to(sign: int) -> Callable[[re.Match[str]], tuple[int, int]]:
    def convert(m: re.Match[str]) -> tuple[int, int]:
        base = int(m.group("h")) * 60 - (30 if m.groupdict().get("half") else 0)
        total = base + sign * int(m.group("n"))
        return (total // 60) % 24, total % 60

    return convert


def _noon(m: re.Match[str]) -> tuple[int, int]:
    return (0, 0) if m.group(0).startswith(("mitternacht", "midnight")) else (12, 0)


# (pattern, to (hour, minute), explicit 24-hour clock?)
_AMPM = r"(?P<ampm>a\.\s?m\.?|am(?=\s*(?:$|[.,!?]))|p\.?\s?m\.?)"
_RULES: tuple[Rule, ...] = (
    (re.compile(rf"\b{_H}(?:[: ]{_M})?\s*{_AMPM}"), _hm, False),
    (re.compile(rf"\b{_H}:(?P<m>\d{{2}})\b"), _hm, False),
    (re.compile(rf"\b{_H}[.h](?P<m>\d{{2}})\s*(?:uhr|h)\b"), _hm, False),
    (re.compile(rf"\b{_H}h(?P<m>\d{{2}})\b"), _hm, False),
    (re.compile(rf"\b{_H}\s*uhr(?:\s+{_M}\b(?!\s*(?:uhr|\.)))?"), _hm, False),
    (re.compile(rf"\b{_H}\s+o.?clock\b"), _hm, False),
    (re.compile(rf"\bhalf past {_H}\b"), _offset(30), False),
    (re.compile(rf"\b(?:a )?quarter past {_H}\b"), _offset(15), False),
    (re.compile(rf"\b(?:a )?quarter (?:to|of) {_H}\b"), _offset(-15), False),
    (
        re.compile(rf"\b(?P<n>\d{{1,2}}) (?:minutes? )?(?:past|after) {_H}\b"),
        _past_to(1),
        False,
    ),
    (re.compile(rf"\b(?P<n>\d{{1,2}}) (?:minutes? )?(?:to|before) {_H}\b"), _past_to(-1), False),
    (re.compile(rf"\bhalf {_H}\b"), _offset(30), False),
    (
        re.compile(rf"\b(?P<n>\d{{1,2}}) (?:minuten )?nach (?P<half>halb )?{_H}\b"),
        _past_to(1),
        False,
    ),
    (
        re.compile(rf"\b(?P<n>\d{{1,2}}) (?:minuten )?vor (?P<half>halb )?{_H}\b"),
        _past_to(-1),
        False,
    ),
    (re.compile(rf"\bhalb {_H}\b"), _offset(-30), False),
    (re.compile(rf"\bviertel nach {_H}\b"), _offset(15), False),
    (re.compile(rf"\bviertel vor {_H}\b"), _offset(-15), False),
    (re.compile(rf"\b(?:dreiviertel|3 viertel|drei viertel) {_H}\b"), _offset(-15), False),
    (re.compile(rf"\bviertel {_H}\b"), _offset(-45), False),  # regional: "viertel vier" = 3:15
    (
        re.compile(
            rf"\b(?:at|um|gegen|ab|bis|by|until)\s+{_H}(?:[ :]{_M})?\b(?![.\d])"
            r"(?!\s*(?:tage?n?|wochen?|monate?n?|jahre?n?|days?|weeks?|months?|years?|euro|"
            r"prozent|percent|minuten|minutes?|stunden|hours?|%|€))"
        ),
        _hm,
        False,
    ),
    (re.compile(r"\b(?:mitternacht|midnight|mittag|noon|12 noon)\b"), _noon, True),
)


def _meridiem(norm: Normalized, start: int, end: int) -> str | None:
    after = norm.text[end : end + 30]
    before = norm.text[max(0, start - 40) : start]
    if _PM_AFTER.match(after) or _PM_BEFORE.search(before):
        return "pm"
    if _AM_AFTER.match(after) or _AM_BEFORE.search(before):
        return "am"
    return None


def find_times(norm: Normalized, taken: list[tuple[int, int]]) -> list[Slot[dt.time]]:
    found: list[Slot[dt.time]] = []
    for pattern, convert, explicit in _RULES:
        for m in pattern.finditer(norm.text):
            if overlaps(taken, *m.span()):
                continue
            hour, minute = convert(m)
            if not (0 <= hour <= 24 and 0 <= minute < 60):
                continue
            hour %= 24
            inline = (m.groupdict().get("ampm") or "")[:1]
            meridiem = (
                None
                if hour == 0 or hour > 12
                else {"a": "am", "p": "pm"}.get(inline) or _meridiem(norm, *m.span())
            )
            if meridiem == "pm" and hour < 12:
                hour += 12
            elif meridiem == "am" and hour == 12:
                hour = 0
            ambiguous = not explicit and meridiem is None and 1 <= hour <= 11
            taken.append(m.span())
            found.append(
                make_slot(norm, "time", dt.time(hour, minute), *m.span(), ambiguous=ambiguous)
            )
    found.sort(key=lambda s: s.start)
    return found
