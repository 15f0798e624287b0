"""Tool connectors are configuration: what the LLM sees and which HTTP call runs.

    [[tools.connectors]]
    name = "case_status"
    description = "Status of an order, appointment or claim by its case number."
    parameters = { type = "object", required = ["case_number"], properties = {
        case_number = { type = "string", pattern = "^[0-9]{4,12}$" } } }
    method = "GET"
    url = "https://backend.internal/api/cases/{case_number}"
    auth_secret_file = "/etc/appliance/secrets/backend-token"
    timeout_s = 3
    keep = ["status", "updated"]
    personal_data = true

Only hosts listed in ``tools.allowed_hosts`` can be called; a connector whose
URL points elsewhere is a configuration error, and redirects are not followed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

TOOL_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class ToolConnector(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=TOOL_NAME)
    description: str = Field(min_length=1, max_length=1024)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema of the arguments (the subset: object, string, integer, "
        "number, boolean, enum, pattern, required).",
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(description="URL template; {argument} placeholders are filled in.")
    auth_secret_file: Path | None = None
    auth_header: str = "Authorization"
    auth_scheme: Literal["bearer", "raw"] = "bearer"
    timeout_s: float = Field(default=3.0, gt=0.0, le=60.0)
    keep: tuple[str, ...] = Field(
        default=(),
        description="Response fields kept (dotted paths); empty keeps all. Only kept "
        "fields reach the LLM, the caller and the events.",
    )
    personal_data: bool = Field(
        default=False, description="Returns personal data: only for a verified caller."
    )
    say: dict[str, str] = Field(
        default_factory=dict,
        description="How a result is spoken without an LLM to phrase it, per language: "
        'e.g. {en = "Your {kind} is {status}."}; fields of the kept result fill it in.',
    )
    customer_argument: str = Field(
        default="customer_number",
        description="The argument that names whose data is asked for; it must match the "
        "verified caller.",
    )

    @model_validator(mode="after")
    def _http_url(self) -> ToolConnector:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"tool {self.name}: url must be an http(s) URL, got {self.url!r}")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name}: parameters must be a JSON schema of type object")
        return self

    @property
    def host(self) -> str:
        return _host_of(self.url)


class IdentitySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verify_tool: str | None = Field(
        default=None,
        description="Connector that checks the caller's factors and answers "
        '{"verified": true|false, "customer_number": ...}.',
    )
    factors: tuple[str, ...] = Field(
        default=("customer_number", "date_of_birth"),
        description="Arguments the caller must give before personal data is released.",
    )
    max_attempts: int = Field(default=3, ge=1, le=10)


class ToolsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="host or host:port the connectors may call; nothing else is contacted.",
    )
    connectors: tuple[ToolConnector, ...] = ()
    identity: IdentitySettings = IdentitySettings()
    llm_tools: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Offer the connectors to the LLM as OpenAI tools. auto: with a configured "
        "LLM (vLLM), not with the embedded 135M model, which cannot fill arguments.",
    )
    max_calls_per_turn: int = Field(default=2, ge=1, le=8)

    @model_validator(mode="after")
    def _allowlisted_and_unique(self) -> ToolsSettings:
        names = [c.name for c in self.connectors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique: {', '.join(duplicates)}")
        for connector in self.connectors:
            if not host_allowed(connector.url, self.allowed_hosts):
                raise ValueError(
                    f"tool {connector.name}: host {connector.host} is not in tools.allowed_hosts"
                )
        verify = self.identity.verify_tool
        if verify is not None and verify not in names:
            raise ValueError(f"identity.verify_tool {verify!r} is not a configured connector")
        return self


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """``host`` in the list allows it on any port; ``host:port`` only on that port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    with_port = f"{host}:{parts.port}" if parts.port else None
    return any(entry.lower() in {host, with_port} for entry in allowed)
