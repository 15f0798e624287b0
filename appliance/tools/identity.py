"""Who the caller is, as far as the call has proven it.

Personal data is released only after the configured factors were checked by
the back-end (``identity.verify_tool``). A failed check says the same thing
whether or not the customer exists, and only for the verified customer's own
number: asking about someone else's is refused before any back-end is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallerIdentity:
    verified: bool = False
    customer_number: str | None = None
    attempts: int = 0
    pending: str | None = None
    """A request (tool name) waiting for verification or a missing detail."""
    partial: dict[str, Any] = field(default_factory=dict)
    """Details of the pending request the caller already gave."""

    def verify(self, customer_number: str) -> None:
        self.verified = True
        self.customer_number = customer_number

    def failed_attempt(self) -> None:
        self.attempts += 1
