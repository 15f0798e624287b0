"""Escalation settings: which triggers are on, which topics count as complex."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.escalation.lexicon import builtin_topics


class EscalationSettings(BaseModel):
    """``[escalation]`` in the config file, ``APPLIANCE_ESCALATION__*`` in the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    emergency: bool = Field(
        default=True, description="Medical emergency: tell the caller to dial 112, transfer."
    )
    human_request: bool = Field(default=True, description="The caller asks for a person.")
    complex: bool = Field(default=True, description="A topic from complex_topics comes up.")
    emotional: bool = Field(default=True, description="Strong frustration, anger, grief.")
    repeated_failure: bool = Field(
        default=True, description="max_failed_attempts failed turns on the same concern."
    )
    complex_topics: tuple[str, ...] = Field(
        default=builtin_topics(),
        description="Built-in complex topics that escalate: "
        + ", ".join(builtin_topics())
        + ", plus any name from custom_topics.",
    )
    custom_topics: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Operator topics: name -> phrases; each word also matches its "
        "inflections and compounds starting with it (e.g. 'mahnung' -> 'Mahnungen').",
    )
    threshold: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Combined cue score at which a label fires."
    )
    model_backstop: bool = Field(
        default=True,
        description="Ask the small linear model when no rule fired (and nothing was negated).",
    )
    model_threshold: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Model probability at which its label counts."
    )
    max_failed_attempts: int = Field(default=2, ge=1, le=10)
    failure_window_s: float | None = Field(
        default=None,
        gt=0.0,
        description="Forget failures older than this; unset keeps them for the whole call.",
    )

    @model_validator(mode="after")
    def _known_topics(self) -> EscalationSettings:
        known = set(builtin_topics()) | set(self.custom_topics)
        unknown = [t for t in self.complex_topics if t not in known]
        if unknown:
            raise ValueError(
                f"unknown complex topic(s) {unknown}; built-in: {list(builtin_topics())}, "
                f"custom: {sorted(self.custom_topics)}"
            )
        return self

    @field_validator("custom_topics")
    @classmethod
    def _phrases_present(cls, topics: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, phrases in topics.items():
            if not any(p.strip() for p in phrases):
                raise ValueError(f"custom topic {name!r} needs at least one phrase")
        return topics

    def enabled_topics(self) -> tuple[str, ...]:
        """Built-in topics switched on, then every custom topic."""
        builtin = tuple(t for t in self.complex_topics if t in builtin_topics())
        return builtin + tuple(self.custom_topics)
