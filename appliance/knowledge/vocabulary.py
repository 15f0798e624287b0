"""The words of a whole collection: how specific is a word here, and is there
anything like it at all?

A question about a cafeteria lands on some passage about the hospital; what
gives it away is that *no* chunk of the collection has a word anywhere near
"Cafeteria". The vocabulary holds each content word of the collection once,
with its vector, and answers "how close is the nearest collection word" for the
question's words that the best passage does not hold.

Embedding the vocabulary costs about 0.25 ms a word with USE on this machine
(some hundred milliseconds for a few thousand words), once per change of the
collection. ``build()`` runs it; ``Retriever.prepare()`` calls it at start-up,
and after the collection changes ``VocabularyBuilder`` runs it in a background
thread while questions fall back to the words of the retrieved passages.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from appliance.knowledge.embeddings import EmbeddingEngine, Vectors
from appliance.knowledge.word_match import same_or_within

log = logging.getLogger(__name__)

MAX_WORDS = 50_000
"""Bound on memory (512 floats a word): beyond it the rarest words are left out."""
_BUCKET = 3  # words are found by their first and last three letters
_IDF_CACHE = 100_000


class CollectionVocabulary:
    def __init__(self, chunks: Iterable[Sequence[str]], *, max_words: int = MAX_WORDS) -> None:
        """``chunks``: the content words of each chunk, each word once."""
        df: Counter[str] = Counter()
        n = 0
        for words in chunks:
            df.update(words)
            n += 1
        self.chunks = n
        self.words = [w for w, _ in df.most_common(max_words)]
        self._df = {w: df[w] for w in self.words}
        self._by_start: dict[str, list[str]] = {}
        self._by_end: dict[str, list[str]] = {}
        for w in self.words:
            self._by_start.setdefault(w[:_BUCKET], []).append(w)
            self._by_end.setdefault(w[-_BUCKET:], []).append(w)
        self._idf: dict[str, float] = {}
        self._vectors: Vectors | None = None
        self.embedded = 0
        """How many words the build embedded (the others were reused)."""
        self._ready = threading.Event()
        self._lock = threading.Lock()

    def idf(self, word: str) -> float:
        """Inverse chunk frequency of ``word`` counting its inflections and the
        compounds it starts or ends: "Bank" is in every chunk titled "Sparbank", so
        it names no particular topic there. A word no chunk holds weighs most."""
        known = self._idf.get(word)
        if known is not None:
            return known
        candidates = {
            *self._by_start.get(word[:_BUCKET], ()),
            *self._by_end.get(word[-_BUCKET:], ()),
        }
        df = min(self.chunks, sum(self._df[v] for v in candidates if same_or_within(word, v)))
        value = math.log(1 + (self.chunks - df + 0.5) / (df + 0.5))
        if len(self._idf) < _IDF_CACHE:
            self._idf[word] = value
        return value

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def build(self, embedder: EmbeddingEngine, reuse: CollectionVocabulary | None = None) -> None:
        """Embed every word (idempotent; safe from several threads). Words the
        built ``reuse`` (the collection's previous vocabulary) holds keep their
        vectors: after a document is added only its new words are embedded."""
        with self._lock:
            if self._ready.is_set():
                return
            started = time.perf_counter()
            known = reuse.vectors_by_word() if reuse is not None else {}
            new = [w for w in self.words if w not in known]
            fresh = dict(zip(new, embedder.embed(new), strict=True)) if new else {}
            if self.words:
                rows = [known[w] if w in known else fresh[w] for w in self.words]
                self._vectors = np.asarray(rows, dtype=np.float32)
            self.embedded = len(new)
            self._ready.set()
        log.info(
            "knowledge vocabulary embedded",
            extra={
                "words": len(self.words),
                "embedded": len(new),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    def vectors_by_word(self) -> dict[str, Vectors]:
        """Each word's vector ({} until built)."""
        if not self._ready.is_set() or self._vectors is None:
            return {}
        return dict(zip(self.words, self._vectors, strict=True))

    def wait(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    def nearest(self, vectors: Vectors) -> np.ndarray | None:
        """Cosine of each row's nearest collection word; None until built."""
        if not self._ready.is_set():
            return None
        if self._vectors is None or len(vectors) == 0:
            return np.zeros(len(vectors), dtype=np.float32)
        return np.asarray((vectors @ self._vectors.T).max(axis=1), dtype=np.float32)
