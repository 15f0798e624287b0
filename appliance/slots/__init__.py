"""Deterministic slot filler: customer numbers, dates, times, dates of birth,
postcodes and phone numbers from German and English transcripts, each with the
span of the words it came from. No LLM, no clock: ``today`` is passed in.
"""

from appliance.slots.extract import extract_slots
from appliance.slots.normalize import Normalized, normalize
from appliance.slots.numbers import NumberWord, parse_english, parse_german
from appliance.slots.results import Slot, SlotKind, Slots

__all__ = [
    "Normalized",
    "NumberWord",
    "Slot",
    "SlotKind",
    "Slots",
    "extract_slots",
    "normalize",
    "parse_english",
    "parse_german",
]
