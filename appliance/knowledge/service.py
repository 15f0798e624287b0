"""Open the knowledge base the settings describe: verified embedder, store, retriever."""

from __future__ import annotations

from dataclasses import dataclass

from qdrant_client import QdrantClient

from appliance.config import Settings
from appliance.knowledge.embeddings import UseEmbeddings
from appliance.knowledge.ingest import KnowledgeStore, open_local_client
from appliance.knowledge.retrieve import Retriever
from appliance.knowledge.sources import SourceArchive
from models.registry import ModelRegistry


@dataclass
class Knowledge:
    client: QdrantClient
    store: KnowledgeStore
    retriever: Retriever
    sources: SourceArchive

    def close(self) -> None:
        self.client.close()


def open_knowledge(settings: Settings) -> Knowledge:
    """The embedded tier: USE multilingual from its package, Qdrant local mode."""
    config = settings.knowledge
    registry = ModelRegistry(data_dir=settings.data_dir, bundle_dir=settings.models.bundle_dir)
    weights = registry.path(config.embedding_model)
    embedder = UseEmbeddings(weights=weights, sp_model=weights.with_name("sp.model"))
    client = open_local_client(settings.data_dir)
    store = KnowledgeStore(
        client,
        embedder,
        collection=config.collection,
        max_file_bytes=int(config.max_file_mb * 1024 * 1024),
    )
    retriever = Retriever(store, min_score=config.min_score, keyword_weight=config.keyword_weight)
    sources = SourceArchive(settings.data_dir / "knowledge" / config.collection / "sources")
    return Knowledge(client, store, retriever, sources)
