"""A clock the test moves by hand (``clock.now += 1.5``), for time-dependent logic."""

from __future__ import annotations


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
