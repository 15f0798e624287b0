"""``search_knowledge``: the knowledge base as a tool the LLM can call.

Every caller question is already looked up before the LLM runs; the tool is for
what that lookup cannot do: a follow-up that only makes sense with the
conversation ("and at weekends?"), or a second, differently worded search. The
passages go back to the LLM as data in a ``tool`` message, never as
instructions: passages that address an assistant are withheld exactly as on
the per-turn path, and whatever the LLM then says is grounding-checked against
the passages it was given.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.agent.tool_round import ToolCallRecord
from appliance.errors import ErrorCode
from appliance.knowledge.errors import KnowledgeError
from appliance.knowledge.injection import looks_like_instructions
from appliance.llm.client import ChatMessage, ToolCall

if TYPE_CHECKING:  # qdrant-client loads only where a knowledge base is opened
    from appliance.knowledge.lookup import KnowledgeLookup
    from appliance.knowledge.retrieve import Passage, Retrieval

NAME = "search_knowledge"
MAX_QUERY_CHARS = 300

SEARCH_KNOWLEDGE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Search the organisation's own documents (opening hours, visiting rules, "
            "fees, procedures). Use a complete question as the query."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 2, "maxLength": MAX_QUERY_CHARS}
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
}


@dataclass(frozen=True)
class KnowledgeSearch:
    """One ``search_knowledge`` call: what goes back to the LLM and into the records."""

    call: ToolCall
    message: ChatMessage
    record: ToolCallRecord
    retrieval: Retrieval | None
    used: tuple[Passage, ...]
    withheld: tuple[str, ...]


def _query(arguments: str) -> str | None:
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return None
    query = parsed.get("query") if isinstance(parsed, dict) else None
    if not isinstance(query, str) or not query.strip():
        return None
    return query.strip()[:MAX_QUERY_CHARS]


async def search_knowledge(
    lookup: KnowledgeLookup, call: ToolCall, *, context_passages: int
) -> KnowledgeSearch:
    """Run the LLM's search; refusals and failures are coded results, not exceptions."""
    started = time.perf_counter()

    def finish(
        body: dict[str, Any],
        outcome: str,
        summary: str,
        *,
        retrieval: Retrieval | None = None,
        used: tuple[Passage, ...] = (),
        withheld: tuple[str, ...] = (),
    ) -> KnowledgeSearch:
        content = json.dumps(body, ensure_ascii=False)
        record = ToolCallRecord(
            name=NAME,
            arguments=call.arguments,
            outcome=outcome,
            summary=summary,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            source="llm",
            data_json=json.dumps(body.get("data"), ensure_ascii=False) if outcome == "ok" else "",
        )
        message = ChatMessage(role="tool", content=content, tool_call_id=call.id)
        return KnowledgeSearch(call, message, record, retrieval, used, withheld)

    query = _query(call.arguments)
    if query is None:
        code = str(ErrorCode.TOOL_BAD_ARGUMENTS)
        reason = "query must be a non-empty string"
        return finish({"ok": False, "error": code, "reason": reason}, code, f"{NAME}: {code}")
    try:
        retrieval = await lookup.lookup(query)
    except KnowledgeError as exc:
        code = str(exc.code)
        body = {"ok": False, "error": code, "reason": "the knowledge base is not available"}
        return finish(body, code, f"{NAME}: {code}")
    top = retrieval.passages[:context_passages]
    withheld = tuple(p.point_id for p in top if looks_like_instructions(p.text))
    used = tuple(p for p in top if p.point_id not in withheld) if retrieval.relevant else ()
    passages = [{"title": p.title, "section": p.section, "text": p.text} for p in used]
    data: dict[str, Any] = {"passages": passages}
    if not used:
        data["note"] = "nothing relevant in the documents"
    summary = f"{NAME}: {len(used)} passage(s)"
    body = {"ok": True, "data": data}
    return finish(body, "ok", summary, retrieval=retrieval, used=used, withheld=withheld)
