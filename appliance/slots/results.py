"""Typed slot results: a value plus the span of the transcript it came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from appliance.slots.normalize import Normalized

SlotKind = Literal["customer_number", "date", "time", "date_of_birth", "postcode", "phone_number"]
V = TypeVar("V", str, dt.date, dt.time)


@dataclass(frozen=True)
class Slot(Generic[V]):
    kind: SlotKind
    value: V
    start: int  # span in the original transcript
    end: int
    text: str  # the original words
    # True when the value needed an assumption the caller did not state: a time
    # without am/pm ("um drei"), a date without a year, a weekday.
    ambiguous: bool = False


def make_slot(
    norm: Normalized, kind: SlotKind, value: V, start: int, end: int, *, ambiguous: bool = False
) -> Slot[V]:
    """A slot for ``norm.text[start:end]``, reported with its original span."""
    src_start, src_end = norm.source_span(start, end)
    return Slot(kind, value, src_start, src_end, norm.original[src_start:src_end], ambiguous)


def overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


@dataclass(frozen=True)
class Slots:
    customer_numbers: tuple[Slot[str], ...] = ()
    dates: tuple[Slot[dt.date], ...] = ()
    times: tuple[Slot[dt.time], ...] = ()
    dates_of_birth: tuple[Slot[dt.date], ...] = ()
    postcodes: tuple[Slot[str], ...] = ()
    phone_numbers: tuple[Slot[str], ...] = ()

    @property
    def customer_number(self) -> str | None:
        return self.customer_numbers[0].value if self.customer_numbers else None

    @property
    def date(self) -> dt.date | None:
        return self.dates[0].value if self.dates else None

    @property
    def time(self) -> dt.time | None:
        return self.times[0].value if self.times else None

    @property
    def date_of_birth(self) -> dt.date | None:
        return self.dates_of_birth[0].value if self.dates_of_birth else None

    @property
    def postcode(self) -> str | None:
        return self.postcodes[0].value if self.postcodes else None

    @property
    def phone_number(self) -> str | None:
        return self.phone_numbers[0].value if self.phone_numbers else None
