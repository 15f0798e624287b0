"""Split a document into spoken-answer-sized chunks.

llama-index's ``MarkdownNodeParser`` cuts the text at headings (each node keeps
its heading path); each section is then cut into groups of a few sentences, at
most ``max_chars`` long, so that one chunk is about what an agent would say in
one answer. Plain text without headings is one section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser

from appliance.knowledge.sentences import split_sentences
from appliance.knowledge.stopwords import ENGLISH, GERMAN, OTHER_LANGUAGES

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Chunk:
    text: str
    section: str
    index: int


def document_title(text: str, fallback: str) -> str:
    """The first heading, else the first line, else ``fallback``."""
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            return match.group(2)
        if line.strip():
            return line.strip()[:120]
    return fallback


def detect_language(text: str) -> str:
    """The language whose function words the text uses most (``de``, ``en``, ``fr``, ...).

    German and English are the languages served; a few others are recognised so
    that a document in one of them can be refused instead of mis-indexed.
    """
    words = re.findall(r"[^\W\d_]+", text.lower())
    counts = {
        "de": sum(w in GERMAN for w in words) + 2 * sum("ß" in w or "ü" in w for w in words),
        "en": sum(w in ENGLISH for w in words),
    }
    for code, stop in OTHER_LANGUAGES.items():
        counts[code] = sum(w in stop for w in words)
    best = max(counts, key=lambda code: counts[code])
    # German and English win ties and texts too short to tell.
    if counts[best] <= max(counts["de"], counts["en"]) + 2:
        return "de" if counts["de"] >= counts["en"] else "en"
    return best


def _sections(text: str) -> list[tuple[str, str]]:
    nodes = MarkdownNodeParser().get_nodes_from_documents([Document(text=text)])
    out = []
    for node in nodes:
        body_lines, heading = [], ""
        for line in node.get_content().splitlines():
            match = _HEADING.match(line)
            if match:
                heading = match.group(2)
            else:
                body_lines.append(line)
        body = "\n".join(body_lines).strip()
        if body:
            out.append((heading, body))
    return out


def _group(sentences: list[str], max_sentences: int, max_chars: int) -> list[str]:
    groups: list[list[str]] = [[]]
    for sentence in sentences:
        current = groups[-1]
        too_long = sum(len(s) + 1 for s in current) + len(sentence) > max_chars
        if current and (len(current) >= max_sentences or too_long):
            groups.append(current := [])
        current.append(sentence)
    return [" ".join(group) for group in groups if group]


def chunk_document(text: str, *, max_sentences: int = 2, max_chars: int = 500) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section, body in _sections(text):
        lines = [line.strip() for line in body.splitlines()]
        sentences = split_sentences("\n".join(lines))
        for group in _group(sentences, max_sentences, max_chars):
            chunks.append(Chunk(text=group, section=section, index=len(chunks)))
    return chunks
