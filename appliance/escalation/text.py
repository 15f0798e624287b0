"""Text folding and clause boundaries shared by the cue lexicon and the matcher.

Everything is matched on *folded* text: lower case, umlauts and their ASCII
spellings collapsed onto one form (``ä``/``ae`` -> ``a``, ``ß``/``ss`` -> ``ss``),
apostrophes dropped (``don't`` and ASR's ``dont`` meet) and hyphens turned into
spaces. Patterns are folded with the same function, so a lexicon entry written
as ``Brustschmerz`` matches ``brustschmerzen``, ``Brust-Schmerzen`` is caught by
an optional space, and ``Kündigung``, ``Kuendigung`` and ``Kundigung`` are one
word. The fold is lossy (``neue`` -> ``neu``) but applied to both sides alike.
"""

from __future__ import annotations

import re

_CHARS = str.maketrans(
    {
        "ä": "a",
        "ö": "o",
        "ü": "u",
        "ß": "ss",
        "à": "a",
        "á": "a",
        "â": "a",
        "é": "e",
        "è": "e",
        "ê": "e",
        "\u2019": "",
        "\u2018": "",
        "'": "",
        "`": "",
        "\u00b4": "",
        "-": " ",
        "\u2013": " ",
        "\u2014": " ",
    }
)
_DIGRAPHS = re.compile(r"ae|oe|ue")
_SPACES = re.compile(r"[ \t\r\n]+")

# A clause ends at punctuation or at a coordinating conjunction; negation does
# not reach across it ("kein Notfall, aber er atmet nicht mehr").
CLAUSE_BREAK = re.compile(
    r"[.!?;:,]+|\b(?:aber|sondern|jedoch|und|oder|but|and|or|however|because|weil|denn)\b"
)
SENTENCE_BREAK = re.compile(r"[.!?;]+")


def _digraph(match: re.Match[str]) -> str:
    return match.group(0)[0]


def fold(text: str) -> str:
    """Lower-case ``text`` and collapse spelling variants (see the module docstring)."""
    lowered = text.lower().translate(_CHARS)
    return _SPACES.sub(" ", _DIGRAPHS.sub(_digraph, lowered)).strip()


def fold_pattern(pattern: str) -> str:
    """Fold the letters of a regex source written in lower case; escapes stay intact.

    Only lower-case letters, umlauts, apostrophes and hyphens change, so ``\\b``,
    ``\\w`` and ``\\s`` survive. Character classes must not list letters.
    """
    out = pattern.translate(_CHARS)
    return _DIGRAPHS.sub(_digraph, out)


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause of folded ``text`` around ``[start, end)``."""
    left = 0
    for brk in CLAUSE_BREAK.finditer(text, 0, start):
        left = brk.end()
    nxt = CLAUSE_BREAK.search(text, end)
    right = nxt.start() if nxt else len(text)
    return left, right


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for brk in SENTENCE_BREAK.finditer(text, 0, start):
        left = brk.end()
    nxt = SENTENCE_BREAK.search(text, end)
    right = nxt.start() if nxt else len(text)
    return left, right
