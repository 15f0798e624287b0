"""Is a short burst over the agent a real turn, or just "mhm"?

Callers acknowledge while listening ("mhm", "ja", "okay", "genau") and cough.
None of that should cut the agent off. A burst counts as a backchannel when
its transcript is empty (a cough, a breath, noise) or consists only of a few
acknowledgement words.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"[\[(*][^\])*]*[\])*]")
_NON_WORD = re.compile(r"[^\w\s'-]+")

BACKCHANNELS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "mhm",
            "mm",
            "mmm",
            "hm",
            "hmm",
            "uh-huh",
            "uh",
            "huh",
            "um",
            "yeah",
            "yes",
            "yep",
            "yup",
            "okay",
            "ok",
            "right",
            "sure",
            "alright",
            "i",
            "see",
            "got",
            "it",
            "cool",
            "fine",
            "good",
            "oh",
            "ah",
            "aha",
        ]
    ),
    "de": frozenset(
        [
            "mhm",
            "mm",
            "hm",
            "hmm",
            "ja",
            "jaja",
            "jo",
            "genau",
            "okay",
            "ok",
            "richtig",
            "stimmt",
            "gut",
            "klar",
            "alles",
            "aha",
            "ach",
            "so",
            "na",
            "naja",
            "achso",
            "super",
            "prima",
        ]
    ),
}
MAX_WORDS = 3


def acknowledgement_words(text: str) -> list[str]:
    cleaned = _NON_WORD.sub(" ", _BRACKETED.sub(" ", text.lower()))
    return [word.strip("'-") for word in cleaned.split() if word.strip("'-")]


def is_backchannel(text: str, language: str) -> bool:
    words = acknowledgement_words(text)
    if not words:
        return True
    vocabulary = BACKCHANNELS.get(language, frozenset()) | BACKCHANNELS["en"]
    return len(words) <= MAX_WORDS and all(word in vocabulary for word in words)
