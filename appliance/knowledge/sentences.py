"""Sentence splitting for chunking and extractive answers (no llama-index import)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"„“'(\[]?[A-ZÄÖÜ0-9])|\n\s*\n|\n(?=\s*[-*•] )")


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]
