"""Ingest documents into a Qdrant collection (one collection per knowledge base).

Each chunk is a point whose payload carries ``doc_id``, ``title``, ``section``,
``language``, ``source_file``, ``version`` (sha256 prefix of the document's
text), ``ingested_at`` and ``chunk`` (its index), plus the chunk ``text``.

Replacing a document is atomic for readers: the new version's points are
upserted first, and only then are the points of every other version of that
document deleted. A failure before the delete leaves the old version
searchable (possibly next to part of the new one, which the next ingest
removes); a failure while reading or embedding changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from appliance.knowledge.chunking import Chunk, chunk_document, detect_language, document_title
from appliance.knowledge.embeddings import EmbeddingEngine
from appliance.knowledge.errors import KnowledgeCode, KnowledgeError
from appliance.knowledge.injection import looks_like_instructions
from appliance.knowledge.readers import SUFFIXES, read_document

log = logging.getLogger(__name__)
_ID_NAMESPACE = uuid.UUID("5b0b7c1e-4a53-4d0e-9a52-6b6e6f776b62")
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class IngestResult:
    doc_id: str
    version: str
    chunks: int
    replaced: int
    seconds: float
    instruction_like: int = 0
    """Chunks that read as instructions to an AI: stored, but never spoken or prompted."""


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    source_file: str
    language: str
    version: str
    ingested_at: str
    chunks: int


def open_local_client(data_dir: Path) -> QdrantClient:
    """Qdrant local mode under ``<data_dir>/vectors`` (one client per process)."""
    path = data_dir / "vectors"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:  # qdrant-client's "already accessed by another instance"
        raise KnowledgeError(
            f"the knowledge base under {path} is open in another process (a running "
            "`appliance serve`?). Stop it or use the web API; with several processes, "
            "configure a Qdrant server (knowledge.qdrant_url)",
            kb_code=KnowledgeCode.KB_UNAVAILABLE,
        ) from exc


def embedding_text(title: str, section: str, text: str) -> str:
    """What is embedded for a chunk: its title and section give it context."""
    heading = title if not section or section == title else f"{title}, {section}"
    return f"{heading}: {text}"


class KnowledgeStore:
    """Reads, chunks, embeds and stores documents of one knowledge base."""

    def __init__(
        self,
        client: QdrantClient,
        embedder: EmbeddingEngine,
        *,
        collection: str,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_sentences: int = 2,
        max_chars: int = 500,
        expected_languages: tuple[str, ...] = ("de", "en"),
    ) -> None:
        self.client = client
        self.embedder = embedder
        self.collection = collection
        self.max_file_bytes = max_file_bytes
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.expected_languages = expected_languages
        self.generation = 0
        """Bumped on every change, so caches (keyword index) know to rebuild."""

    # -- collection

    def ensure_collection(self) -> None:
        try:
            if not self.client.collection_exists(self.collection):
                self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(
                        size=self.embedder.dim, distance=models.Distance.COSINE
                    ),
                )
        except Exception as exc:
            raise _store_error("cannot open the collection", exc) from exc

    # -- ingest

    def ingest_paths(self, paths: Iterable[Path]) -> list[IngestResult]:
        """Every supported file of the given files and folders, in name order."""
        return [self.ingest_file(path) for path in expand_paths(paths)]

    def ingest_file(self, path: Path, *, doc_id: str | None = None) -> IngestResult:
        started = time.perf_counter()
        text = read_document(path, max_bytes=self.max_file_bytes)
        chunks = chunk_document(text, max_sentences=self.max_sentences, max_chars=self.max_chars)
        if not chunks:
            raise KnowledgeError(
                f"{path.name}: the file contains no text", kb_code=KnowledgeCode.KB_FILE_EMPTY
            )
        language = detect_language(text)
        if language not in self.expected_languages:
            raise KnowledgeError(
                f"{path.name}: the document reads as {language!r}, not one of the expected "
                f"languages {', '.join(self.expected_languages)} (knowledge.expected_languages)",
                kb_code=KnowledgeCode.KB_LANGUAGE_UNEXPECTED,
            )
        doc = doc_id or path.stem
        version = hashlib.sha256(text.encode()).hexdigest()[:16]
        meta = {
            "doc_id": doc,
            "title": document_title(text, path.stem),
            "language": language,
            "source_file": path.name,
            "version": version,
            "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        points = self._points(chunks, meta)
        self.ensure_collection()
        replaced = self._replace(doc, version, points)
        flagged = sum(looks_like_instructions(c.text) for c in chunks)
        return IngestResult(
            doc, version, len(points), replaced, time.perf_counter() - started, flagged
        )

    def _points(self, chunks: list[Chunk], meta: dict[str, str]) -> list[models.PointStruct]:
        texts = [embedding_text(meta["title"], c.section, c.text) for c in chunks]
        vectors = self.embedder.embed(texts)
        return [
            models.PointStruct(
                id=str(
                    uuid.uuid5(_ID_NAMESPACE, f"{meta['doc_id']}\0{meta['version']}\0{c.index}")
                ),
                vector=vector.tolist(),
                payload={**meta, "section": c.section, "chunk": c.index, "text": c.text},
            )
            for c, vector in zip(chunks, vectors, strict=True)
        ]

    def _replace(self, doc_id: str, version: str, points: list[models.PointStruct]) -> int:
        """Upsert the new version, then delete the others; the count deleted.

        Until the upsert has succeeded the old version is untouched. An upsert that
        fails part-way (a server timing out after writing some points) has its new
        points removed again, so a document is never left half new, half old;
        unless this very version was stored before, whose points are then kept.
        """
        this_version = models.Filter(must=[_match("doc_id", doc_id), _match("version", version)])
        failed = f"storing document {doc_id!r} failed"
        try:
            known = self.client.count(self.collection, count_filter=this_version, exact=True).count
        except Exception as exc:
            raise _store_error(failed, exc) from exc
        try:
            self.client.upsert(self.collection, points=points, wait=True)
        except Exception as exc:
            if not known:
                self._remove_quietly(this_version)
            self.generation += 1
            raise _store_error(failed, exc) from exc
        try:
            stale = models.Filter(
                must=[_match("doc_id", doc_id)], must_not=[_match("version", version)]
            )
            replaced = self.client.count(self.collection, count_filter=stale, exact=True).count
            if replaced:
                self.client.delete(self.collection, models.FilterSelector(filter=stale), wait=True)
        except Exception as exc:
            raise _store_error(
                f"{failed} after the new version was stored (the old one may still be "
                "found; ingest the file again)",
                exc,
            ) from exc
        finally:
            self.generation += 1
        return replaced

    def _remove_quietly(self, selector: models.Filter) -> None:
        """Best effort: the caller is already failing with the original error."""
        try:
            self.client.delete(self.collection, models.FilterSelector(filter=selector), wait=True)
        except Exception as exc:  # noqa: BLE001  # the original error is what the operator sees
            log.warning(
                "could not remove a partly stored document version",
                extra={"code": KnowledgeCode.KB_STORE_FAILED.value, "error": type(exc).__name__},
            )

    # -- documents

    def delete(self, doc_id: str) -> int:
        """Remove every chunk of a document; KB_DOC_NOT_FOUND if it has none."""
        self.ensure_collection()
        selector = models.Filter(must=[_match("doc_id", doc_id)])
        count = self.client.count(self.collection, count_filter=selector, exact=True).count
        if not count:
            raise KnowledgeError(
                f"no document {doc_id!r} in knowledge base {self.collection!r}",
                kb_code=KnowledgeCode.KB_DOC_NOT_FOUND,
            )
        self.client.delete(self.collection, models.FilterSelector(filter=selector), wait=True)
        self.generation += 1
        return count

    def chunk_count(self) -> int:
        """How many chunks the collection holds (0 when it does not exist yet)."""
        try:
            if not self.client.collection_exists(self.collection):
                return 0
            return self.client.count(self.collection, exact=True).count
        except Exception as exc:
            raise _store_error("cannot count the collection", exc) from exc

    def payloads(self) -> list[dict[str, Any]]:
        """Every chunk's payload (for listing and the keyword index)."""
        self.ensure_collection()
        out: list[dict[str, Any]] = []
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection, limit=1024, offset=offset, with_payload=True, with_vectors=False
            )
            out.extend(dict(r.payload or {}) | {"_id": str(r.id)} for r in records)
            if offset is None:
                return out

    def documents(self) -> list[DocumentInfo]:
        docs: dict[str, DocumentInfo] = {}
        for p in self.payloads():
            known = docs.get(p["doc_id"])
            count = known.chunks + 1 if known else 1
            docs[p["doc_id"]] = DocumentInfo(
                p["doc_id"],
                p["title"],
                p["source_file"],
                p["language"],
                p["version"],
                p["ingested_at"],
                count,
            )
        return sorted(docs.values(), key=lambda d: d.doc_id)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders expanded to their supported files, recursively."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES))
        else:
            out.append(path)
    return out


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _store_error(what: str, exc: Exception) -> KnowledgeError:
    return KnowledgeError(
        f"{what}: {type(exc).__name__}: {exc}", kb_code=KnowledgeCode.KB_STORE_FAILED
    )
