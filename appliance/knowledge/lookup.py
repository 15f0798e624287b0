"""The knowledge base as the agent sees it during a call: async, bounded, coded errors.

Embedding and Qdrant work runs in a worker thread (never on the event loop),
one lookup at a time (Qdrant's local mode is not made for concurrent use), and
within ``timeout_s``; failures become ``KB_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from appliance.agent.extractive import extractive_answer
from appliance.errors import ErrorCode
from appliance.knowledge.errors import KnowledgeError

if TYPE_CHECKING:  # qdrant-client loads only where a knowledge base is opened
    from appliance.knowledge.retrieve import Retrieval, Retriever

T = TypeVar("T")


class KnowledgeLookup:
    def __init__(
        self,
        retriever: Retriever,
        *,
        top_k: int,
        timeout_s: float,
        lock: threading.Lock | None = None,
        sole_writer: bool = False,
    ) -> None:
        self.retriever = retriever
        self.top_k = top_k
        self.timeout_s = timeout_s
        self._lock = lock or threading.Lock()
        # Local mode: this process is the store's only writer, so the chunk count
        # holds until the store's generation changes. A server has other writers.
        self._sole_writer = sole_writer
        self._counted: tuple[int, int] | None = None  # (generation, chunks)

    @property
    def collection(self) -> str:
        return self.retriever.store.collection

    async def has_documents(self) -> bool:
        """Asked on every caller turn; with a sole writer answered from memory."""
        store = self.retriever.store
        if self._sole_writer and self._counted and self._counted[0] == store.generation:
            return self._counted[1] > 0
        return await self._bounded(self._count) > 0

    def _count(self) -> int:
        with self._lock:
            store = self.retriever.store
            generation = store.generation
            chunks = store.chunk_count()
            self._counted = (generation, chunks)
            return chunks

    async def lookup(self, question: str) -> Retrieval:
        return await self._bounded(self._retrieve, question)

    async def extractive(
        self, question: str, passages: Sequence[str], scores: Sequence[float] = ()
    ) -> str:
        return await self._bounded(self._extract, question, passages, scores)

    def _retrieve(self, question: str) -> Retrieval:
        with self._lock:
            return self.retriever.retrieve(question, k=self.top_k)

    def _extract(self, question: str, passages: Sequence[str], scores: Sequence[float]) -> str:
        with self._lock:
            return extractive_answer(question, passages, self.retriever.embedder, scores)

    async def _bounded(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout_s)
        except TimeoutError as exc:
            raise KnowledgeError(
                f"the knowledge base did not answer within {self.timeout_s:.1f} s",
                kb_code=ErrorCode.KB_UNAVAILABLE,
            ) from exc
        except KnowledgeError:
            raise
        except Exception as exc:
            raise KnowledgeError(
                f"the knowledge base failed: {type(exc).__name__}",
                kb_code=ErrorCode.KB_UNAVAILABLE,
            ) from exc
