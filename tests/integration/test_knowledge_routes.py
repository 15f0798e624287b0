"""Several knowledge bases in one running appliance (``knowledge.routes``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.engines import _open_knowledge, _open_routed
from appliance.knowledge.errors import KnowledgeError


def test_routed_collections_open_on_the_one_client_and_stay_apart(
    settings: Settings, tmp_path: Path
) -> None:
    config = settings.with_overrides(
        data_dir=str(tmp_path),  # type: ignore[arg-type]
        knowledge={
            "collection": "klinikum",
            "routes": {"2300": "radiologie", "2301": "radiologie", "2400": "klinikum"},
        },
    )
    main = _open_knowledge(config)
    others = _open_routed(main, config)
    try:
        assert [o.collection for o in others] == ["radiologie"]  # once, and not the default
        radiology = others[0]
        assert radiology.client is main.client
        assert radiology.lock is main.lock  # local mode: one client, one lock
        doc = tmp_path / "xray.md"
        doc.write_text("# X-ray\n\nX-rays are taken without an appointment.\n", "utf-8")
        radiology.store.ingest_file(doc)
        assert [d.doc_id for d in radiology.store.documents()] == ["xray"]
        assert main.store.chunk_count() == 0
        radiology.close()  # a routed base leaves the shared client open
        assert main.store.chunk_count() == 0
    finally:
        for other in others:
            other.close()
        main.close()
    with pytest.raises(KnowledgeError):  # the owner closed the client
        main.store.chunk_count()
