"""Read a document file into Markdown-ish text (headings as ``#`` lines).

Markdown and plain text are read as UTF-8; PDF through pypdf, DOCX through
python-docx (heading styles become ``#`` lines), HTML through the standard
library parser (h1-h3 become ``#`` lines). Every failure names the file.
"""

from __future__ import annotations

import importlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from appliance.knowledge.errors import KnowledgeCode, KnowledgeError

TEXT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text"}
SUFFIXES = {**TEXT_SUFFIXES, ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}


def _fail(path: Path, reason: str, code: KnowledgeCode) -> KnowledgeError:
    return KnowledgeError(f"{path.name}: {reason}", kb_code=code)


def read_document(path: Path, *, max_bytes: int) -> str:
    """The document's text; raise KnowledgeError naming the file and the reason."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(SUFFIXES))
        raise _fail(
            path, f"unsupported file type (supported: {known})", KnowledgeCode.KB_FILE_UNSUPPORTED
        )
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise _fail(path, "file not found", KnowledgeCode.KB_FILE_NOT_FOUND) from exc
    if size > max_bytes:
        raise _fail(
            path, f"{size} bytes is over the limit of {max_bytes}", KnowledgeCode.KB_FILE_TOO_LARGE
        )
    text = _READERS[kind](path)
    if not text.strip():
        raise _fail(path, "the file contains no text", KnowledgeCode.KB_FILE_EMPTY)
    return text


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(path, "not valid UTF-8 text", KnowledgeCode.KB_FILE_UNREADABLE) from exc


def _read_pdf(path: Path) -> str:
    pypdf: Any = importlib.import_module("pypdf")
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted:
            raise _fail(path, "the PDF is encrypted", KnowledgeCode.KB_FILE_UNREADABLE)
        body = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        title = _pdf_title(reader)
    except KnowledgeError:
        raise
    except Exception as exc:
        raise _fail(
            path, f"corrupt PDF ({type(exc).__name__})", KnowledgeCode.KB_FILE_UNREADABLE
        ) from exc
    # The document-information title, when the PDF has one and there is text
    # under it, is the document's heading (a PDF's first line is often a
    # running header instead).
    return f"# {title}\n\n{body}" if title and body.strip() else body


def _pdf_title(reader: Any) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # noqa: BLE001  # a damaged info dictionary only loses the title
        return ""
    return " ".join(str(title).split())[:120] if title else ""


def _read_docx(path: Path) -> str:
    docx: Any = importlib.import_module("docx")
    try:
        document = docx.Document(str(path))
    except Exception as exc:
        raise _fail(
            path, f"corrupt DOCX ({type(exc).__name__})", KnowledgeCode.KB_FILE_UNREADABLE
        ) from exc
    lines = []
    for paragraph in document.paragraphs:
        style = str(paragraph.style.name if paragraph.style is not None else "")
        level = _heading_level(style)
        lines.append(f"{'#' * level} {paragraph.text}" if level else paragraph.text)
    return "\n\n".join(lines)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    if style.startswith("Heading ") and style[8:].isdigit():
        return min(int(style[8:]), 6)
    return 0


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "nav"})
    _BLOCK = frozenset({"p", "div", "li", "br", "tr", "section", "article"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in ("h1", "h2", "h3"):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in ("h1", "h2", "h3"):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _read_html(path: Path) -> str:
    parser = _HtmlText()
    parser.feed(_read_text(path))
    parser.close()
    return "".join(parser.parts)


_READERS = {
    "markdown": _read_text,
    "text": _read_text,
    "pdf": _read_pdf,
    "docx": _read_docx,
    "html": _read_html,
}
