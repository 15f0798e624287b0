"""Does a passage hold a question's word? Inflections and German compounds.

A word is held when the passage has it, an inflection of it ("Besuch" /
"Besuchen", "PIN" / "PINs"), a verb with a short prefix ("mitbringen" /
"bringen"), or a compound it is part of ("Bus" / "Buslinien": a passage about
bus lines covers a question about the bus).

The other way round is stricter: a more specific compound in the question is
held only when **both** its parts are ("Kontoeröffnung" needs "Konto" and
"Eröffnung", "Dispozinsen" needs "Dispo" and a "Zins…" word). A passage about
"Überweisungen" does not cover "Auslandsüberweisung", nor one about the
"Geburtsstation" "Geburtsvorbereitungskurse"; and a word found in the middle of
another ("rank" in "Krankentransport") is no match at all.
"""

from __future__ import annotations

from collections.abc import Sequence

_STEM = 6  # a shared beginning this long with similar lengths is an inflection
_ENDING = 4  # inflection endings and short verb prefixes are at most this long
_MIN_PART = 4  # a compound part is at least this long
_COMPOUND = 8  # shorter words are not split into parts


def word_matches(word: str, others: Sequence[str]) -> bool:
    """``word`` (lower case) is held by one of ``others`` (the passage's words)."""
    return any(same_or_within(word, other) for other in others) or (
        len(word) >= _COMPOUND and _parts_held(word, others)
    )


def same_or_within(word: str, other: str) -> bool:
    """``other`` is ``word``, an inflection of it, or a compound it starts or ends."""
    return word == other or _inflected(word, other) or _general_in(word, other)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _inflected(a: str, b: str) -> bool:
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    extra = len(long_) - len(short)
    if extra > _ENDING:
        return False
    if len(short) >= 3 and long_.startswith(short):
        return True  # pin / pins, ask / asked
    if len(short) >= _MIN_PART and long_.endswith(short):
        return True  # bringen / mitbringen, rufen / anrufen
    return _common_prefix(a, b) >= _STEM  # überziehe / überziehungen


def _general_in(word: str, other: str) -> bool:
    """The question's word starts or ends a longer passage word: "Bus" / "Buslinien"."""
    if len(word) >= len(other):
        return False
    return (
        other.startswith(word)
        if len(word) < _MIN_PART
        else (other.startswith(word) or other.endswith(word))
    )


def _part_held(part: str, others: Sequence[str]) -> bool:
    """The part is a passage word (linking letters and endings may differ: "Zins" /
    "Zinssatz") or ends one; "Auto" is not held by "Automaten"."""
    wanted = max(_MIN_PART, len(part) - 2)
    return any(
        (_common_prefix(part, other) >= wanted and len(other) <= len(part) + _ENDING)
        or other.endswith(part)
        for other in others
    )


def _parts_held(word: str, others: Sequence[str]) -> bool:
    """Some split of ``word`` into modifier + head has both parts in the passage."""
    for cut in range(_MIN_PART, len(word) - _MIN_PART + 1):
        modifier, head = word[:cut], word[cut:]
        if _part_held(head, others) and _part_held(modifier, others):
            return True
    return False
