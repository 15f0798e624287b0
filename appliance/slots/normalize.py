"""A transcript with number words turned into digits, mapped back to the original.

``normalize("Kundennummer vier sieben eins eins")`` gives the text
``"kundennummer 4 7 1 1"`` plus, for every character, where it came from, so a
slot found in the normalized text reports the span of the words the caller
actually said. Ordinals become ``"<n>."`` ("dritten" -> "3.", "twenty-first"
-> "21."), English number phrases merge ("twenty three" -> "23"), digits in a
row stay separate ("four seven" -> "4 7"), "double seven" -> "7 7".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.slots.numbers import NumberWord, merge_english, parse_english, parse_german

_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|\d+|\S")
_MONTH_WORDS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_AMBIGUOUS_ORDINALS = frozenset({"first", "second"})


@dataclass(frozen=True)
class Normalized:
    original: str
    text: str
    starts: tuple[int, ...]  # for each character of ``text``: its source start offset
    ends: tuple[int, ...]  # ... and its source end offset

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that ``text[start:end]`` came from."""
        if start >= end:
            raise ValueError("empty span")
        return self.starts[start], self.ends[end - 1]


@dataclass(frozen=True)
class _Tok:
    start: int
    end: int
    word: str  # lower case


def _number(tokens: list[_Tok], i: int) -> NumberWord | None:
    word = tokens[i].word
    if word in {"hundert", "hundred"}:
        return NumberWord(100, kind="hundred")
    if word in {"tausend", "thousand"}:
        return NumberWord(1000, kind="thousand")
    parsed = parse_german(word) or parse_english(word)
    if parsed is None:
        return None
    if word in _AMBIGUOUS_ORDINALS:
        prev = tokens[i - 1].word if i > 0 else ""
        nxt = tokens[i + 1].word if i + 1 < len(tokens) else ""
        after_of = tokens[i + 2].word if nxt == "of" and i + 2 < len(tokens) else ""
        if not (
            prev == "the" or prev in _MONTH_WORDS or nxt in _MONTH_WORDS or after_of in _MONTH_WORDS
        ):
            return None
    return parsed


def _is_numeric(tokens: list[_Tok], i: int) -> bool:
    return 0 <= i < len(tokens) and (tokens[i].word.isdigit() or _number(tokens, i) is not None)


def normalize(text: str) -> Normalized:
    tokens = [_Tok(m.start(), m.end(), m.group(0).lower()) for m in _TOKEN.finditer(text)]
    # (first token, last token, replacement) for every number phrase
    replacements: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.word in ("double", "triple", "doppel", "doppelte") and i + 1 < len(tokens):
            unit = (
                NumberWord(0, kind="unit") if tokens[i + 1].word == "oh" else _number(tokens, i + 1)
            )
            if unit is not None and unit.kind == "unit":
                count = 3 if tok.word == "triple" else 2
                replacements.append((i, i + 1, " ".join([str(unit.value)] * count)))
                i += 2
                continue
        # "oh" is a zero between digits ("four oh seven") or before two of them
        # ("oh one seven ..."); otherwise an interjection ("Oh, I see").
        if (
            tok.word == "oh"
            and _is_numeric(tokens, i + 1)
            and (_is_numeric(tokens, i - 1) or _is_numeric(tokens, i + 2))
        ):
            replacements.append((i, i, "0"))
            i += 1
            continue
        run: list[int] = []
        j = i
        while j < len(tokens):
            if _number(tokens, j) is not None:
                run.append(j)
                j += 1
                continue
            # "two hundred and five": "and"/"und" after hundred/thousand stays in the phrase
            if (
                tokens[j].word in ("and", "und")
                and run
                and _number(tokens, run[-1]) is not None
                and tokens[run[-1]].word in ("hundred", "thousand", "hundert", "tausend")
                and j + 1 < len(tokens)
                and _number(tokens, j + 1) is not None
            ):
                j += 1
                continue
            break
        if not run:
            i += 1
            continue
        words = [n for n in (_number(tokens, k) for k in run) if n is not None]
        for first, last, number in merge_english(words):
            suffix = "." if number.ordinal else ""
            replacements.append((run[first], run[last], f"{number.value}{suffix}"))
        i = j
    return _build(text, tokens, replacements)


def _build(text: str, tokens: list[_Tok], replacements: list[tuple[int, int, str]]) -> Normalized:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for first, last, replacement in replacements:
        src_start, src_end = tokens[first].start, tokens[last].end
        for k in range(pos, src_start):
            out.append(text[k].lower() if len(text[k].lower()) == 1 else text[k])
            starts.append(k)
            ends.append(k + 1)
        out.append(replacement)
        starts.extend([src_start] * len(replacement))
        ends.extend([src_end] * len(replacement))
        pos = src_end
    for k in range(pos, len(text)):
        out.append(text[k].lower() if len(text[k].lower()) == 1 else text[k])
        starts.append(k)
        ends.append(k + 1)
    return Normalized(text, "".join(out), tuple(starts), tuple(ends))
