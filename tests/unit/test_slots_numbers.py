"""Number words: German compounds and ordinals, English phrases, normalisation."""

from __future__ import annotations

import pytest

from appliance.slots import normalize, parse_english, parse_german


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("null", 0),
        ("eins", 1),
        ("zwo", 2),
        ("elf", 11),
        ("zwölf", 12),
        ("zwoelf", 12),
        ("siebzehn", 17),
        ("zwanzig", 20),
        ("dreißig", 30),
        ("dreissig", 30),
        ("einundzwanzig", 21),
        ("siebenundvierzig", 47),
        ("neunundneunzig", 99),
        ("hundert", 100),
        ("einhundertzwei", 102),
        ("dreihundertvierundsechzig", 364),
        ("neunzehnhundertachtzig", 1980),
        ("neunzehnhundertneunundsiebzig", 1979),
        ("tausend", 1000),
        ("zweitausend", 2000),
        ("zweitausendvierundzwanzig", 2024),
        ("zweitausendundfünf", 2005),
        ("fünfundzwanzigtausenddreihundert", 25300),
    ],
)
def test_german_cardinals(word: str, value: int) -> None:
    parsed = parse_german(word)
    assert parsed is not None
    assert (parsed.value, parsed.ordinal) == (value, False)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("erste", 1),
        ("ersten", 1),
        ("zweiter", 2),
        ("dritten", 3),
        ("vierte", 4),
        ("siebten", 7),
        ("siebenten", 7),
        ("achter", 8),
        ("zehnten", 10),
        ("neunzehnte", 19),
        ("zwanzigsten", 20),
        ("einundzwanzigste", 21),
        ("dreiundzwanzigster", 23),
        ("einunddreißigsten", 31),
    ],
)
def test_german_ordinals(word: str, value: int) -> None:
    parsed = parse_german(word)
    assert parsed is not None
    assert (parsed.value, parsed.ordinal) == (value, True)


@pytest.mark.parametrize(
    "word", ["ein", "eine", "erst", "beste", "kosten", "seite", "weiter", "und", "zehntel"]
)
def test_german_non_numbers(word: str) -> None:
    assert parse_german(word) is None


@pytest.mark.parametrize(
    ("word", "value", "ordinal"),
    [
        ("seven", 7, False),
        ("nineteen", 19, False),
        ("forty", 40, False),
        ("twenty-three", 23, False),
        ("third", 3, True),
        ("twelfth", 12, True),
        ("twenty-first", 21, True),
        ("thirtieth", 30, True),
    ],
)
def test_english_words(word: str, value: int, ordinal: bool) -> None:
    parsed = parse_english(word)
    assert parsed is not None
    assert (parsed.value, parsed.ordinal) == (value, ordinal)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Kundennummer vier sieben eins eins", "kundennummer 4 7 1 1"),
        ("siebenundvierzig elf", "47 11"),
        ("am dreiundzwanzigsten März", "am 23. märz"),
        ("fünfzehn Uhr dreißig", "15 uhr 30"),
        ("twenty three", "23"),
        ("forty seven eleven", "47 11"),
        ("four seven one one", "4 7 1 1"),
        ("two hundred and five", "205"),
        ("three thousand four hundred twelve", "3412"),
        ("zwei tausend vierundzwanzig", "2024"),
        ("neunzehn hundert achtzig", "1980"),
        ("the twenty-first of May", "the 21. of may"),
        ("thirty first of May", "31. of may"),
        ("double seven four", "7 7 4"),
        ("triple nine", "9 9 9"),
        ("four oh seven", "4 0 7"),
        ("Oh, I see", "oh, i see"),
        ("first of all, second floor", "first of all, second floor"),
        ("March second", "march 2."),
        ("eine Frage", "eine frage"),
    ],
)
def test_normalize(text: str, normalized: str) -> None:
    assert normalize(text).text == normalized


def test_normalized_spans_map_back_to_the_words_said() -> None:
    norm = normalize("Nummer vier sieben, bitte")
    start = norm.text.index("4")
    assert norm.source_span(start, start + 1) == (7, 11)
    assert norm.original[slice(*norm.source_span(start, start + 3))] == "vier sieben"
