"""Settings of the browser softphone (``[phone]`` in the config file).

Kept apart from the WebRTC code so loading the configuration never imports
aiortc.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PhoneSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Serve the softphone page at /phone.")
    sample_rate: Literal[8_000, 16_000, 48_000] = Field(
        default=48_000,
        description="Rate of a browser call's 20 ms frames; 48 kHz is Opus' own rate, "
        "so neither direction is resampled twice.",
    )
    max_calls: int = Field(
        default=4, ge=1, le=256, description="Concurrent browser calls; more get 503."
    )
    ice_servers: tuple[str, ...] = Field(
        default=(),
        description="STUN/TURN URLs (without credentials) for browser and appliance. "
        "Empty: host candidates only, nothing leaves the LAN.",
    )
    connect_timeout_s: float = Field(default=15.0, gt=0.0, le=120.0)
    media_timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        le=600.0,
        description="A connected browser that sends no audio this long is hung up.",
    )
    max_call_s: float = Field(default=1800.0, gt=0.0, le=86_400.0)
