"""Cut a token stream into speakable chunks so the voice starts early.

The first chunk may end at a clause boundary (a comma after a few words) so
the caller hears something while the model is still writing; later chunks end
at sentence boundaries. Abbreviations and ordinals ("Dr.", "z. B.", "am 1.
Mai") do not end a sentence.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "nr",
        "no",
        "vs",
        "etc",
        "ca",
        "bzw",
        "usw",
        "z",
        "b",
        "d",
        "h",
        "u",
        "a",
        "e",
        "g",
        "i",
        "ggf",
        "inkl",
        "evtl",
        "max",
        "min",
        "tel",
        "str",
        "abs",
        "fa",
        "hr",
        "fr",
        "sog",
        "vgl",
        "mio",
        "mrd",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "okt",
        "oct",
        "nov",
        "dez",
        "dec",
    ]
)
_MARKUP = re.compile(r"[*_#`~>|]+")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = ".!?;…"
_CLAUSE_END = ",:\u2013\u2014"  # comma, colon, en and em dash


def speakable(text: str) -> str:
    """Remove markup a voice should not read out and tidy white space."""
    return _SPACES.sub(" ", _MARKUP.sub(" ", text)).strip()


def _ends_sentence(buffer: str, index: int) -> bool:
    """Is the punctuation at ``index`` (followed by white space) a sentence end?"""
    if buffer[index] != ".":
        return True
    words = buffer[:index].split()
    if not words:
        return False
    last = words[-1].lower().strip("()[]\"'")
    if last.isdigit() and len(last) <= 2:
        return False  # an ordinal: "am 1. Mai", "the 3. floor" is rare but harmless
    return last.split(".")[-1] not in _ABBREVIATIONS


class SentenceChunker:
    def __init__(self, *, first_chunk_min_words: int = 5, max_chars: int = 240) -> None:
        self.first_chunk_min_words = first_chunk_min_words
        self.max_chars = max_chars
        self._buffer = ""
        self._emitted = 0

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        chunks: list[str] = []
        while (cut := self._next_cut()) is not None:
            chunk, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if text := speakable(chunk):
                chunks.append(text)
                self._emitted += 1
        return chunks

    def flush(self) -> list[str]:
        text, self._buffer = speakable(self._buffer), ""
        if text:
            self._emitted += 1
            return [text]
        return []

    def _next_cut(self) -> int | None:
        buffer = self._buffer
        for index in range(len(buffer) - 1):
            char = buffer[index]
            if char == "\n" and buffer[:index].strip():
                return index + 1
            if not buffer[index + 1].isspace():
                continue
            if char in _SENTENCE_END and _ends_sentence(buffer, index):
                return index + 1
            if (
                char in _CLAUSE_END
                and self._emitted == 0
                and len(buffer[:index].split()) >= self.first_chunk_min_words
            ):
                return index + 1
        if len(buffer) > self.max_chars:
            space = buffer.rfind(" ", 0, self.max_chars)
            return space if space > 0 else self.max_chars
        return None
