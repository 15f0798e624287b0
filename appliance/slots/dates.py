"""Dates and dates of birth, resolved against an injected ``today``.

Recognised (after number words became digits): "3.4.", "03.04.2025", "3. 4.
1979" (spoken ordinals), "2025-04-03", "3/4/2025" (day first), "23. März",
"23rd of March", "March 23rd, 2025", "am 23.", "the 23rd", heute/morgen/
übermorgen/gestern, today/tomorrow/the day after tomorrow/yesterday, weekdays
("Dienstag", "nächsten Dienstag", "next Tuesday", "nächste Woche Dienstag"),
"in zwei Wochen", "in 3 days". A date without a year is the next such date from
``today`` on (an appointment, not a memory). The clock is never read here.
"""

from __future__ import annotations

import datetime as dt
import re

from appliance.slots.normalize import Normalized
from appliance.slots.results import Slot, make_slot, overlaps

MONTHS: dict[str, int] = {
    "januar": 1, "jänner": 1, "janner": 1, "january": 1, "jan": 1,
    "februar": 2, "feber": 2, "february": 2, "feb": 2,
    "märz": 3, "maerz": 3, "marz": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
WEEKDAYS: dict[str, int] = {
    "montag": 0, "monday": 0,
    "dienstag": 1, "tuesday": 1,
    "mittwoch": 2, "wednesday": 2,
    "donnerstag": 3, "thursday": 3,
    "freitag": 4, "friday": 4,
    "samstag": 5, "sonnabend": 5, "saturday": 5,
    "sonntag": 6, "sunday": 6,
}  # fmt: skip

_MONTH = "(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = "(?P<weekday>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + ")"
_YEAR = r"(?P<year>\d{4}|(?:19|20) \d{2}|(?:19|20) 0 \d|'?\d{2}(?!\d))"
_DAY_SUFFIX = r"(?:\.|st|nd|rd|th)?"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iso", re.compile(r"\b(?P<year>\d{4})-(?P<mnum>\d{1,2})-(?P<day>\d{1,2})\b")),
    (
        "dmy",
        re.compile(
            r"(?<![\d.])(?P<day>\d{1,2})\.\s?(?P<mnum>\d{1,2})\."
            r"(?:\s?(?P<year>\d{4}|\d{2})(?!\d))?"
        ),
    ),
    (
        "ordinal_pair",
        re.compile(
            r"(?<![\d.])(?P<day>\d{1,2})\.\s+(?:of\s+)?(?:the\s+)?(?P<mnum>\d{1,2})\."
            r"(?:\s+(?P<year>\d{4}|(?:19|20) \d{2}|(?:19|20) 0 \d)(?!\d))?"
        ),
    ),
    (
        "slash",
        re.compile(r"(?<![\d/])(?P<day>\d{1,2})/(?P<mnum>\d{1,2})(?:/(?P<year>\d{4}|\d{2}))?\b"),
    ),
    (
        "dm_short",
        re.compile(
            r"\b(?:am|vom|bis|zum|den|ab|on|from)\s+(?P<day>\d{1,2})\.(?P<mnum>\d{1,2})\b"
            r"(?![.:\d]|\s*uhr)"
        ),
    ),
    (
        "day_month",
        re.compile(
            rf"(?<![\d.])(?P<day>\d{{1,2}}){_DAY_SUFFIX}\s+(?:of\s+)?{_MONTH}\b"
            rf"(?:,?\s+{_YEAR})?"
        ),
    ),
    (
        "month_day",
        re.compile(
            rf"\b{_MONTH}\s+(?:the\s+)?(?P<day>\d{{1,2}}){_DAY_SUFFIX}(?![\d:])"
            rf"(?!\s+(?:uhr|am|pm|a\.m|p\.m|o.?clock))(?:,?\s+{_YEAR})?"
        ),
    ),
    (
        "day_only",
        re.compile(
            r"\b(?:the|am|den|on the|zum|bis zum|ab dem|vom)\s+(?P<day>\d{1,2})(?:\.|st|nd|rd|th)"
            r"(?!\s*(?:\d|of\b))"
        ),
    ),
)

_RELATIVE = re.compile(
    r"\b(?P<word>übermorgen|uebermorgen|vorgestern|heute|morgen|gestern|today|tomorrow|"
    r"yesterday|the day after tomorrow|day after tomorrow|the day before yesterday)\b"
)
_RELATIVE_DAYS = {
    "heute": 0, "today": 0, "morgen": 1, "tomorrow": 1, "übermorgen": 2, "uebermorgen": 2,
    "the day after tomorrow": 2, "day after tomorrow": 2, "gestern": -1, "yesterday": -1,
    "vorgestern": -2, "the day before yesterday": -2,
}  # fmt: skip
# "heute Morgen", "guten Morgen", "am Morgen" are mornings, not tomorrow.
_NOT_TOMORROW = re.compile(r"(?:heute|guten|am|jeden|den|früh|frueh|diesen|this)\s+$")
_WEEKDAY_REF = re.compile(
    r"\b(?:(?P<nextweek>nächste woche|naechste woche|nächster woche|next week|kommende woche)"
    r"\s+(?:am\s+|on\s+)?)?(?:(?P<mod>übernächsten|uebernächsten|nächsten|naechsten|nächster|"
    r"kommenden|diesen|dieser|this|next|coming|am|on|the)\s+)?"
    + _WEEKDAY
    + r"(?P<after>\s+after next)?\b"
)
_APPOSITION = re.compile(r"\s*,?\s*(?:den|der|dem|the)?\s*")
_IN_N = re.compile(
    r"\bin\s+(?P<n>\d+|einer|einem|eine|a|one)\s+(?P<unit>tagen|tage|tag|wochen|woche|days?|weeks?)\b"
)
_DOB_CUE = re.compile(
    r"\b(?:geboren|geb\.|geburtsdatum|geburtstag|geburtsjahr|born|date of birth|birthday|"
    r"d\.o\.b|dob)\b"
)


def _year(raw: str | None, today: dt.date, *, birth: bool) -> int | None:
    if raw is None:
        return None
    digits = raw.replace("'", "").split()
    if len(digits) == 2:  # "19 85" from "nineteen eighty-five"
        return int(digits[0]) * 100 + int(digits[1])
    if len(digits) == 3:  # "20 0 5" from "twenty oh five"
        return int(digits[0]) * 100 + int(digits[2])
    value = int(digits[0])
    if len(digits[0]) == 4:
        return value
    century = 2000 if not birth or value <= today.year % 100 else 1900
    return century + value


def _next_from(today: dt.date, month: int, day: int) -> dt.date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _day_only(today: dt.date, day: int) -> dt.date | None:
    for months_ahead in range(3):
        month0 = today.month - 1 + months_ahead
        try:
            candidate = dt.date(today.year + month0 // 12, month0 % 12 + 1, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _absolute(
    norm: Normalized, today: dt.date, taken: list[tuple[int, int]], birth_context: bool
) -> list[tuple[Slot[dt.date], bool]]:
    """(slot, has explicit year) for every calendar date in the text."""
    found: list[tuple[Slot[dt.date], bool]] = []
    for name, pattern in _PATTERNS:
        for m in pattern.finditer(norm.text):
            if overlaps(taken, m.start(), m.end()):
                continue
            groups = m.groupdict()
            day = int(groups["day"])
            if name == "day_only":
                value = _day_only(today, day)
                if value is not None:
                    taken.append(m.span())
                    span = (m.start("day"), m.end())
                    found.append((make_slot(norm, "date", value, *span, ambiguous=True), False))
                continue
            month = MONTHS[groups["month"]] if groups.get("month") else int(groups["mnum"])
            year = _year(groups.get("year"), today, birth=birth_context)
            try:
                value = dt.date(year, month, day) if year else _next_from(today, month, day)
            except ValueError:
                continue
            if value is None:
                continue
            taken.append(m.span())
            found.append(
                (make_slot(norm, "date", value, *m.span(), ambiguous=year is None), bool(year))
            )
    return found


def _relative(
    norm: Normalized, today: dt.date, taken: list[tuple[int, int]]
) -> list[Slot[dt.date]]:
    found: list[Slot[dt.date]] = []
    for m in _RELATIVE.finditer(norm.text):
        word = m.group("word")
        if overlaps(taken, *m.span()):
            continue
        if word == "morgen" and _NOT_TOMORROW.search(norm.text[: m.start()]):
            continue
        taken.append(m.span())
        found.append(
            make_slot(norm, "date", today + dt.timedelta(days=_RELATIVE_DAYS[word]), *m.span())
        )
    for m in _WEEKDAY_REF.finditer(norm.text):
        if overlaps(taken, *m.span()):
            continue
        # "am Montag, den 7. Dezember": the weekday only names the date that follows.
        apposition = _APPOSITION.match(norm.text, m.end())
        if apposition and any(start == apposition.end() for start, _ in taken):
            continue
        weekday = WEEKDAYS[m.group("weekday")]
        if m.group("nextweek"):
            monday = today + dt.timedelta(days=7 - today.weekday())
            value = monday + dt.timedelta(days=weekday)
        else:
            ahead = (weekday - today.weekday()) % 7 or 7
            mod = m.group("mod") or ""
            if mod.startswith(("übernächsten", "uebernächsten")) or m.group("after"):
                ahead += 7
            value = today + dt.timedelta(days=ahead)
        taken.append(m.span())
        found.append(make_slot(norm, "date", value, *m.span(), ambiguous=True))
    for m in _IN_N.finditer(norm.text):
        if overlaps(taken, *m.span()):
            continue
        raw = m.group("n")
        n = int(raw) if raw.isdigit() else 1
        days = n * (7 if m.group("unit").startswith(("w", "W")) else 1)
        taken.append(m.span())
        found.append(make_slot(norm, "date", today + dt.timedelta(days=days), *m.span()))
    return found


def find_dates(
    norm: Normalized,
    today: dt.date,
    taken: list[tuple[int, int]],
    *,
    expect_birth: bool = False,
) -> tuple[list[Slot[dt.date]], list[Slot[dt.date]]]:
    """(dates, dates of birth). ``taken`` collects the spans used, for later extractors."""
    birth_context = expect_birth or bool(_DOB_CUE.search(norm.text))
    dates: list[Slot[dt.date]] = []
    births: list[Slot[dt.date]] = []
    for slot, has_year in _absolute(norm, today, taken, birth_context):
        if birth_context and has_year and slot.value < today:
            births.append(Slot("date_of_birth", slot.value, slot.start, slot.end, slot.text))
        else:
            dates.append(slot)
    dates += _relative(norm, today, taken)
    dates.sort(key=lambda s: s.start)
    return dates, births
