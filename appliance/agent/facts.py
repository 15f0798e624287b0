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

from appliance.slots.numbers import parse_english, parse_german

# "one" is an article or pronoun far more often than a number: it is not a fact.
_NOT_NUMBERS = frozenset({"one", "ein", "eine"})
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


def number_value(word: str) -> int | None:
    """A German or English number word (cardinal or ordinal) as its value."""
    word = word.lower()
    if word in _NOT_NUMBERS:
        return None
    parsed = parse_german(word) or parse_english(word)
    return parsed.value if parsed else None


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
