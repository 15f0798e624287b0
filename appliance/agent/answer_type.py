"""What kind of fact a question asks for, and whether a sentence states one.

Classic answer-type matching from extractive question answering: "when / wann"
wants a time, day or duration (English "open" only with a time: "open an
account" asks for none); "how much / was kostet" an amount; "which number
/ welche Nummer" a phone number. A sentence that states the wanted kind of fact
is preferred over an equally similar one that does not.
"""

from __future__ import annotations

import re

_WANTS = {
    "time": re.compile(
        r"\b(?:wann|uhr|wie\s+lange|geöffnet|offen|when|what\s+time|how\s+long|hours|"
        r"open\s+(?:on|at|until|till|today|tomorrow)|opening)\b",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        r"\b(?:kost\w*|wie\s+viel|wie\s+hoch|preis\w*|gebühr\w*|zins\w*|limit\w*|"
        r"how\s+much|cost\w*|price\w*|fee\w*|charge\w*|rate\w*)\b",
        re.IGNORECASE,
    ),
    "phone": re.compile(
        r"\b(?:nummer|telefon\w*|anruf\w*|erreich\w*|phone|number|call|reach)\b", re.IGNORECASE
    ),
}
_STATES = {
    "time": re.compile(
        r"\d{1,2}[:.]\d{2}|\b\d+\s*(?:uhr|stunden?|tagen?|wochen?|monate?n?|minuten|hours?|days?|"
        r"weeks?|months?|minutes)\b|\b(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|"
        r"sonntag|werktag|wochenende|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
        r"weekday|weekend)\w*",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        r"€|\b(?:euro|prozent|kostenlos|kostenfrei|gebührenfrei|percent|free\s+of\s+charge)\b|%",
        re.IGNORECASE,
    ),
    "phone": re.compile(r"\d[\d /-]{4,}\d"),
}


def wanted_types(question: str) -> frozenset[str]:
    return frozenset(kind for kind, cue in _WANTS.items() if cue.search(question))


def states_wanted(sentence: str, wanted: frozenset[str]) -> bool:
    return any(_STATES[kind].search(sentence) for kind in wanted)


def cue_kinds(word: str) -> frozenset[str]:
    """The kinds of fact a single question word asks for ("Nummer" → phone)."""
    return frozenset(kind for kind, cue in _WANTS.items() if cue.fullmatch(word))
