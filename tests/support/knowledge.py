"""A knowledge base of a few small documents written at test time (real USE + Qdrant local)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from appliance.config import Settings
from appliance.knowledge.service import Knowledge, open_knowledge


@contextmanager
def knowledge_of(settings: Settings, docs: Path, files: Mapping[str, str]) -> Iterator[Knowledge]:
    """Write ``files`` (name → Markdown) into ``docs``, ingest them, close at the end."""
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    opened = open_knowledge(settings)
    try:
        opened.store.ingest_paths([docs])
        yield opened
    finally:
        opened.close()
