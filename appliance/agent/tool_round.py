"""Carrying out the tool calls an LLM asked for, within one caller turn.

Each call goes through the ToolRegistry (arguments checked, identity enforced,
back-end failures as coded results) and is recorded for a ``ToolCalled``
event. Calls with side effects (anything but GET) wait until the turn is
committed, so a speculative answer that the caller's next words discard never
books, cancels or sends anything. Results go back to the LLM as ``tool``
messages: the kept data, or the error code and a short reason.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from appliance.errors import ErrorCode
from appliance.llm.client import ChatMessage, ToolCall
from appliance.tools.http_connector import ToolResult
from appliance.tools.identity import CallerIdentity
from appliance.tools.registry import ToolRegistry


@dataclass(frozen=True)
class ToolCallRecord:
    name: str
    arguments: str
    outcome: str  # "ok" or an error code
    summary: str
    duration_ms: float
    source: str  # "llm" | "router"
    data_json: str = ""


def describe(data: object) -> str:
    """A plain rendering of a tool's kept fields, spoken when the LLM cannot phrase it."""
    if isinstance(data, dict):
        return ", ".join(f"{str(k).replace('_', ' ')}: {describe(v)}" for k, v in data.items())
    if isinstance(data, list):
        return "; ".join(describe(item) for item in data[:5])
    return str(data)


def tool_message(call: ToolCall, result: ToolResult) -> ChatMessage:
    if result.ok:
        body = {"ok": True, "data": result.data}
    else:
        body = {"ok": False, "error": result.code, "reason": result.message}
    return ChatMessage(
        role="tool", content=json.dumps(body, ensure_ascii=False), tool_call_id=call.id
    )


async def run_tool_calls(
    registry: ToolRegistry,
    calls: tuple[ToolCall, ...],
    identity: CallerIdentity,
    committed: asyncio.Event,
    *,
    limit: int,
    source: str = "llm",
) -> tuple[list[ChatMessage], list[ToolCallRecord]]:
    """Execute up to ``limit`` calls in order; the tool messages and the records."""
    messages: list[ChatMessage] = []
    records: list[ToolCallRecord] = []
    for call in calls[:limit]:
        connector = registry.connectors.get(call.name)
        if connector is not None and connector.method != "GET":
            await committed.wait()
        result = await registry.call(call.name, call.arguments, identity)
        messages.append(tool_message(call, result))
        records.append(
            ToolCallRecord(
                name=call.name,
                arguments=call.arguments,
                outcome="ok" if result.ok else result.code,
                summary=result.summary(),
                duration_ms=round(result.seconds * 1000, 1),
                source=source,
                data_json=json.dumps(result.data, ensure_ascii=False) if result.ok else "",
            )
        )
    for call in calls[limit:]:
        skipped = ToolResult(
            call.name, False, str(ErrorCode.TOOL_SKIPPED), message="too many calls in one turn"
        )
        messages.append(tool_message(call, skipped))
    return messages, records
