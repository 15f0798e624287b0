"""Open the knowledge base the settings describe: verified embedder, store, retriever.

Qdrant runs in local mode under ``data_dir/vectors`` by default; with
``knowledge.qdrant_url`` set, the same collections live on a Qdrant server
(API key from a secret file, TLS with an optional private CA bundle).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from appliance.config import KnowledgeSettings, Settings
from appliance.errors import ErrorCode
from appliance.knowledge.embeddings import (
    EmbeddingEngine,
    OpenAICompatibleEmbeddings,
    UseEmbeddings,
)
from appliance.knowledge.errors import KnowledgeError
from appliance.knowledge.ingest import KnowledgeStore, open_local_client
from appliance.knowledge.lookup import KnowledgeLookup
from appliance.knowledge.retrieve import Retriever
from appliance.knowledge.sources import SourceArchive
from models.registry import ModelRegistry


@dataclass
class Knowledge:
    client: QdrantClient
    store: KnowledgeStore
    retriever: Retriever
    sources: SourceArchive
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held for every store operation: Qdrant's local mode is not made for concurrent use."""
    owns_client: bool = True
    """False for another collection opened on this one's client (``other_collection``)."""

    def lookup(self, settings: Settings) -> KnowledgeLookup:
        config = settings.knowledge
        return KnowledgeLookup(
            self.retriever,
            top_k=config.top_k,
            timeout_s=config.lookup_timeout_s,
            lock=self.lock,
            sole_writer=config.qdrant_url is None,  # local mode: the path is ours alone
        )

    @property
    def collection(self) -> str:
        return self.store.collection

    def other_collection(self, settings: Settings, collection: str) -> Knowledge:
        """Another knowledge base on the same client, embedder and lock (one Qdrant
        local-mode path admits one client)."""
        store = _store(self.client, self.store.embedder, settings.knowledge, collection)
        return Knowledge(
            self.client,
            store,
            _retriever(store, settings.knowledge),
            _sources(settings, collection),
            lock=self.lock,
            owns_client=False,
        )

    def close(self) -> None:
        if self.owns_client:
            self.client.close()
            self.store.embedder.close()


def open_server_client(config: KnowledgeSettings) -> QdrantClient:
    """A client for the configured Qdrant server, checked to answer."""
    url = str(config.qdrant_url)
    api_key = _read_secret(config.qdrant_api_key_file, "Qdrant API key")
    # Passed through to the HTTP client: a private CA for the server certificate.
    extra: dict[str, Any] = {"verify": str(config.qdrant_ca_file)} if config.qdrant_ca_file else {}
    client = QdrantClient(
        url=url,
        api_key=api_key,
        https=url.startswith("https://"),
        timeout=max(1, round(config.qdrant_timeout_s)),
        check_compatibility=False,  # checked below, with a clear error instead of a warning
        **extra,
    )
    try:
        client.get_collections()
    except Exception as exc:
        client.close()
        raise KnowledgeError(
            f"the Qdrant server at {url} is unreachable ({type(exc).__name__}); check "
            "knowledge.qdrant_url, the network and the API key",
            kb_code=ErrorCode.KB_UNAVAILABLE,
        ) from exc
    return client


def _read_secret(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text("utf-8").strip()
    except OSError as exc:
        raise KnowledgeError(
            f"cannot read the {what} file {path}: {exc.strerror}",
            kb_code=ErrorCode.KB_UNAVAILABLE,
        ) from exc


def open_embedder(settings: Settings) -> EmbeddingEngine:
    """The configured embeddings endpoint, else the embedded USE model (verified)."""
    config = settings.knowledge
    if config.embedding_url:
        return OpenAICompatibleEmbeddings(
            base_url=config.embedding_url,
            model=config.embedding_model,
            dim=int(config.embedding_dim or 0),
            api_key=_read_secret(config.embedding_api_key_file, "embedding API key"),
        )
    registry = ModelRegistry(data_dir=settings.data_dir, bundle_dir=settings.models.bundle_dir)
    weights = registry.path(config.embedding_model)
    return UseEmbeddings(weights=weights, sp_model=weights.with_name("sp.model"))


def open_knowledge(settings: Settings) -> Knowledge:
    """USE multilingual from its package; Qdrant local mode or the configured server."""
    config = settings.knowledge
    embedder = open_embedder(settings)
    if config.qdrant_url:
        client = open_server_client(config)
    else:
        client = open_local_client(settings.data_dir)
    store = _store(client, embedder, config, config.collection)
    return Knowledge(
        client, store, _retriever(store, config), _sources(settings, config.collection)
    )


def _store(
    client: QdrantClient, embedder: EmbeddingEngine, config: KnowledgeSettings, collection: str
) -> KnowledgeStore:
    return KnowledgeStore(
        client,
        embedder,
        collection=collection,
        max_file_bytes=int(config.max_file_mb * 1024 * 1024),
        expected_languages=config.expected_languages,
    )


def _retriever(store: KnowledgeStore, config: KnowledgeSettings) -> Retriever:
    return Retriever(store, min_score=config.min_score, keyword_weight=config.keyword_weight)


def _sources(settings: Settings, collection: str) -> SourceArchive:
    return SourceArchive(settings.data_dir / "knowledge" / collection / "sources")
