"""The tools the LLM sees (OpenAI ``tools``) and the one door every tool call goes through.

``ToolRegistry.call`` parses and checks the arguments against the connector's
schema, enforces identity before personal data, runs the HTTP connector and
returns a ``ToolResult``: unknown tools, invalid arguments, refusals and
back-end failures are results with stable codes, never exceptions, so the call
goes on and every outcome can be recorded as an event.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from appliance.errors import ConfigError, ErrorCode
from appliance.tools.http_connector import HttpTool, ToolResult
from appliance.tools.identity import CallerIdentity
from appliance.tools.schema import argument_problems
from appliance.tools.settings import ToolConnector, ToolsSettings

NOT_VERIFIED = "the details could not be verified"


def _read_secret(connector: ToolConnector) -> str | None:
    path: Path | None = connector.auth_secret_file
    if path is None:
        return None
    try:
        return path.read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"tool {connector.name}: cannot read auth_secret_file {path}: {exc.strerror}"
        ) from exc


class ToolRegistry:
    def __init__(
        self, settings: ToolsSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.connectors = {c.name: c for c in settings.connectors}
        self._tools = {
            c.name: HttpTool(
                c,
                allowed_hosts=settings.allowed_hosts,
                secret=_read_secret(c),
                transport=transport,
            )
            for c in settings.connectors
        }

    async def aclose(self) -> None:
        for tool in self._tools.values():
            await tool.aclose()

    def openai_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": c.name,
                    "description": c.description,
                    "parameters": c.parameters,
                },
            }
            for c in self.connectors.values()
        ]

    async def call(
        self, name: str, arguments: str | dict[str, Any], identity: CallerIdentity
    ) -> ToolResult:
        started = time.perf_counter()

        def refused(code: ErrorCode, message: str) -> ToolResult:
            return ToolResult(
                name, False, str(code), message=message, seconds=time.perf_counter() - started
            )

        connector = self.connectors.get(name)
        checked = _checked_arguments(connector, name, arguments)
        if isinstance(checked, tuple):
            return refused(*checked)
        parsed = checked
        assert connector is not None  # _checked_arguments refused unknown tools
        if name == self.settings.identity.verify_tool:
            return await self._verify(connector, parsed, identity, started)
        denied = _identity_problem(connector, parsed, identity)
        if denied is not None:
            return refused(*denied)
        result = await self._tools[name].call(parsed)
        owner = result.extra.get("owner")
        if connector.personal_data and owner is not None and owner != identity.customer_number:
            # The record belongs to someone else (e.g. a case number of another customer).
            return refused(ErrorCode.IDENTITY_MISMATCH, "only the caller's own data")
        return result

    async def _verify(
        self,
        connector: ToolConnector,
        arguments: dict[str, Any],
        identity: CallerIdentity,
        started: float,
    ) -> ToolResult:
        if identity.attempts >= self.settings.identity.max_attempts:
            return ToolResult(
                connector.name,
                False,
                str(ErrorCode.IDENTITY_NOT_VERIFIED),
                message="too many attempts",
                seconds=time.perf_counter() - started,
            )
        result = await self._tools[connector.name].call(arguments)
        customer = str(arguments.get(connector.customer_argument, ""))
        data = result.data if isinstance(result.data, dict) else {}
        if result.ok and data.get("verified") is True and customer:
            identity.verify(customer)
            return ToolResult(connector.name, True, data={"verified": True}, seconds=result.seconds)
        if result.ok or result.code == ErrorCode.TOOL_REJECTED:
            # Unknown customer and wrong factors look the same to the caller.
            identity.failed_attempt()
            return ToolResult(
                connector.name,
                False,
                str(ErrorCode.IDENTITY_NOT_VERIFIED),
                data={"verified": False},
                message=NOT_VERIFIED,
                seconds=result.seconds,
            )
        return result  # the back-end failed: nothing was learnt about the caller


def _checked_arguments(
    connector: ToolConnector | None, name: str, arguments: str | dict[str, Any]
) -> dict[str, Any] | tuple[ErrorCode, str]:
    """The parsed arguments, or why the call is refused before anything runs."""
    if connector is None:
        return ErrorCode.TOOL_UNKNOWN, f"no tool named {name!r}"
    parsed = _parse(arguments)
    if parsed is None:
        return ErrorCode.TOOL_BAD_ARGUMENTS, "arguments are not a JSON object"
    problems = argument_problems(connector.parameters, parsed)
    if problems:
        return ErrorCode.TOOL_BAD_ARGUMENTS, "; ".join(problems)
    return parsed


def _identity_problem(
    connector: ToolConnector, arguments: dict[str, Any], identity: CallerIdentity
) -> tuple[ErrorCode, str] | None:
    """Why personal data may not be released for these arguments; None if it may."""
    if not connector.personal_data:
        return None
    if not identity.verified:
        return ErrorCode.IDENTITY_REQUIRED, "the caller is not verified yet"
    asked = arguments.get(connector.customer_argument)
    if asked is not None and str(asked) != identity.customer_number:
        return ErrorCode.IDENTITY_MISMATCH, "only the caller's own data"
    return None


def _parse(arguments: str | dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
