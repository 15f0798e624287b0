"""The checkable facts a spoken sentence states: numbers, times, amounts, phone numbers, names.

A grounded answer may only state facts that its passages (or the caller's own
question) contain. Facts are compared in a normal form so that "14 Uhr",
"14:00", "fourteen" and "14.00" meet: every number becomes its digits without
leading zeros (number words up to the hundreds included, German and English),
and every name is compared lower-cased by its first six letters (German
inflections meet) or as part of a longer word (a compound's tail: "Aufnahme"
in "Patientenaufnahme").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS_EN = {
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
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_UNITS_DE = {
    "null": 0,
    "eins": 1,
    "zwei": 2,
    "zwo": 2,
    "drei": 3,
    "vier": 4,
    "fünf": 5,
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
    "zehn": 10,
    "elf": 11,
    "zwölf": 12,
    "dreizehn": 13,
    "vierzehn": 14,
    "fünfzehn": 15,
    "sechzehn": 16,
    "siebzehn": 17,
    "achtzehn": 18,
    "neunzehn": 19,
    "zwanzig": 20,
    "dreißig": 30,
    "vierzig": 40,
    "fünfzig": 50,
    "sechzig": 60,
    "siebzig": 70,
    "achtzig": 80,
    "neunzig": 90,
    "hundert": 100,
}
# "ein"/"eine"/"one" are articles far more often than numbers: they are not facts.
NUMBER_WORDS = {**_UNITS_EN, **_UNITS_DE}
_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:[-'][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;…]\s+|\n\s*(?:[-*•]\s*)?)$")
# Capitalised words that are never names: formal address and sentence-like
# openers in German, the pronoun I in English.
_NOT_NAMES = frozenset(
    {
        "sie",
        "ihr",
        "ihre",
        "ihrer",
        "ihren",
        "ihrem",
        "ihres",
        "ihnen",
        "i",
        "i'm",
        "i'll",
        "i'd",
        "i've",
        "ok",
        "okay",
    }
)
_STEM = 6


@dataclass(frozen=True)
class Facts:
    numbers: frozenset[str]
    names: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.numbers or self.names)


def _german_compound(word: str) -> int | None:
    """einundzwanzig → 21, siebenundvierzig → 47 (the common spoken compounds)."""
    if "und" not in word:
        return None
    unit, _, tens = word.partition("und")
    unit = {"ein": "eins"}.get(unit, unit)
    if unit in _UNITS_DE and tens in _UNITS_DE and _UNITS_DE[tens] % 10 == 0:
        return _UNITS_DE[unit] + _UNITS_DE[tens]
    return None


def number_value(word: str) -> int | None:
    word = word.lower()
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    return _german_compound(word)


def _norm_number(digits: str) -> str:
    return digits.lstrip("0") or "0"


def extract_facts(text: str, *, names: bool = True) -> Facts:
    numbers = {_norm_number(m.group()) for m in _NUMBER.finditer(text)}
    found_names: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group()
        value = number_value(word)
        if value is not None:
            numbers.add(str(value))
            continue
        if not names or len(word) < 2 or not word[0].isupper() or word.lower() in _NOT_NAMES:
            continue
        if _SENTENCE_START.search(text[: match.start()]):
            continue  # sentence-initial capitals say nothing
        found_names.add(word.lower())
    return Facts(frozenset(numbers), frozenset(found_names))


def stem(word: str) -> str:
    return word.lower()[:_STEM]


def vocabulary(text: str) -> frozenset[str]:
    """Every word of ``text`` as a stem, plus every number in normal form."""
    words = {stem(w) for w in _WORD.findall(text)}
    return frozenset(words | extract_facts(text, names=False).numbers)
