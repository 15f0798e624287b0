"""Knowledge base against real USE embeddings and real Qdrant local mode.

Documents are written at test time (Markdown, text, HTML, DOCX, PDF; German
and English); nothing is faked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from appliance.knowledge.embeddings import EmbeddingEngine, UseEmbeddings, Vectors
from appliance.knowledge.errors import KnowledgeCode, KnowledgeError
from appliance.knowledge.ingest import KnowledgeStore, open_local_client
from appliance.knowledge.lookup import KnowledgeLookup
from appliance.knowledge.retrieve import Retriever
from tests.support.pdf_files import write_text_pdf

VISITING_DE = """# Besuchszeiten im Klinikum

## Normalstationen
Besuche auf den Normalstationen sind täglich von 15 bis 20 Uhr möglich.
Pro Patient sind höchstens drei Besucher gleichzeitig erlaubt.

## Kinderstation
Eltern dürfen auf der Kinderstation jederzeit bei ihrem Kind bleiben.
"""

PARKING_EN = """Parking at the hospital

The car park opposite the main entrance costs 2 euros per hour.
The daily maximum is 12 euros. Bus line 8 stops in front of the hospital.
"""

CARD_DE = """# Karte verloren

Eine verlorene Bankkarte sperren Sie rund um die Uhr über den Sperr-Notruf.
Die neue Karte kommt nach etwa einer Woche per Post.
"""


@pytest.fixture(scope="module")
def embedder() -> UseEmbeddings:
    engine = UseEmbeddings(threads=1)
    engine.load()
    return engine


@pytest.fixture
def client(tmp_path: Path) -> Iterator[QdrantClient]:
    opened = open_local_client(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def store(client: QdrantClient, embedder: UseEmbeddings) -> KnowledgeStore:
    return KnowledgeStore(client, embedder, collection="test")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "besuch.md").write_text(VISITING_DE, "utf-8")
    (folder / "parking.txt").write_text(PARKING_EN, "utf-8")
    (folder / "karte.md").write_text(CARD_DE, "utf-8")
    return folder


def _payloads(store: KnowledgeStore, doc_id: str) -> list[dict[str, Any]]:
    return [p for p in store.payloads() if p["doc_id"] == doc_id]


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("Wann darf ich meine Mutter im Krankenhaus besuchen?", "besuch"),
        ("How much does it cost to leave my car there for a whole day?", "parking"),
        ("Meine EC-Karte ist weg, was soll ich tun?", "karte"),
        ("Can I stay with my child on the children's ward?", "besuch"),
    ],
)
def test_paraphrased_question_finds_its_document(
    store: KnowledgeStore, docs: Path, question: str, doc_id: str
) -> None:
    store.ingest_paths([docs])
    passages = Retriever(store).search(question, k=3)
    assert passages[0].doc_id == doc_id
    assert passages[0].score >= passages[-1].score


def test_chunks_carry_metadata(store: KnowledgeStore, docs: Path) -> None:
    results = store.ingest_paths([docs])
    assert {r.doc_id for r in results} == {"besuch", "parking", "karte"}
    german = _payloads(store, "besuch")
    assert {p["section"] for p in german} == {"Normalstationen", "Kinderstation"}
    assert all(p["title"] == "Besuchszeiten im Klinikum" for p in german)
    assert all(p["language"] == "de" and p["source_file"] == "besuch.md" for p in german)
    english = _payloads(store, "parking")
    assert all(p["language"] == "en" and p["title"] == "Parking at the hospital" for p in english)
    assert all(p["version"] and p["ingested_at"] for p in german + english)
    listed = {d.doc_id: d for d in store.documents()}
    assert listed["besuch"].chunks == len(german)


def test_delete_removes_a_document(store: KnowledgeStore, docs: Path) -> None:
    store.ingest_paths([docs])
    retriever = Retriever(store)
    assert store.delete("parking") > 0
    found = retriever.search("How much is parking per day?", k=5)
    assert all(p.doc_id != "parking" for p in found)
    with pytest.raises(KnowledgeError) as caught:
        store.delete("parking")
    assert caught.value.kb_code is KnowledgeCode.KB_DOC_NOT_FOUND


class _ObservingClient(QdrantClient):
    """A real local-mode client that records what the collection held at each delete."""

    seen_at_delete: list[set[str]]

    def delete(self, collection_name: str, points_selector: Any, *args: Any, **kwargs: Any) -> Any:
        records, _ = self.scroll(collection_name, limit=10_000, with_payload=True)
        self.seen_at_delete.append({str((r.payload or {})["version"]) for r in records})
        return super().delete(collection_name, points_selector, *args, **kwargs)


def test_reingest_replaces_only_after_new_chunks_are_in(
    tmp_path: Path, embedder: UseEmbeddings
) -> None:
    path = tmp_path / "vectors"
    path.mkdir()
    client = _ObservingClient(path=str(path))
    client.seen_at_delete = []
    try:
        store = KnowledgeStore(client, embedder, collection="test")
        doc = tmp_path / "parking.txt"
        doc.write_text(PARKING_EN, "utf-8")
        first = store.ingest_file(doc)
        doc.write_text(PARKING_EN.replace("12 euros", "15 euros"), "utf-8")
        second = store.ingest_file(doc)
        assert second.version != first.version
        assert second.replaced == first.chunks
        assert client.seen_at_delete == [{first.version, second.version}]
        remaining = _payloads(store, "parking")
        assert {p["version"] for p in remaining} == {second.version}
        assert any("15 euros" in p["text"] for p in remaining)
    finally:
        client.close()


class _HalfWritingClient(QdrantClient):
    """A real local-mode client whose upserts, while ``fail`` is set, store the first
    half of the points and then time out: a server failing part-way (the injected fault)."""

    fail = False

    def upsert(self, collection_name: str, points: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.fail:
            return super().upsert(collection_name, points, *args, **kwargs)
        super().upsert(collection_name, points[: max(1, len(points) // 2)], *args, **kwargs)
        raise TimeoutError("timed out waiting for the Qdrant server")


LONG_CARD_DE = CARD_DE + "".join(
    f"\n## Frage {n}\nDie Antwort auf Frage {n} steht im Kartenheft auf Seite {n}.\n"
    for n in range(1, 7)
)


@pytest.mark.parametrize("already_stored", [False, True])
def test_an_upsert_failing_part_way_leaves_no_half_new_document(
    tmp_path: Path, embedder: UseEmbeddings, already_stored: bool
) -> None:
    path = tmp_path / "vectors"
    path.mkdir()
    client = _HalfWritingClient(path=str(path))
    try:
        store = KnowledgeStore(client, embedder, collection="test")
        doc = tmp_path / "karte.md"
        doc.write_text(CARD_DE, "utf-8")
        first = store.ingest_file(doc)
        before = sorted((p["version"], p["chunk"]) for p in _payloads(store, "karte"))
        if not already_stored:
            doc.write_text(LONG_CARD_DE, "utf-8")  # a new version of several chunks
        client.fail = True
        with pytest.raises(KnowledgeError) as caught:
            store.ingest_file(doc)
        assert caught.value.kb_code is KnowledgeCode.KB_STORE_FAILED
        assert "'karte'" in str(caught.value)
        after = sorted((p["version"], p["chunk"]) for p in _payloads(store, "karte"))
        assert after == before  # the old version whole, nothing of the new one
        assert {version for version, _ in after} == {first.version}
        client.fail = False
        assert store.ingest_file(doc).chunks > 0  # the next attempt goes through
    finally:
        client.close()


def test_failed_reingest_keeps_the_old_version(store: KnowledgeStore, tmp_path: Path) -> None:
    doc = tmp_path / "karte.md"
    doc.write_text(CARD_DE, "utf-8")
    first = store.ingest_file(doc)
    doc.write_text("   \n", "utf-8")
    with pytest.raises(KnowledgeError) as caught:
        store.ingest_file(doc)
    assert caught.value.kb_code is KnowledgeCode.KB_FILE_EMPTY
    assert {p["version"] for p in _payloads(store, "karte")} == {first.version}


def test_html_and_docx_are_ingested(store: KnowledgeStore, tmp_path: Path) -> None:
    docx: Any = pytest.importorskip("docx")
    page = tmp_path / "notfall.html"
    page.write_text(
        "<html><head><title>x</title><script>var a=1;</script></head><body>"
        "<h1>Notaufnahme</h1><p>Die Notaufnahme ist rund um die Uhr geöffnet.</p></body></html>",
        "utf-8",
    )
    word = docx.Document()
    word.add_heading("Opening hours", level=1)
    word.add_paragraph("The branch is open Monday to Friday from 9 to 18.")
    word.save(str(tmp_path / "hours.docx"))
    store.ingest_paths([tmp_path])
    retriever = Retriever(store)
    assert retriever.search("Ist die Notaufnahme nachts offen?", k=1)[0].doc_id == "notfall"
    top = retriever.search("When is the branch open?", k=1)[0]
    assert (top.doc_id, top.title) == ("hours", "Opening hours")


def test_a_text_pdf_is_ingested_page_by_page(store: KnowledgeStore, tmp_path: Path) -> None:
    path = tmp_path / "anfahrt.pdf"
    write_text_pdf(
        path,
        [
            ["Klinikum Nord - Stand Mai", "Das Parkhaus gegenüber dem Haupteingang kostet"],
            ["2 Euro pro Stunde (höchstens 12 Euro am Tag).", "Die Buslinie 8 hält vor der Tür."],
        ],
        title="Parken und Anfahrt",
    )
    result = store.ingest_file(path)
    payloads = _payloads(store, "anfahrt")
    assert result.chunks == len(payloads) > 0
    assert all(p["title"] == "Parken und Anfahrt" for p in payloads)
    assert all(p["language"] == "de" and p["source_file"] == "anfahrt.pdf" for p in payloads)
    text = " ".join(p["text"] for p in payloads)
    assert "gegenüber" in text
    assert "höchstens 12 Euro" in text
    top = Retriever(store).search("Was kostet das Parken am Klinikum?", k=1)[0]
    assert top.doc_id == "anfahrt"


def test_a_pdf_without_a_title_is_named_by_its_first_line(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    path = tmp_path / "hours.pdf"
    write_text_pdf(path, [["Opening hours", "The branch is open Monday to Friday from 9 to 18."]])
    store.ingest_file(path)
    assert {p["title"] for p in _payloads(store, "hours")} == {"Opening hours"}


def _pdf(path: Path, *, password: str | None) -> None:
    pypdf: Any = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if password:
        writer.encrypt(password)
    with path.open("wb") as handle:
        writer.write(handle)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.md", b"", KnowledgeCode.KB_FILE_EMPTY),
        ("blank.txt", b" \n\n \n", KnowledgeCode.KB_FILE_EMPTY),
        ("slides.pptx", b"PK\x03\x04", KnowledgeCode.KB_FILE_UNSUPPORTED),
        (
            "latin1.txt",
            "Gebühr für Überweisung".encode("latin-1"),
            KnowledgeCode.KB_FILE_UNREADABLE,
        ),
        ("broken.pdf", b"%PDF-1.7\nnot really a pdf", KnowledgeCode.KB_FILE_UNREADABLE),
        ("broken.docx", b"PK\x03\x04 truncated", KnowledgeCode.KB_FILE_UNREADABLE),
        ("huge.md", b"# Big\n\n" + b"Ein Satz. " * 200, KnowledgeCode.KB_FILE_TOO_LARGE),
    ],
)
def test_bad_files_give_coded_errors_naming_the_file(
    store: KnowledgeStore,
    tmp_path: Path,
    name: str,
    content: bytes,
    code: KnowledgeCode,
) -> None:
    store.max_file_bytes = 1024
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(KnowledgeError) as caught:
        store.ingest_file(path)
    assert caught.value.kb_code is code
    assert name in str(caught.value)
    assert store.payloads() == []


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("secret", KnowledgeCode.KB_FILE_UNREADABLE),
        (None, KnowledgeCode.KB_FILE_EMPTY),
    ],
)
def test_encrypted_or_textless_pdf_is_refused(
    store: KnowledgeStore, tmp_path: Path, password: str | None, code: KnowledgeCode
) -> None:
    path = tmp_path / "scan.pdf"
    _pdf(path, password=password)
    with pytest.raises(KnowledgeError) as caught:
        store.ingest_file(path)
    assert caught.value.kb_code is code
    assert "scan.pdf" in str(caught.value)


def test_missing_file_is_named(store: KnowledgeStore, tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as caught:
        store.ingest_file(tmp_path / "gone.md")
    assert caught.value.kb_code is KnowledgeCode.KB_FILE_NOT_FOUND
    assert "gone.md" in str(caught.value)


def test_points_are_cosine_vectors_of_the_model_size(store: KnowledgeStore, docs: Path) -> None:
    store.ingest_paths([docs])
    info = store.client.get_collection("test")
    params = info.config.params.vectors
    assert isinstance(params, models.VectorParams)
    assert (params.size, params.distance) == (512, models.Distance.COSINE)


def test_relevance_decision_follows_the_configured_threshold(
    store: KnowledgeStore, docs: Path
) -> None:
    store.ingest_paths([docs])
    question = "Wann sind die Besuchszeiten?"
    strict = Retriever(store, min_score=2.0).retrieve(question)
    lenient = Retriever(store, min_score=0.0).retrieve(question)
    assert not strict.relevant
    assert lenient.relevant
    assert strict.top_score == pytest.approx(lenient.top_score)
    assert strict.passages[0].doc_id == "besuch"


@pytest.mark.parametrize(
    "question",
    ["Verkaufen Sie auch Briefmarken?", "Do you sell stamps at the front desk?"],
)
def test_a_question_the_documents_do_not_answer_is_refused(
    store: KnowledgeStore, docs: Path, question: str
) -> None:
    store.ingest_paths([docs])
    calibrated = Retriever(store, min_score=0.0).retrieve(question)
    assert not calibrated.relevant
    assert calibrated.relevance is not None
    assert not calibrated.relevance.relevant
    # The score floor alone would have answered it: the coverage model refuses.
    assert Retriever(store, min_score=0.0, calibrated=False).retrieve(question).relevant


def test_a_topic_only_related_to_the_documents_is_refused(
    store: KnowledgeStore, docs: Path
) -> None:
    """The hospital's documents mention parking and visitors, nothing like a
    cafeteria: the question lands on a hospital passage and is still refused."""
    store.ingest_paths([docs])
    retriever = Retriever(store)
    retriever.prepare()
    result = retriever.retrieve("Gibt es eine Cafeteria im Krankenhaus für Besucher?")
    assert result.relevance is not None
    assert result.relevance.absence > 0.0
    assert not result.relevant


def test_the_vocabulary_follows_the_collection(
    store: KnowledgeStore, docs: Path, tmp_path: Path
) -> None:
    store.ingest_paths([docs])
    retriever = Retriever(store)
    retriever.prepare()
    first = retriever.vocabulary
    assert first is not None
    assert first.ready
    assert "sauna" not in first.words
    extra = tmp_path / "sauna.md"
    extra.write_text("# Sauna\n\nDie Sauna im Keller ist für Patienten geschlossen.\n", "utf-8")
    store.ingest_paths([extra])
    # The next question sees the new collection; its vocabulary is embedded in the
    # background while the retrieved passages stand in for it.
    retriever.retrieve("Ist die Sauna offen?")
    second = retriever.vocabulary
    assert second is not None
    assert second is not first
    assert "sauna" in second.words
    assert second.wait(30.0)
    # Only the new document's words were embedded; the rest kept their vectors.
    assert 0 < second.embedded < len(first.words)
    assert second.embedded == len(set(second.words) - set(first.words))


class _GatedEmbedder(EmbeddingEngine):
    """The real USE engine, but a background vocabulary build (the "kb-vocabulary"
    thread) waits at a gate first, so a test can change the collection while a
    build is running. Counts the builds it let through."""

    def __init__(self, engine: UseEmbeddings) -> None:
        super().__init__()
        self.engine = engine
        self.dim = engine.dim
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self.builds = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        if threading.current_thread().name == "kb-vocabulary":
            self.waiting.set()
            assert self.gate.wait(60.0)
            self.builds += 1
        return super().embed(texts)

    def _embed(self, texts: list[str]) -> Vectors:
        return self.engine.embed(texts)


def _ingest_note(store: KnowledgeStore, folder: Path, name: str, text: str) -> None:
    path = folder / f"{name}.md"
    path.write_text(text, "utf-8")
    store.ingest_file(path)


def test_changes_during_a_vocabulary_build_are_coalesced(
    client: QdrantClient, embedder: UseEmbeddings, docs: Path, tmp_path: Path
) -> None:
    gated = _GatedEmbedder(embedder)
    store = KnowledgeStore(client, gated, collection="test")
    store.ingest_paths([docs])
    retriever = Retriever(store)
    retriever.prepare()  # built at start-up, on this thread: no gate
    first = retriever.vocabulary
    assert first is not None
    assert first.ready
    builder = retriever.vocabulary_builder

    _ingest_note(store, tmp_path, "sauna", "# Sauna\n\nDie Sauna im Keller ist geschlossen.\n")
    retriever.retrieve("Ist die Sauna offen?")  # a build starts and waits at the gate
    assert gated.waiting.wait(30.0)
    building = retriever.vocabulary
    _ingest_note(store, tmp_path, "kiosk", "# Kiosk\n\nDer Kiosk verkauft Zeitungen.\n")
    retriever.retrieve("Hat der Kiosk Zeitungen?")
    _ingest_note(store, tmp_path, "friseur", "# Friseur\n\nDer Friseur kommt dienstags.\n")
    retriever.retrieve("Wann kommt der Friseur?")
    newest = retriever.vocabulary
    gated.gate.set()
    assert builder.idle(60.0)

    assert building is not None
    assert newest is not None
    assert building.ready
    assert newest.ready
    assert builder.skipped == 1  # the kiosk-only vocabulary was never built
    assert gated.builds == 2  # one build at a time: the running one, then the newest
    # The newest reused the vectors of the one built before it.
    assert newest.embedded == len(set(newest.words) - set(building.words))
    assert {"kiosk", "friseur"} <= set(newest.words)


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("Wie viele Besucher dürfen gleichzeitig zu einem Patienten?", "besuch"),
        ("How much does the car park cost per hour?", "parking"),
        ("Meine Bankkarte ist weg, wie sperre ich sie?", "karte"),
    ],
)
def test_a_paraphrase_of_what_the_documents_say_is_answered(
    store: KnowledgeStore, docs: Path, question: str, doc_id: str
) -> None:
    store.ingest_paths([docs])
    result = Retriever(store).retrieve(question)
    assert result.relevant
    assert result.relevance is not None
    assert result.relevance.coverage > 0.5
    assert result.passages[0].doc_id == doc_id


@pytest.mark.asyncio
@pytest.mark.parametrize("sole_writer", [True, False])
async def test_has_documents_follows_ingest_and_delete(
    store: KnowledgeStore, docs: Path, sole_writer: bool
) -> None:
    lookup = KnowledgeLookup(Retriever(store), top_k=3, timeout_s=10.0, sole_writer=sole_writer)
    counted: list[int] = []
    original = store.chunk_count

    def counting() -> int:  # a spy: the real count, and how often Qdrant was asked
        counted.append(1)
        return original()

    store.chunk_count = counting  # type: ignore[method-assign]  # a spy around the real method
    assert not await lookup.has_documents()
    store.ingest_file(docs / "besuch.md")
    assert await lookup.has_documents()
    assert await lookup.has_documents()
    store.delete("besuch")
    assert not await lookup.has_documents()
    # Local mode (the only writer) asks Qdrant once per change; a server every turn.
    assert len(counted) == (3 if sole_writer else 4)
