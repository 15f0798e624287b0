"""Number words to integers, German and English, as Whisper writes them.

German numbers are single words built from parts ("siebenundvierzig",
"neunzehnhundertachtzig", "zweitausendvierundzwanzig"); ordinals add ``-te``/
``-ste`` plus a case ending ("dreiundzwanzigster", "am dritten"). English
numbers are several words ("twenty three", "one hundred and five") that
``merge_english`` combines; single digits spoken in a row stay separate so a
digit-by-digit customer number survives ("four seven one one").
"""

from __future__ import annotations

from dataclasses import dataclass

_DE_UNITS = {
    "null": 0,
    "eins": 1,
    "ein": 1,
    "eine": 1,
    "zwei": 2,
    "zwo": 2,
    "drei": 3,
    "vier": 4,
    "fünf": 5,
    "fuenf": 5,
    "funf": 5,
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
}
_DE_TEENS = {
    "zehn": 10,
    "elf": 11,
    "zwölf": 12,
    "zwoelf": 12,
    "zwolf": 12,
    "dreizehn": 13,
    "vierzehn": 14,
    "fünfzehn": 15,
    "fuenfzehn": 15,
    "funfzehn": 15,
    "sechzehn": 16,
    "siebzehn": 17,
    "achtzehn": 18,
    "neunzehn": 19,
}
_DE_TENS = {
    "zwanzig": 20,
    "dreißig": 30,
    "dreissig": 30,
    "vierzig": 40,
    "fünfzig": 50,
    "fuenfzig": 50,
    "funfzig": 50,
    "sechzig": 60,
    "siebzig": 70,
    "achtzig": 80,
    "neunzig": 90,
}
_DE_ORDINAL_STEMS = {"erst": 1, "dritt": 3, "siebt": 7, "acht": 8}
_DE_CASE_ENDINGS = ("en", "er", "em", "es", "e")

_EN_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_EN_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_EN_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_EN_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}


@dataclass(frozen=True)
class NumberWord:
    value: int
    ordinal: bool = False
    kind: str = "cardinal"  # "unit" (0-9), "teen", "tens", "hundred", "thousand", "cardinal"


def _de_below_100(word: str) -> int | None:
    if word in _DE_UNITS and word not in ("ein", "eine"):
        return _DE_UNITS[word]
    if word in _DE_TEENS:
        return _DE_TEENS[word]
    if word in _DE_TENS:
        return _DE_TENS[word]
    if "und" in word:
        unit, _, tens = word.partition("und")
        u = _DE_UNITS.get(unit)
        t = _DE_TENS.get(tens)
        if u is not None and t is not None and 0 < u < 10:
            return t + u
    return None


def _de_cardinal(word: str) -> int | None:
    """A German cardinal written as one word, 0 .. 999 999."""
    if not word:
        return None
    if "tausend" in word:
        left, _, right = word.partition("tausend")
        # "tausend" alone, "eintausend", "zweitausend", "neunzehnhundert..." never reaches here
        thousands = 1 if left in ("", "ein", "eins") else _de_hundreds(left)
        rest = 0 if not right else _de_hundreds(right.removeprefix("und"))
        if thousands is None or rest is None:
            return None
        return thousands * 1000 + rest
    return _de_hundreds(word)


def _de_hundreds(word: str) -> int | None:
    if "hundert" in word:
        left, _, right = word.partition("hundert")
        hundreds = 1 if left in ("", "ein", "eins") else _de_below_100(left)
        rest = 0 if not right else _de_below_100(right.removeprefix("und"))
        if hundreds is None or rest is None:
            return None
        return hundreds * 100 + rest
    return _de_below_100(word)


def parse_german(word: str) -> NumberWord | None:
    """``word`` (lower case) as a German number, cardinal or ordinal."""
    cardinal = _de_cardinal(word)
    if cardinal is not None:
        return NumberWord(cardinal, kind=_kind(word, cardinal))
    for ending in _DE_CASE_ENDINGS:
        if not word.endswith(ending):
            continue
        stem = word[: -len(ending)]
        if stem in _DE_ORDINAL_STEMS:
            return NumberWord(_DE_ORDINAL_STEMS[stem], ordinal=True)
        if stem.endswith("st"):
            value = _de_cardinal(stem[:-2])
            if value is not None and value >= 20:
                return NumberWord(value, ordinal=True)
        if stem.endswith("t"):
            value = _de_cardinal(stem[:-1])
            if value is not None and 2 <= value <= 19:
                return NumberWord(value, ordinal=True)
    return None


def _kind(word: str, value: int) -> str:
    if word in _DE_UNITS or word in _EN_UNITS:
        return "unit"
    if word in _DE_TEENS or word in _EN_TEENS:
        return "teen"
    if word in _DE_TENS or word in _EN_TENS:
        return "tens"
    return "cardinal"


_EN_SINGLE: dict[str, NumberWord] = {
    **{w: NumberWord(v, kind="unit") for w, v in _EN_UNITS.items()},
    **{w: NumberWord(v, kind="teen") for w, v in _EN_TEENS.items()},
    **{w: NumberWord(v, kind="tens") for w, v in _EN_TENS.items()},
    **{w: NumberWord(v, ordinal=True) for w, v in _EN_ORDINALS.items()},
    "hundred": NumberWord(100, kind="hundred"),
    "thousand": NumberWord(1000, kind="thousand"),
}


def parse_english(word: str) -> NumberWord | None:
    """One English word (hyphenated compounds allowed: "twenty-three", "thirty-first")."""
    if "-" not in word:
        return _EN_SINGLE.get(word)
    head, _, tail = word.partition("-")
    tens = _EN_TENS.get(head)
    unit = _EN_SINGLE.get(tail)
    if tens is None or unit is None or not 0 < unit.value < 10:
        return None
    return NumberWord(tens + unit.value, ordinal=unit.ordinal)


def merge_english(words: list[NumberWord]) -> list[tuple[int, int, NumberWord]]:
    """Group a run of English number words into numbers.

    Returns ``(first, last, number)`` index ranges into ``words``. Grammatical
    sequences merge ("twenty three", "two hundred and five", "three thousand
    four hundred"); units in a row stay apart ("four seven one one").
    """
    out: list[tuple[int, int, NumberWord]] = []
    i = 0
    while i < len(words):
        start = i
        w = words[i]
        if w.ordinal or w.kind in ("hundred", "thousand"):
            out.append((i, i, w))
            i += 1
            continue
        total = 0
        current = w.value
        ordinal = False
        i += 1
        if w.kind == "tens" and i < len(words):
            nxt = words[i]
            if 0 < nxt.value < 10 and (nxt.kind in ("unit", "cardinal") or nxt.ordinal):
                current += nxt.value
                ordinal = nxt.ordinal
                i += 1
        while not ordinal and i < len(words) and words[i].kind in ("hundred", "thousand"):
            mult = words[i].value
            if mult == 100:
                current *= 100
            else:
                total += current * 1000
                current = 0
            i += 1
            if i < len(words) and not words[i].ordinal and words[i].kind != "hundred":
                rest = words[i]
                if (
                    rest.kind == "tens"
                    and i + 1 < len(words)
                    and 0 < words[i + 1].value < 10
                    and (words[i + 1].kind == "unit" or words[i + 1].ordinal)
                ):
                    current += rest.value + words[i + 1].value
                    ordinal = words[i + 1].ordinal
                    i += 2
                elif rest.kind in ("unit", "teen", "tens") or (
                    rest.kind == "cardinal" and rest.value < mult
                ):
                    current += rest.value
                    i += 1
                elif rest.ordinal:
                    current += rest.value
                    ordinal = True
                    i += 1
        value = total + current
        out.append(
            (start, i - 1, NumberWord(value, ordinal=ordinal, kind=_merged_kind(words, start, i)))
        )
    return out


def _merged_kind(words: list[NumberWord], start: int, stop: int) -> str:
    return words[start].kind if stop - start == 1 else "cardinal"
