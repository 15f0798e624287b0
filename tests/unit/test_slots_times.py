"""Times of day in German and English."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.slots import extract_slots

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "hour", "minute", "ambiguous"),
    [
        ("um 15:30", 15, 30, False),
        ("um 15.30 Uhr", 15, 30, False),
        ("15 Uhr 30", 15, 30, False),
        ("fünfzehn Uhr dreißig", 15, 30, False),
        ("um neun Uhr", 9, 0, True),
        ("um drei", 3, 0, True),
        ("halb vier", 3, 30, True),
        ("halb zwölf", 11, 30, True),
        ("viertel nach drei", 3, 15, True),
        ("viertel vor fünf", 4, 45, True),
        ("dreiviertel fünf", 4, 45, True),
        ("fünf vor halb vier", 3, 25, True),
        ("zehn nach halb vier", 3, 40, True),
        ("zehn nach drei", 3, 10, True),
        ("zwanzig vor acht", 7, 40, True),
        ("um drei Uhr nachmittags", 15, 0, False),
        ("heute Abend um acht", 20, 0, False),
        ("morgen früh um halb acht", 7, 30, False),
        ("um zwölf Uhr mittags", 12, 0, False),
        ("gegen Mittag", 12, 0, False),
        ("um Mitternacht", 0, 0, False),
        ("at 3 pm", 15, 0, False),
        ("at 3:30 p.m.", 15, 30, False),
        ("ten thirty a.m.", 10, 30, False),
        ("at 12 a.m.", 0, 0, False),
        ("half past three", 3, 30, True),
        ("half past three in the afternoon", 15, 30, False),
        ("quarter to five", 4, 45, True),
        ("a quarter past nine", 9, 15, True),
        ("ten past four", 4, 10, True),
        ("twenty to six", 5, 40, True),
        ("five minutes past two", 2, 5, True),
        ("half three", 3, 30, True),
        ("at three thirty", 3, 30, True),
        ("at seven o'clock", 7, 0, True),
        ("at 9 in the morning", 9, 0, False),
        ("at noon", 12, 0, False),
        ("at 17:45", 17, 45, False),
        ("um 15.30 h", 15, 30, False),
        ("um 15h30", 15, 30, False),
    ],
)
def test_times(text: str, hour: int, minute: int, ambiguous: bool) -> None:
    slots = extract_slots(f"Termin {text} bitte", TODAY)
    assert slots.time == dt.time(hour, minute), slots
    assert slots.times[0].ambiguous is ambiguous


@pytest.mark.parametrize(
    "text",
    [
        "um 3 am Montag",
        "Kundennummer 4711",
        "am 3.4.",
        "Ich bin 45 Jahre alt",
        "um 25 Uhr",
        "Können wir das um 2 Tage verschieben?",
        "ab 18 Jahren",
        "at 5 percent",
    ],
)
def test_not_a_time_or_not_am(text: str) -> None:
    slots = extract_slots(text, TODAY)
    assert all(s.value != dt.time(3, 0) or s.ambiguous for s in slots.times)
    if "Montag" not in text:
        assert slots.time is None


def test_bare_am_at_the_end_of_a_sentence() -> None:
    assert extract_slots("at ten thirty am", TODAY).time == dt.time(10, 30)
    assert extract_slots("um 3 am Montag", TODAY).times[0].ambiguous


def test_date_and_time_together() -> None:
    slots = extract_slots("Geht es nächsten Dienstag um halb vier?", TODAY)
    assert slots.date == dt.date(2026, 11, 24)
    assert slots.time == dt.time(3, 30)
    assert slots.times[0].text == "halb vier"
