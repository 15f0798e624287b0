"""Per-call tracker for the "two failed attempts on the same concern" trigger.

The agent reports each turn's outcome for the concern it worked on (an intent
or tool name, a ticket topic: any stable key). A success clears the concern;
``max_failures`` failures within ``window_s`` (if set) fire the trigger once.
Time comes from an injected clock, so tests need no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from appliance.escalation.results import TriggerEvent
from appliance.escalation.settings import EscalationSettings
from appliance.escalation.text import fold


class TurnOutcome(StrEnum):
    RESOLVED = "resolved"  # the concern was answered or done
    FAILED = (
        "failed"  # not understood, no answer found, tool failed, caller said "no, that's wrong"
    )


class FailureTracker:
    def __init__(
        self,
        *,
        max_failures: int = 2,
        window_s: float | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.enabled = enabled
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._fired: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: EscalationSettings, clock: Callable[[], float] = time.monotonic
    ) -> FailureTracker:
        return cls(
            max_failures=settings.max_failed_attempts,
            window_s=settings.failure_window_s,
            enabled=settings.repeated_failure,
            clock=clock,
        )

    @staticmethod
    def key(concern: str) -> str:
        return fold(concern).replace(" ", "_")

    def failures(self, concern: str) -> int:
        return len(self._live(self.key(concern)))

    def _live(self, key: str) -> list[float]:
        stamps = self._failures.get(key, [])
        if self.window_s is not None:
            oldest = self._clock() - self.window_s
            stamps = [t for t in stamps if t >= oldest]
            self._failures[key] = stamps
        return stamps

    def record(self, concern: str, outcome: TurnOutcome) -> TriggerEvent | None:
        """Record one turn; return the trigger the first time the limit is reached."""
        key = self.key(concern)
        if not key:
            raise ValueError("concern must not be empty")
        if outcome is TurnOutcome.RESOLVED:
            self._failures.pop(key, None)
            self._fired.discard(key)
            return None
        stamps = [*self._live(key), self._clock()]
        self._failures[key] = stamps
        if not self.enabled or key in self._fired or len(stamps) < self.max_failures:
            return None
        self._fired.add(key)
        return TriggerEvent(
            "repeated_failure",
            f"repeated_failure: {len(stamps)} failed attempts on {key!r}",
        )

    def reset(self) -> None:
        self._failures.clear()
        self._fired.clear()
