"""One background thread that embeds the collection's newest vocabulary.

Every change of the collection (an upload, a delete, a re-index of many files)
makes a new ``CollectionVocabulary``. Building each in its own thread would let
builds overlap on a machine whose cores also serve calls, and a build started
while the previous one was still running could not reuse its vectors, so it
would embed every word again. Here at most one build runs; a vocabulary that is
superseded before its turn is skipped (no question will use it), and each build
reuses the vectors of the last one that finished.
"""

from __future__ import annotations

import logging
import threading

from appliance.knowledge.embeddings import EmbeddingEngine
from appliance.knowledge.vocabulary import CollectionVocabulary

log = logging.getLogger(__name__)


class VocabularyBuilder:
    def __init__(self, embedder: EmbeddingEngine) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self._pending: CollectionVocabulary | None = None
        self._built: CollectionVocabulary | None = None
        self._worker: threading.Thread | None = None
        self.skipped = 0
        """Vocabularies superseded before they were built."""

    def submit(
        self, vocabulary: CollectionVocabulary, previous: CollectionVocabulary | None = None
    ) -> None:
        """Build ``vocabulary`` in the background; ``previous`` is a built one to
        reuse when this builder has built none yet."""
        with self._lock:
            if self._pending is not None:
                self.skipped += 1
            self._pending = vocabulary
            if self._built is None and previous is not None and previous.ready:
                self._built = previous
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="kb-vocabulary", daemon=True)
                self._worker.start()

    def build_now(self, vocabulary: CollectionVocabulary) -> None:
        """Build ``vocabulary`` on this thread (start-up: nothing to wait for yet)."""
        vocabulary.build(self._embedder, reuse=self._reusable())
        self._finished(vocabulary)

    def idle(self, timeout_s: float) -> bool:
        """Wait until no build is running or pending (tests, shutdown)."""
        with self._lock:
            worker = self._worker
        if worker is not None:
            worker.join(timeout_s)
            return not worker.is_alive()
        return True

    def _reusable(self) -> CollectionVocabulary | None:
        with self._lock:
            return self._built

    def _finished(self, vocabulary: CollectionVocabulary) -> None:
        if vocabulary.ready:
            with self._lock:
                self._built = vocabulary

    def _run(self) -> None:
        while True:
            with self._lock:
                vocabulary, self._pending = self._pending, None
                if vocabulary is None:
                    self._worker = None
                    return
            try:
                vocabulary.build(self._embedder, reuse=self._reusable())
            except Exception:  # a background thread must not die silently
                log.exception("the knowledge vocabulary could not be embedded")
            self._finished(vocabulary)
