"""One entry point: every slot in a transcript, resolved against ``today``."""

from __future__ import annotations

import datetime as dt

from appliance.slots.dates import find_dates
from appliance.slots.digits import find_digit_slots
from appliance.slots.normalize import normalize
from appliance.slots.results import SlotKind, Slots
from appliance.slots.times import find_times


def extract_slots(text: str, today: dt.date, expected: SlotKind | None = None) -> Slots:
    """All slots in ``text`` (German or English, as Whisper writes it).

    ``today`` resolves relative dates ("morgen", "next Tuesday") and is never
    read from the clock here. ``expected`` is the slot the agent just asked
    for: it lets a bare answer count ("4 7 1 1" after "Ihre Kundennummer?",
    "12. Mai 1980" after "Ihr Geburtsdatum?").
    """
    norm = normalize(text)
    taken: list[tuple[int, int]] = []
    # Dates first ("3.4." is not a time), then times, then digit runs in what is left.
    dates, births = find_dates(norm, today, taken, expect_birth=expected == "date_of_birth")
    times = find_times(norm, taken)
    digits = find_digit_slots(norm, taken, expected)
    return Slots(
        customer_numbers=tuple(digits["customer_number"]),
        dates=tuple(dates),
        times=tuple(times),
        dates_of_birth=tuple(births),
        postcodes=tuple(digits["postcode"]),
        phone_numbers=tuple(digits["phone_number"]),
    )
