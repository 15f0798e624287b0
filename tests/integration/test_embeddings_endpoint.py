"""The production embeddings path: an OpenAI-compatible ``/v1/embeddings`` endpoint.

The endpoint is a real llama.cpp server (the one the appliance embeds) serving
mean-pooled embeddings of the bundled GGUF model; vLLM and TEI speak the same API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from appliance.config import Settings
from appliance.errors import ErrorCode
from appliance.knowledge.errors import KnowledgeError
from appliance.knowledge.service import open_knowledge
from appliance.llm.embedded_server import EmbeddedLlamaServer
from models.registry import ModelRegistry
from tests.unit.test_llm_client_faults import unlistened_port

MODEL_DIM = 576  # SmolLM2-135M hidden size

DOCS = {
    "parking.md": "# Parking\n\nThe car park opposite the main entrance costs 2 euros per hour.\n",
    "visiting.md": "# Visiting hours\n\nVisitors are welcome daily from 2 pm to 7 pm.\n",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def endpoint(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    registry = ModelRegistry(data_dir=settings.data_dir, bundle_dir=None)
    server = EmbeddedLlamaServer(
        model_path=registry.path(settings.embedded_llm.model),
        alias="embedder",
        threads=1,
        log_path=tmp_path_factory.mktemp("embedder") / "server.log",
        # Mean pooling: one vector per input instead of one per token.
        extra_args=["--embedding", "true", "--kv_overrides", "llama.pooling_type=int:1"],
    )
    await server.start()
    try:
        yield server.base_url
    finally:
        await server.stop()


def endpoint_settings(settings: Settings, data: Path, url: str, dim: int = MODEL_DIM) -> Settings:
    return settings.with_overrides(
        data_dir=str(data),  # type: ignore[arg-type]
        knowledge={"embedding_url": url, "embedding_model": "embedder", "embedding_dim": dim},
    )


def write_docs(folder: Path) -> Path:
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.asyncio(loop_scope="session")
async def test_ingest_and_retrieve_through_an_embeddings_endpoint(
    endpoint: str, settings: Settings, tmp_path: Path
) -> None:
    knowledge = open_knowledge(endpoint_settings(settings, tmp_path / "data", endpoint))
    try:
        results = knowledge.store.ingest_paths([write_docs(tmp_path / "docs")])
        assert sum(r.chunks for r in results) == 2
        result = knowledge.retriever.retrieve("How much does the car park cost per hour?")
        assert result.passages[0].doc_id == "parking"
        assert len(result.passages) == 2
    finally:
        knowledge.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_wrong_vector_size_is_refused_and_nothing_is_stored(
    endpoint: str, settings: Settings, tmp_path: Path
) -> None:
    knowledge = open_knowledge(endpoint_settings(settings, tmp_path / "data", endpoint, dim=384))
    try:
        with pytest.raises(KnowledgeError) as caught:
            knowledge.store.ingest_paths([write_docs(tmp_path / "docs")])
        assert caught.value.code == ErrorCode.EMBEDDING_BAD_RESPONSE
        assert knowledge.store.chunk_count() == 0
    finally:
        knowledge.close()


def test_an_unreachable_endpoint_is_a_coded_error(settings: Settings, tmp_path: Path) -> None:
    with unlistened_port() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        knowledge = open_knowledge(endpoint_settings(settings, tmp_path / "data", url))
        try:
            with pytest.raises(KnowledgeError) as caught:
                knowledge.retriever.retrieve("parking")
        finally:
            knowledge.close()
    assert caught.value.code == ErrorCode.EMBEDDING_UNAVAILABLE
