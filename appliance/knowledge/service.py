"""Open the knowledge base the settings describe: verified embedder, store, retriever.

Qdrant runs in local mode under ``data_dir/vectors`` by default; with
``knowledge.qdrant_url`` set, the same collections live on a Qdrant server
(API key from a secret file, TLS with an optional private CA bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient

from appliance.config import KnowledgeSettings, Settings
from appliance.errors import ErrorCode
from appliance.knowledge.embeddings import UseEmbeddings
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

    def lookup(self, settings: Settings) -> KnowledgeLookup:
        config = settings.knowledge
        return KnowledgeLookup(
            self.retriever, top_k=config.top_k, timeout_s=config.lookup_timeout_s
        )

    def close(self) -> None:
        self.client.close()


def open_server_client(config: KnowledgeSettings) -> QdrantClient:
    """A client for the configured Qdrant server, checked to answer."""
    url = str(config.qdrant_url)
    api_key = None
    if config.qdrant_api_key_file is not None:
        try:
            api_key = config.qdrant_api_key_file.read_text("utf-8").strip()
        except OSError as exc:
            raise KnowledgeError(
                f"cannot read the Qdrant API key file {config.qdrant_api_key_file}: {exc.strerror}",
                kb_code=ErrorCode.KB_UNAVAILABLE,
            ) from exc
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


def open_knowledge(settings: Settings) -> Knowledge:
    """USE multilingual from its package; Qdrant local mode or the configured server."""
    config = settings.knowledge
    registry = ModelRegistry(data_dir=settings.data_dir, bundle_dir=settings.models.bundle_dir)
    weights = registry.path(config.embedding_model)
    embedder = UseEmbeddings(weights=weights, sp_model=weights.with_name("sp.model"))
    if config.qdrant_url:
        client = open_server_client(config)
    else:
        client = open_local_client(settings.data_dir)
    store = KnowledgeStore(
        client,
        embedder,
        collection=config.collection,
        max_file_bytes=int(config.max_file_mb * 1024 * 1024),
        expected_languages=config.expected_languages,
    )
    retriever = Retriever(store, min_score=config.min_score, keyword_weight=config.keyword_weight)
    sources = SourceArchive(settings.data_dir / "knowledge" / config.collection / "sources")
    return Knowledge(client, store, retriever, sources)
