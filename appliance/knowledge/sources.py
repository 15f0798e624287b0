"""The original files of a knowledge base, kept under the data directory.

``kb reindex`` rebuilds every chunk from these copies (after a change of
chunking or embedding model) without asking the operator for the files again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


class SourceArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def keep(self, path: Path, doc_id: str) -> Path:
        """Copy ``path`` in as ``doc_id``, atomically, replacing an older copy."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.remove(doc_id)
        target = self.root / f"{doc_id}{path.suffix.lower()}"
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        os.close(handle)
        shutil.copyfile(path, temporary)
        Path(temporary).replace(target)
        return target

    def remove(self, doc_id: str) -> None:
        for old in self.root.glob(f"{doc_id}.*"):
            if old.stem == doc_id:
                old.unlink()

    def files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_file() and not p.name.startswith("."))
