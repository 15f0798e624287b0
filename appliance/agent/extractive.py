"""An answer made of the passages' own sentences: what the agent says when the
LLM's answer fails the grounding check (or when extractive answers are chosen).

Each sentence of the best passages is scored by
    embedding similarity to the question
    + KEYWORD_WEIGHT * share of the question's keywords it contains
      (prefix matching, so German compounds meet their parts)
    + PASSAGE_WEIGHT * the retrieval score of its passage
    + ANSWER_TYPE_BONUS if it states the kind of fact the question asks for.
The best sentence is spoken with one more: the best of the rest, where the
other sentences of the best one's passage count NEIGHBOUR_BONUS more (a small
sentence window: an answer's condition or second half usually sits beside it,
while a similar sentence of another passage is often about something else).
A third, the next in that order, is added only when all three together stay
within SHORT_ANSWER_WORDS: short sentences often split one fact over two
("Das Tagesmaximum beträgt 9 Euro."), and a short third costs the caller a few
seconds, while a long one would make the answer a lecture. They are spoken in
document order. The weights were chosen on the development
sets (``scripts/bench_kb_relevance.py`` reports the facts rate) from a coarse
grid, at a setting whose neighbours score alike, not at a lucky peak.
Markdown list marks and emphasis are removed so that the voice reads prose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from appliance.agent.answer_type import states_wanted, wanted_types
from appliance.knowledge.embeddings import EmbeddingEngine
from appliance.knowledge.keyword import tokens
from appliance.knowledge.sentences import split_sentences

KEYWORD_WEIGHT = 0.5
PASSAGE_WEIGHT = 0.5
ANSWER_TYPE_BONUS = 0.2
NEIGHBOUR_BONUS = 0.2
SENTENCES = 2
EXTRA_SENTENCES = 1  # added only while the answer stays within SHORT_ANSWER_WORDS
SHORT_ANSWER_WORDS = 40
MAX_WORDS = 50
_MARKUP = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+|\*\*|__|`|^#+\s*", re.MULTILINE)


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: int
    position: int


def speakable(text: str) -> str:
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


def sentences_of(passages: Sequence[str]) -> list[Sentence]:
    out = []
    for p, passage in enumerate(passages):
        for i, sentence in enumerate(split_sentences(passage)):
            text = speakable(sentence)
            if any(ch.isalpha() for ch in text):
                out.append(Sentence(text, p, i))
    return out


def keyword_coverage(question: set[str], sentence: set[str]) -> float:
    """Share of question keywords found in the sentence; a prefix match counts."""
    if not question:
        return 0.0
    found = sum(any(q.startswith(s) or s.startswith(q) for s in sentence) for q in question)
    return found / len(question)


def extractive_answer(
    question: str,
    passages: Sequence[str],
    embedder: EmbeddingEngine,
    passage_scores: Sequence[float] = (),
) -> str:
    """The passages' best sentences in document order; empty if there are none."""
    candidates = sentences_of(passages)
    if not candidates:
        return ""
    vectors = embedder.embed([question, *(c.text for c in candidates)])
    similarity = np.asarray(vectors[1:]) @ np.asarray(vectors[0])
    wanted_words = set(tokens(question))
    wanted = wanted_types(question)
    scores = []
    for c, sim in zip(candidates, similarity, strict=True):
        score = float(sim) + KEYWORD_WEIGHT * keyword_coverage(wanted_words, set(tokens(c.text)))
        if c.passage < len(passage_scores):
            score += PASSAGE_WEIGHT * passage_scores[c.passage]
        if wanted and states_wanted(c.text, wanted):
            score += ANSWER_TYPE_BONUS
        scores.append(score)
    chosen = sorted(
        pick(candidates, scores), key=lambda i: (candidates[i].passage, candidates[i].position)
    )
    words = " ".join(candidates[i].text for i in chosen).split()
    return " ".join(words[:MAX_WORDS])


def pick(candidates: Sequence[Sentence], scores: Sequence[float]) -> list[int]:
    """The best sentence and the ``SENTENCES - 1`` best of the rest, its passage
    preferred; then up to ``EXTRA_SENTENCES`` more while the answer stays short."""
    if not candidates:
        return []
    best = max(range(len(candidates)), key=lambda i: scores[i])
    home = candidates[best].passage

    def windowed(i: int) -> float:
        return scores[i] + (NEIGHBOUR_BONUS if candidates[i].passage == home else 0.0)

    rest = sorted((i for i in range(len(candidates)) if i != best), key=lambda i: -windowed(i))
    chosen = [best, *rest[: SENTENCES - 1]]
    words = sum(_word_count(candidates[i]) for i in chosen)
    for i in rest[SENTENCES - 1 : SENTENCES - 1 + EXTRA_SENTENCES]:
        words += _word_count(candidates[i])
        if words > SHORT_ANSWER_WORDS:
            break
        chosen.append(i)
    return chosen


def _word_count(sentence: Sentence) -> int:
    return len(sentence.text.split())
