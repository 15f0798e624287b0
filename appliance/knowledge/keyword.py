"""A small in-memory BM25 index over the chunks of a collection.

Tokens are lower-cased words of three or more letters, cut to their first six
characters (a crude stemmer that also matches German inflections and compound
heads), stop words removed. A short query word that no chunk holds as a token
stands for the tokens it starts ("Bus" for "Buslinien"). Scores are normalised
per query into [0, 1] by the score the query would get against a chunk that
contains every query term once (including the words no chunk contains, so a
question about something absent scores low even when its other words are
common).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from appliance.knowledge.stopwords import ENGLISH, GERMAN, QUESTION_WORDS

WORD = re.compile(r"[0-9]+|[^\W\d_]{3,}")
# Two-letter English stop words need no entry: WORD only matches 3+ letters.
_STOP = GERMAN | ENGLISH | QUESTION_WORDS
_PREFIX = 6
_EXPANSIONS = 5  # index terms a short query word may stand for


def tokens(text: str) -> list[str]:
    return [w[:_PREFIX] for w in WORD.findall(text.lower()) if w not in _STOP]


class Bm25:
    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._docs = [Counter(tokens(t)) for t in texts]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = (sum(self._lengths) / len(self._docs)) if self._docs else 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._postings: dict[str, list[int]] = {}
        for i, doc in enumerate(self._docs):
            for term in doc:
                self._postings.setdefault(term, []).append(i)

    def idf(self, token: str) -> float:
        """The token's inverse document frequency; a token no chunk holds gets the most."""
        known = self._idf.get(token)
        return known if known is not None else math.log(1 + (len(self._docs) + 0.5) / 0.5)

    def _starting_with(self, prefix: str) -> list[str]:
        return [t for t in self._idf if t.startswith(prefix) and t != prefix][:_EXPANSIONS]

    def scores(self, query: str) -> dict[int, float]:
        """Normalised BM25 score of every chunk sharing a term with ``query``."""
        wanted = set(tokens(query))
        terms = {t: t for t in wanted & self._idf.keys()}
        for short in wanted - terms.keys():
            # A short word no chunk holds may start one of its compounds: "Bus" / "Buslinien".
            if len(short) < _PREFIX:
                for term in self._starting_with(short):
                    terms.setdefault(term, short)
        # A query word no chunk contains counts as missed, at the idf of an unseen term.
        unseen = math.log(1 + (len(self._docs) + 0.5) / 0.5)
        best = sum(self._idf.get(t, unseen) for t in wanted)
        if not terms:
            return {}
        out: dict[int, float] = {}
        for term in terms:
            idf = self._idf[term]
            for i in self._postings[term]:
                tf = self._docs[i][term]
                norm = self._k1 * (1 - self._b + self._b * self._lengths[i] / self._avg)
                out[i] = out.get(i, 0.0) + idf * tf * (self._k1 + 1) / (tf + norm)
        scale = best * (self._k1 + 1) / (1 + self._k1)
        return {i: s / scale for i, s in out.items()}
