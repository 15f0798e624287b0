"""Customer numbers, postcodes and phone numbers spoken digit by digit or in groups."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.slots import extract_slots

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Kundennummer 4 7 1 1", "4711"),
        ("Meine Kundennummer ist 4711", "4711"),
        ("meine Kundennummer lautet vier sieben eins eins", "4711"),
        ("Kundennummer siebenundvierzig elf", "4711"),
        ("Kunden-Nr. 12-34-56", "123456"),
        ("Kundennummer: 4, 7, 1, 1", "4711"),
        ("Kundennummer äh 4 7 1 1 2 2", "471122"),
        ("Patientennummer 0 0 8 1 5", "00815"),
        ("Versichertennummer 123 456 789", "123456789"),
        ("my customer number is 4711 2345", "47112345"),
        ("customer number four seven one one", "4711"),
        ("my account number is double seven three oh five", "77305"),
        ("the customer ID is forty seven eleven", "4711"),
    ],
)
def test_customer_numbers(text: str, number: str) -> None:
    slots = extract_slots(text, TODAY)
    assert slots.customer_number == number, slots


def test_customer_number_keeps_other_numbers_apart() -> None:
    slots = extract_slots("Kundennummer 4711, geboren am 3.4.1980", TODAY)
    assert slots.customer_number == "4711"
    assert slots.date_of_birth == dt.date(1980, 4, 3)
    slots = extract_slots("Kundennummer 4711, 1980 geboren", TODAY)
    assert slots.customer_number == "4711"


def test_customer_number_needs_a_cue_or_the_question() -> None:
    assert extract_slots("4 7 1 1", TODAY).customer_number is None
    answer = extract_slots("das ist die 4 7 1 1", TODAY, expected="customer_number")
    assert answer.customer_number == "4711"
    assert answer.customer_numbers[0].text == "4 7 1 1"


def test_customer_number_span_points_at_the_spoken_words() -> None:
    text = "Also meine Kundennummer ist vier sieben eins eins, danke"
    slot = extract_slots(text, TODAY).customer_numbers[0]
    assert text[slot.start : slot.end] == "vier sieben eins eins"
    assert slot.text == "vier sieben eins eins"


@pytest.mark.parametrize(
    ("text", "postcode"),
    [
        ("Postleitzahl 21073", "21073"),
        ("PLZ 2 1 0 7 3", "21073"),
        ("meine Postleitzahl ist einundzwanzig null dreiundsiebzig", "21073"),
        ("the postcode is 1 0 1 1 5", "10115"),
        ("zip code 80331", "80331"),
    ],
)
def test_postcodes(text: str, postcode: str) -> None:
    assert extract_slots(text, TODAY).postcode == postcode


def test_postcode_must_have_five_digits() -> None:
    assert extract_slots("Postleitzahl 2107", TODAY).postcode is None
    assert extract_slots("21073", TODAY, expected="postcode").postcode == "21073"


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Meine Telefonnummer ist 0 1 7 6 12 34 56 78", "017612345678"),
        ("Rufnummer 040 123456", "040123456"),
        ("erreichbar unter null vier null, eins zwei drei vier fünf sechs", "040123456"),
        ("Handy 0176/1234567", "01761234567"),
        (
            "call me back on plus four nine one seven six double five one two three four",
            "+49176551234",
        ),
        ("my phone number is 0049 40 123456", "+4940123456"),
        ("you can reach me at 07700 900123", "07700900123"),
        ("Bitte rufen Sie 0176 12345678 an", "017612345678"),
        ("Telefon +49 (0) 40 123456", "+4940123456"),
        ("my number is oh seven seven double oh nine double oh one two three", "07700900123"),
    ],
)
def test_phone_numbers(text: str, phone: str) -> None:
    assert extract_slots(text, TODAY).phone_number == phone


def test_short_numbers_are_not_phone_numbers() -> None:
    assert extract_slots("Telefonnummer 1 2 3", TODAY).phone_number is None
    assert extract_slots("Ich habe 12 Euro", TODAY).phone_number is None


def test_everything_in_one_turn() -> None:
    slots = extract_slots(
        "Kundennummer 4 7 1 1, geboren am 12. Mai 1980, PLZ 21073, "
        "Termin am Freitag um 15 Uhr 30, Rückruf unter 040 123456",
        TODAY,
    )
    assert slots.customer_number == "4711"
    assert slots.date_of_birth == dt.date(1980, 5, 12)
    assert slots.postcode == "21073"
    assert slots.date == dt.date(2026, 11, 27)
    assert slots.time == dt.time(15, 30)
    assert slots.phone_number == "040123456"
