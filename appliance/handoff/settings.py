"""When people are there to take calls, and where the context package goes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SPAN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WORKDAY: tuple[str, ...] = ("08:00-18:00",)


class HandoffSettings(BaseModel):
    """``[handoff]`` in the config file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    presence: Literal["always", "never", "opening_hours"] = Field(
        default="opening_hours",
        description="Whether a person can take a transferred call: always, never (the "
        "agent offers a callback), or within opening_hours.",
    )
    opening_hours: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {day: _WORKDAY for day in DAYS[:5]},
        description='Per weekday (mon..sun) spans "HH:MM-HH:MM" in the appliance\'s local time.',
    )
    dtmf_person: str = Field(
        default="0",
        pattern=r"^[0-9*#]?$",
        description='The key that asks for a person ("press 0"); empty switches it off.',
    )
    webhook_url: str | None = Field(
        default=None,
        description="The context package is POSTed here as JSON (its host must be in "
        "tools.allowed_hosts).",
    )
    webhook_secret_file: Path | None = None
    webhook_timeout_s: float = Field(default=3.0, gt=0.0, le=60.0)
    webhook_retries: int = Field(default=2, ge=0, le=5)

    @field_validator("opening_hours")
    @classmethod
    def _spans(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for day, spans in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(DAYS)}")
            for span in spans:
                if not _SPAN.match(span):
                    raise ValueError(f"{day}: {span!r} is not HH:MM-HH:MM")
        return value
