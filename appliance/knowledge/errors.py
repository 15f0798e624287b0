"""Coded errors of the knowledge base (codes live in ``appliance.errors.ErrorCode``)."""

from __future__ import annotations

from appliance.errors import ApplianceError, ErrorCode

KnowledgeCode = ErrorCode


class KnowledgeError(ApplianceError):
    """A knowledge-base operation failed; ``code`` (also ``kb_code``) says why."""

    def __init__(self, message: str, *, kb_code: ErrorCode) -> None:
        super().__init__(message, code=kb_code)

    @property
    def kb_code(self) -> ErrorCode:
        return self.code
