"""Dates and dates of birth, resolved against an injected today (a Monday)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.slots import extract_slots

TODAY = dt.date(2026, 11, 23)  # Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("am 3.4.", dt.date(2027, 4, 3)),
        ("am 3.4.2027", dt.date(2027, 4, 3)),
        ("am 24.11.", dt.date(2026, 11, 24)),
        ("am 03.12.26", dt.date(2026, 12, 3)),
        ("am dreiundzwanzigsten März", dt.date(2027, 3, 23)),
        ("dreiundzwanzigster März", dt.date(2027, 3, 23)),
        ("am 23. März 2027", dt.date(2027, 3, 23)),
        ("am ersten Dezember", dt.date(2026, 12, 1)),
        ("am dritten vierten", dt.date(2027, 4, 3)),
        ("am 5.12 bitte", dt.date(2026, 12, 5)),
        ("den 30. Dezember", dt.date(2026, 12, 30)),
        ("am 2. Jänner", dt.date(2027, 1, 2)),
        ("am 4. Maerz", dt.date(2027, 3, 4)),
        ("on the 23rd of March", dt.date(2027, 3, 23)),
        ("March 23rd, 2027", dt.date(2027, 3, 23)),
        ("December the fifth", dt.date(2026, 12, 5)),
        ("on December 5", dt.date(2026, 12, 5)),
        ("the twenty-first of May", dt.date(2027, 5, 21)),
        ("on the thirtieth", dt.date(2026, 11, 30)),
        ("am 28.", dt.date(2026, 11, 28)),
        ("am 2.", dt.date(2026, 12, 2)),
        ("2027-01-15", dt.date(2027, 1, 15)),
        ("on 5/1/2027", dt.date(2027, 1, 5)),
        ("heute", TODAY),
        ("morgen früh", dt.date(2026, 11, 24)),
        ("übermorgen", dt.date(2026, 11, 25)),
        ("today", TODAY),
        ("tomorrow afternoon", dt.date(2026, 11, 24)),
        ("the day after tomorrow", dt.date(2026, 11, 25)),
        ("am Mittwoch", dt.date(2026, 11, 25)),
        ("nächsten Dienstag", dt.date(2026, 11, 24)),
        ("kommenden Freitag", dt.date(2026, 11, 27)),
        ("next Tuesday", dt.date(2026, 11, 24)),
        ("on Monday", dt.date(2026, 11, 30)),
        ("this Saturday", dt.date(2026, 11, 28)),
        ("übernächsten Dienstag", dt.date(2026, 12, 1)),
        ("Tuesday after next", dt.date(2026, 12, 1)),
        ("nächste Woche Mittwoch", dt.date(2026, 12, 2)),
        ("next week on Friday", dt.date(2026, 12, 4)),
        ("in zwei Wochen", dt.date(2026, 12, 7)),
        ("in drei Tagen", dt.date(2026, 11, 26)),
        ("in einer Woche", dt.date(2026, 11, 30)),
        ("in 10 days", dt.date(2026, 12, 3)),
        ("in a week", dt.date(2026, 11, 30)),
    ],
)
def test_dates(text: str, expected: dt.date) -> None:
    slots = extract_slots(f"Ich hätte gern einen Termin {text}", TODAY)
    assert slots.date == expected, slots


@pytest.mark.parametrize(
    "text",
    ["Guten Morgen", "am Morgen", "am 31.2.", "um 15.30 Uhr", "Kontostand bitte"],
)
def test_not_a_date(text: str) -> None:
    assert extract_slots(text, TODAY).date is None


def test_heute_morgen_is_this_morning_not_tomorrow() -> None:
    slots = extract_slots("heute Morgen war ich schon da", TODAY)
    assert [s.value for s in slots.dates] == [TODAY]


def test_a_date_without_year_is_marked_ambiguous_and_explicit_year_is_not() -> None:
    assert extract_slots("am 3.4.", TODAY).dates[0].ambiguous
    assert not extract_slots("am 3.4.2027", TODAY).dates[0].ambiguous


def test_today_is_injected_not_read_from_the_clock() -> None:
    assert extract_slots("morgen", dt.date(2030, 2, 28)).date == dt.date(2030, 3, 1)
    assert extract_slots("am 1.3.", dt.date(2030, 3, 2)).date == dt.date(2031, 3, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ich bin am 12.05.1980 geboren", dt.date(1980, 5, 12)),
        ("geboren am dritten vierten neunzehnhundertneunundsiebzig", dt.date(1979, 4, 3)),
        ("mein Geburtsdatum ist der 1. Januar 1950", dt.date(1950, 1, 1)),
        ("Geburtsdatum 7.8.65", dt.date(1965, 8, 7)),
        ("geboren am 7.8.05", dt.date(2005, 8, 7)),
        ("I was born on the fifth of June nineteen eighty-five", dt.date(1985, 6, 5)),
        ("date of birth March 3rd 1990", dt.date(1990, 3, 3)),
        ("my birthday is 14 July 2001", dt.date(2001, 7, 14)),
        ("born twenty oh five, on May 2nd", None),
        ("date of birth 3/4/85", dt.date(1985, 4, 3)),
        ("geboren am zwölften Mai zweitausendeins", dt.date(2001, 5, 12)),
        ("my date of birth is the twelfth of the third nineteen seventy", dt.date(1970, 3, 12)),
        ("Ich bin am 5. Juli 80 geboren", dt.date(1980, 7, 5)),
    ],
)
def test_dates_of_birth(text: str, expected: dt.date | None) -> None:
    slots = extract_slots(text, TODAY)
    assert slots.date_of_birth == expected, slots


def test_date_of_birth_without_cue_when_asked_for() -> None:
    asked = extract_slots("12. Mai 1980", TODAY, expected="date_of_birth")
    assert asked.date_of_birth == dt.date(1980, 5, 12)
    assert asked.dates == ()
    plain = extract_slots("12. Mai 1980", TODAY)
    assert plain.date_of_birth is None
    assert plain.date == dt.date(1980, 5, 12)


def test_birth_date_and_appointment_in_one_sentence() -> None:
    slots = extract_slots(
        "Geboren am 12.5.1980, und ich brauche einen Termin am 3. Dezember", TODAY
    )
    assert slots.date_of_birth == dt.date(1980, 5, 12)
    assert slots.date == dt.date(2026, 12, 3)


def test_weekday_in_apposition_names_the_following_date() -> None:
    slots = extract_slots("am Montag, den 7. Dezember, um 14 Uhr", TODAY)
    assert [s.value for s in slots.dates] == [dt.date(2026, 12, 7)]
    slots = extract_slots("on Friday the 4th of December", TODAY)
    assert [s.value for s in slots.dates] == [dt.date(2026, 12, 4)]


def test_month_name_may_is_not_the_verb() -> None:
    slots = extract_slots("May I have an appointment on May 5?", TODAY)
    assert [s.value for s in slots.dates] == [dt.date(2027, 5, 5)]
