"""The knowledge base over HTTP: what ``appliance kb`` does, for the web pages to come.

    GET    /api/kb/documents             the documents and their chunk counts
    POST   /api/kb/documents             upload one file (multipart field ``file``), ingest it
    DELETE /api/kb/documents/{doc_id}    remove a document and its kept original
    POST   /api/kb/reindex               rebuild every chunk from the kept originals
    GET    /api/kb/search?q=...          the passages a caller's question would get

Each takes ``?collection=NAME`` for a knowledge base of ``knowledge.routes``
(default: ``knowledge.collection``).

Errors answer ``{"code": ..., "message": ...}`` with a fitting status. Access:
a bearer token from ``http.api_token_file``; without one configured, only
clients on this machine are served (accounts and roles arrive with the
dashboard). All store work runs in a worker thread under the knowledge base's
lock, so calls in progress keep being answered while a document is ingested.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State, UploadFile
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, MultipartBody

from appliance.config import Settings
from appliance.errors import ConfigError, ErrorCode
from appliance.knowledge.errors import KnowledgeError
from appliance.knowledge.readers import SUFFIXES
from appliance.knowledge.service import Knowledge

MB = 1024 * 1024
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_STATUS = {
    ErrorCode.KB_FILE_EMPTY: 400,
    ErrorCode.KB_FILE_UNREADABLE: 400,
    ErrorCode.KB_LANGUAGE_UNEXPECTED: 400,
    ErrorCode.KB_FILE_UNSUPPORTED: 415,
    ErrorCode.KB_FILE_TOO_LARGE: 413,
    ErrorCode.KB_DOC_NOT_FOUND: 404,
    ErrorCode.KB_COLLECTION_NOT_FOUND: 404,
    ErrorCode.KB_FILE_NOT_FOUND: 404,
    ErrorCode.KB_UNAVAILABLE: 503,
    ErrorCode.KB_STORE_FAILED: 503,
}


def _knowledge(state: State, collection: str | None) -> Knowledge:
    knowledge: Knowledge | None = state.engines.knowledge
    if knowledge is None:
        raise KnowledgeError(
            "the knowledge base is switched off (knowledge.use_in_calls = false)",
            kb_code=ErrorCode.KB_UNAVAILABLE,
        )
    if collection is None or collection == knowledge.collection:
        return knowledge
    routed: list[Knowledge] = state.engines.routed_knowledge
    for other in routed:
        if other.collection == collection:
            return other
    known = ", ".join([knowledge.collection, *(o.collection for o in routed)])
    raise KnowledgeError(
        f"no knowledge base {collection!r} is open (configured: {known}; add it to "
        "knowledge.routes)",
        kb_code=ErrorCode.KB_COLLECTION_NOT_FOUND,
    )


def _error(_: Request[Any, Any, Any], exc: KnowledgeError) -> Response[dict[str, str]]:
    return Response(
        {"code": str(exc.code), "message": exc.message}, status_code=_STATUS.get(exc.code, 500)
    )


def _token_guard(token: str | None) -> Any:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if token is None:
            client = connection.client.host if connection.client else ""
            if client not in _LOOPBACK:
                raise PermissionDeniedException(
                    "the management API answers this machine only; configure "
                    "http.api_token_file to use it over the network"
                )
            return
        offered = connection.headers.get("authorization", "")
        if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            raise NotAuthorizedException("a valid bearer token is required")

    return guard


async def _locked(knowledge: Knowledge, fn: Any, *args: Any) -> Any:
    def run() -> Any:
        with knowledge.lock:
            return fn(*args)

    return await asyncio.to_thread(run)


@get("/documents")
async def list_documents(
    state: State, collection: FromQuery[str | None] = None
) -> list[dict[str, Any]]:
    knowledge = _knowledge(state, collection)
    documents = await _locked(knowledge, knowledge.store.documents)
    return [asdict(doc) for doc in documents]


def _upload_handler(max_bytes: int) -> Any:
    @post("/documents", request_max_body_size=max_bytes + MB)
    async def upload_document(
        state: State,
        data: MultipartBody[UploadFile],
        doc_id: FromQuery[str | None] = None,
        collection: FromQuery[str | None] = None,
    ) -> Response[dict[str, Any]]:
        knowledge = _knowledge(state, collection)
        name = _SAFE_NAME.sub("_", Path(data.filename or "upload").name).strip("._") or "upload"
        if Path(name).suffix.lower() not in SUFFIXES:
            raise KnowledgeError(
                f"{name}: unsupported file type (supported: {', '.join(sorted(SUFFIXES))})",
                kb_code=ErrorCode.KB_FILE_UNSUPPORTED,
            )
        body = await data.read()
        if len(body) > max_bytes:
            raise KnowledgeError(
                f"{name}: {len(body) / MB:.1f} MB is over the upload limit of "
                f"{max_bytes / MB:.0f} MB (http.max_upload_mb)",
                kb_code=ErrorCode.KB_FILE_TOO_LARGE,
            )
        with tempfile.TemporaryDirectory(prefix="kb-upload-") as folder:
            path = Path(folder) / name
            path.write_bytes(body)
            result = await _locked(knowledge, _ingest_and_keep, knowledge, path, doc_id)
        return Response(
            {
                "doc_id": result.doc_id,
                "version": result.version,
                "chunks": result.chunks,
                "replaced": result.replaced,
                "instruction_like": result.instruction_like,
            },
            status_code=201,
        )

    return upload_document


def _ingest_and_keep(knowledge: Knowledge, path: Path, doc_id: str | None) -> Any:
    result = knowledge.store.ingest_file(path, doc_id=doc_id)
    knowledge.sources.keep(path, result.doc_id)
    return result


@delete("/documents/{doc_id:str}", status_code=200)
async def delete_document(
    state: State, doc_id: FromPath[str], collection: FromQuery[str | None] = None
) -> dict[str, Any]:
    knowledge = _knowledge(state, collection)

    def remove() -> int:
        removed = knowledge.store.delete(doc_id)
        knowledge.sources.remove(doc_id)
        return removed

    return {"doc_id": doc_id, "deleted_chunks": await _locked(knowledge, remove)}


@post("/reindex", status_code=200)
async def reindex(state: State, collection: FromQuery[str | None] = None) -> dict[str, Any]:
    knowledge = _knowledge(state, collection)

    def rebuild() -> dict[str, Any]:
        done, failed = [], []
        for path in knowledge.sources.files():
            try:
                done.append(knowledge.store.ingest_file(path, doc_id=path.stem).doc_id)
            except KnowledgeError as exc:
                failed.append({"file": path.name, "code": str(exc.code), "message": exc.message})
        return {"reindexed": done, "failed": failed}

    return dict(await _locked(knowledge, rebuild))


@get("/search")
async def search(
    state: State,
    q: FromQuery[str],
    k: FromQuery[int] = 5,
    collection: FromQuery[str | None] = None,
) -> dict[str, Any]:
    knowledge = _knowledge(state, collection)
    result = await _locked(knowledge, knowledge.retriever.retrieve, q, max(1, min(k, 50)))
    return {
        "collection": knowledge.collection,
        "relevant": result.relevant,
        "top_score": result.top_score,
        "passages": [asdict(p) for p in result.passages],
    }


def token_guard(settings: Settings) -> Any:
    """The management API's access rule, from the settings (read once)."""
    token = None
    if settings.http.api_token_file is not None:
        try:
            token = settings.http.api_token_file.read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read http.api_token_file {settings.http.api_token_file}: {exc.strerror}"
            ) from exc
        if not token:
            raise ConfigError(f"http.api_token_file {settings.http.api_token_file} is empty")
    return _token_guard(token)


def knowledge_router(settings: Settings) -> Router:
    return Router(
        path="/api/kb",
        route_handlers=[
            list_documents,
            _upload_handler(int(settings.http.max_upload_mb * MB)),
            delete_document,
            reindex,
            search,
        ],
        guards=[token_guard(settings)],
        exception_handlers={KnowledgeError: _error},
    )
