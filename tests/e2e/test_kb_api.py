"""The knowledge base's HTTP API on the real app, real embeddings and Qdrant local mode."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from appliance.agent.responder import Responder
from appliance.config import Settings
from appliance.engines import Engines
from appliance.knowledge.service import open_knowledge
from tests.support.app_server import app_server

pytestmark = pytest.mark.asyncio

VISITING = (
    "# Besuchszeiten\n\nBesuch ist täglich von 14 bis 19 Uhr möglich. "
    "Pro Patient sind zwei Besucher gleichzeitig erlaubt.\n"
)


@pytest_asyncio.fixture
async def kb_engines(
    engines: Engines, settings: Settings, tmp_path: Path
) -> AsyncIterator[Engines]:
    kb_settings = settings.with_overrides(
        data_dir=str(tmp_path),  # type: ignore[arg-type]
        http={"max_upload_mb": 0.05},
    )
    knowledge = open_knowledge(kb_settings)
    try:
        yield dataclasses.replace(engines, settings=kb_settings, knowledge=knowledge)
    finally:
        knowledge.close()


def upload(name: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    return {"data": (name, body)}


async def test_upload_list_search_reindex_and_delete(kb_engines: Engines) -> None:
    async with app_server(kb_engines) as base, httpx.AsyncClient(base_url=base) as http:
        created = await http.post("/api/kb/documents", files=upload("besuch.md", VISITING.encode()))
        assert created.status_code == 201, created.text
        assert created.json()["doc_id"] == "besuch"
        assert created.json()["chunks"] >= 1

        listed = (await http.get("/api/kb/documents")).json()
        assert [d["doc_id"] for d in listed] == ["besuch"]
        assert listed[0]["language"] == "de"

        found = (await http.get("/api/kb/search", params={"q": "Wann darf ich besuchen?"})).json()
        assert found["relevant"]
        assert "14 bis 19 Uhr" in found["passages"][0]["text"]

        rebuilt = (await http.post("/api/kb/reindex")).json()
        assert rebuilt == {"reindexed": ["besuch"], "failed": []}

        gone = await http.delete("/api/kb/documents/besuch")
        assert gone.status_code == 200
        assert gone.json()["deleted_chunks"] >= 1
        assert (await http.get("/api/kb/documents")).json() == []
        again = await http.delete("/api/kb/documents/besuch")
        assert again.status_code == 404
        assert again.json()["code"] == "KB_DOC_NOT_FOUND"


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [
        ("broken.pdf", b"%PDF-1.7 this is not really a pdf", 400, "KB_FILE_UNREADABLE"),
        ("empty.txt", b"", 400, "KB_FILE_EMPTY"),
        ("tool.exe", b"MZ\x90\x00", 415, "KB_FILE_UNSUPPORTED"),
        ("huge.txt", b"Besuchszeiten. " * 5000, 413, "KB_FILE_TOO_LARGE"),
        (
            "visites.md",
            "Les visites sont possibles de 15 h à 20 h et vous pouvez venir avec une personne "
            "pour le patient dans la chambre.".encode(),
            400,
            "KB_LANGUAGE_UNEXPECTED",
        ),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_stored_is_lost(
    kb_engines: Engines, name: str, body: bytes, status: int, code: str
) -> None:
    async with app_server(kb_engines) as base, httpx.AsyncClient(base_url=base) as http:
        stored = await http.post("/api/kb/documents", files=upload("besuch.md", VISITING.encode()))
        assert stored.status_code == 201
        refused = await http.post("/api/kb/documents", files=upload(name, body))
        assert refused.status_code == status, refused.text
        assert refused.json()["code"] == code
        assert name in refused.json()["message"]
        assert [d["doc_id"] for d in (await http.get("/api/kb/documents")).json()] == ["besuch"]


async def test_a_configured_token_is_required(kb_engines: Engines, tmp_path: Path) -> None:
    token = tmp_path / "api-token"
    token.write_text("s3cret-token\n", encoding="utf-8")
    guarded = dataclasses.replace(
        kb_engines,
        settings=kb_engines.settings.with_overrides(http={"api_token_file": str(token)}),
    )
    async with app_server(guarded) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/api/kb/documents")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/api/kb/documents", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer s3cret-token"}
        assert (await http.get("/api/kb/documents", headers=right)).status_code == 200
        assert (await http.get("/health")).status_code == 200  # health stays open


async def test_a_routed_departments_base_is_managed_with_collection(
    engines: Engines, settings: Settings, tmp_path: Path
) -> None:
    routed_settings = settings.with_overrides(
        data_dir=str(tmp_path),  # type: ignore[arg-type]
        knowledge={"routes": {"2300": "radiologie"}},
    )
    main = open_knowledge(routed_settings)
    radiology = main.other_collection(routed_settings, "radiologie")
    routed = dataclasses.replace(
        engines,
        settings=routed_settings,
        knowledge=main,
        routed_knowledge=[radiology],
        routed={
            "radiologie": Responder(engines.llm, routed_settings, radiology.lookup(routed_settings))
        },
    )
    xray = b"# X-ray\n\nX-rays are taken without an appointment on weekdays from 7 to 16.\n"
    try:
        async with app_server(routed) as base, httpx.AsyncClient(base_url=base) as http:
            department = {"collection": "radiologie"}
            created = await http.post(
                "/api/kb/documents", params=department, files=upload("xray.md", xray)
            )
            assert created.status_code == 201, created.text
            listed = (await http.get("/api/kb/documents", params=department)).json()
            assert [d["doc_id"] for d in listed] == ["xray"]
            assert (await http.get("/api/kb/documents")).json() == []  # the default base
            found = await http.get(
                "/api/kb/search",
                params={**department, "q": "Do I need an appointment for an X-ray?"},
            )
            assert found.json()["collection"] == "radiologie"
            assert found.json()["passages"][0]["doc_id"] == "xray"
            # Calls to 2300 are answered from what was just uploaded.
            lookup = routed.responder_for("2300").knowledge
            assert lookup is not None
            assert await lookup.has_documents()

            unknown = await http.get("/api/kb/documents", params={"collection": "kardiologie"})
            assert unknown.status_code == 404
            assert unknown.json()["code"] == "KB_COLLECTION_NOT_FOUND"
            assert "configured: default, radiologie" in unknown.json()["message"]
    finally:
        radiology.close()
        main.close()
