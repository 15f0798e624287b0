"""The agent's answer to one caller turn, as speakable chunks.

With a knowledge base, each caller question is looked up first:
- nothing relevant → the agent says it does not know and offers a person
  (``not_found``); small talk ("hello", "thanks") needs no knowledge;
- relevant passages → either the LLM answers from them (``generative``) and
  every chunk passes the grounding check before it is spoken, falling back to
  the passages' own best sentences when a chunk states a fact no passage holds;
  or those sentences are spoken directly (``extractive``). In generative mode
  the LLM may also decline ("UNKNOWN": the passages do not answer), which
  counts as ``not_found``.
Passages that read as instructions to the assistant are withheld. What was
used and how it was checked is written into ``AnswerNotes`` for the turn's
``AnswerSources`` event. The voice loop only sees chunks of text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.agent import call_control
from appliance.agent.chunker import SentenceChunker
from appliance.agent.grounding import GroundingCheck
from appliance.agent.knowledge_tool import NAME as SEARCH_KNOWLEDGE_TOOL_NAME
from appliance.agent.knowledge_tool import SEARCH_KNOWLEDGE_TOOL, KnowledgeSearch, search_knowledge
from appliance.agent.routed_turn import RoutedTurn, failure_prompt
from appliance.agent.router import IntentRouter
from appliance.agent.small_talk import is_small_talk
from appliance.agent.tool_round import ToolCallRecord, describe, run_tool_calls
from appliance.config import Settings
from appliance.errors import ErrorCode, LLMError
from appliance.escalation.classifier import EscalationDetector
from appliance.escalation.results import EscalationResult
from appliance.handoff.availability import human_available
from appliance.knowledge.injection import looks_like_instructions
from appliance.llm.client import ChatClient, ChatMessage, StreamStats, ToolCall, ToolCalls
from appliance.tools.identity import CallerIdentity

if TYPE_CHECKING:  # qdrant-client loads only where a knowledge base is opened
    from appliance.knowledge.lookup import KnowledgeLookup
    from appliance.knowledge.retrieve import Passage, Retrieval
    from appliance.tools.registry import ToolRegistry

MAX_USER_CHARS = 1500
# What the knowledge prompt tells the LLM to answer when the passages do not
# answer the question: a second relevance signal besides the retrieval score.
NO_ANSWER = "UNKNOWN"
_HANDOFF_PROMPT = {
    "emergency": "emergency",
    "human_request": "handoff",
    "complex": "handoff",
    "emotional": "handoff_empathy",
}


@dataclass(frozen=True)
class AnswerChunk:
    text: str
    source: str  # "llm" | "extractive" | "knowledge" | "tool" | "escalation"


def _already_set() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class AnswerNotes:
    """How one answer came about; the voice loop turns it into an AnswerSources event."""

    # none | escalation | tools | small_talk | not_found | generative | extractive
    mode: str = "none"
    retrieval: Retrieval | None = None
    used: list[Passage] = field(default_factory=list)
    grounding: str = "not_checked"
    unsupported: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    llm_error: str = ""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    escalation: EscalationResult | None = None
    human_available: bool = True
    end_call: bool = False  # the agent ends the call after this answer
    committed: asyncio.Event = field(default_factory=_already_set)
    """Set once the turn is committed; tools with side effects wait for it."""

    @property
    def used_knowledge(self) -> bool:
        """The turn looked at the knowledge base (its own lookup, or the LLM's search)."""
        return self.mode not in {"none", "tools", "escalation"} or bool(self.used)


class Responder:
    def __init__(
        self,
        llm: ChatClient,
        settings: Settings,
        knowledge: KnowledgeLookup | None = None,
        tools: ToolRegistry | None = None,
        escalation: EscalationDetector | None = None,
        *,
        today: Callable[[], dt.date] = dt.date.today,
        now: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.llm = llm
        self.settings = settings
        self.knowledge = knowledge
        self.tools = tools
        self.escalation = escalation
        self.router = IntentRouter(today=today)
        self.now = now

    @property
    def routes_tools(self) -> bool:
        """The deterministic router picks tools (the embedded tier, see tools.llm_tools)."""
        return self.tools is not None and bool(self.tools.connectors) and not self.offers_tools

    @property
    def offers_tools(self) -> bool:
        """Connectors go to the LLM as OpenAI tools (production LLMs; see tools.llm_tools)."""
        if self.tools is None or not self.tools.connectors:
            return False
        mode = self.settings.tools.llm_tools
        return mode == "on" or (mode == "auto" and not self.settings.uses_embedded_llm)

    @property
    def answer_mode(self) -> str:
        mode = self.settings.knowledge.answer_mode
        if mode == "auto":
            return "extractive" if self.settings.uses_embedded_llm else "generative"
        return mode

    def messages(
        self, history: Sequence[ChatMessage], user_text: str, passages: Sequence[Passage] = ()
    ) -> list[ChatMessage]:
        keep = self.settings.llm.history_turns * 2
        recent = list(history[-keep:]) if keep else []
        # A long monologue keeps its end: that is where the question usually is.
        text = user_text[-MAX_USER_CHARS:]
        if passages:
            # Bullets, not numbers: a small model echoes "[1]", which then reads as a fact.
            listed = "\n".join(f"- {p.title}: {p.text}" for p in passages)
            text = self.settings.agent.prompt("knowledge_context", passages=listed, question=text)
        return [
            ChatMessage(role="system", content=self.settings.agent.prompt("system")),
            *recent,
            ChatMessage(role="user", content=text),
        ]

    async def reply(
        self,
        history: Sequence[ChatMessage],
        user_text: str,
        stats: StreamStats,
        notes: AnswerNotes | None = None,
        identity: CallerIdentity | None = None,
    ) -> AsyncGenerator[AnswerChunk, None]:
        notes = notes if notes is not None else AnswerNotes()
        identity = identity if identity is not None else CallerIdentity()
        if self.escalation is not None:
            verdict = self.escalation.classify(user_text)
            if verdict.escalate:
                # A person must take over: no LLM, no lookup, a fixed pre-rendered answer.
                yield self._hand_over(verdict, notes, identity)
                return
        if self.routes_tools:
            assert self.tools is not None  # routes_tools says so
            routed = self.router.route(user_text, identity)
            if routed is not None:
                notes.mode = "tools"
                turn_ = RoutedTurn(self.tools, self.router, self.settings, notes.committed)
                spoken = await turn_.answer(routed, identity)
                notes.tool_calls.extend(spoken.records)
                yield AnswerChunk(spoken.text, "tool")
                return
        if self.knowledge is None or not await self.knowledge.has_documents():
            turn = self._plain_turn(history, user_text, stats, notes, identity)
        elif is_small_talk(user_text):
            notes.mode = "small_talk"
            turn = self._checked(self.messages(history, user_text), stats, notes, user_text, [])
        else:
            turn = self._knowledge_turn(history, user_text, stats, notes, identity)
        async with aclosing(turn):
            async for answer in turn:
                yield answer

    def _hand_over(
        self, verdict: EscalationResult, notes: AnswerNotes, identity: CallerIdentity
    ) -> AnswerChunk:
        """A person must take over: no LLM, no lookup, a fixed pre-rendered answer."""
        notes.mode, notes.escalation = "escalation", verdict
        prompt = _HANDOFF_PROMPT[verdict.label]
        if verdict.label != "emergency" and not human_available(self.settings.handoff, self.now()):
            # Nobody to take the call: offer a callback and let the router book it.
            notes.human_available, prompt = False, "no_human_callback"
            identity.pending, identity.partial = "schedule_callback", {}
        return AnswerChunk(self.settings.agent.prompt(prompt), "escalation")

    async def _plain_turn(
        self,
        history: Sequence[ChatMessage],
        user_text: str,
        stats: StreamStats,
        notes: AnswerNotes,
        identity: CallerIdentity,
    ) -> AsyncGenerator[AnswerChunk, None]:
        """No knowledge base: the LLM answers, with the tools when they are offered."""
        messages = self.messages(history, user_text)
        if self.offers_tools and not is_small_talk(user_text):
            notes.mode = "tools"
            async for answer in self._tool_turn(
                messages, stats, notes, identity=identity, question=user_text
            ):
                yield answer
            return
        async with aclosing(self._generate(messages, stats)) as chunks:
            async for chunk in chunks:
                yield AnswerChunk(chunk, "llm")

    async def _knowledge_turn(
        self,
        history: Sequence[ChatMessage],
        user_text: str,
        stats: StreamStats,
        notes: AnswerNotes,
        identity: CallerIdentity,
    ) -> AsyncGenerator[AnswerChunk, None]:
        assert self.knowledge is not None  # only called with a knowledge base
        retrieval = await self.knowledge.lookup(user_text)
        notes.retrieval = retrieval
        top = retrieval.passages[: self.settings.knowledge.context_passages]
        notes.withheld = tuple(p.point_id for p in top if looks_like_instructions(p.text))
        usable = [p for p in top if p.point_id not in notes.withheld]
        if (not retrieval.relevant or not usable) and self.offers_tools:
            # Not in the documents, but maybe a tool's business ("my appointment"):
            # the LLM may call one; text without a tool call is not spoken.
            notes.mode = "tools"
            async for answer in self._tool_turn(
                self.messages(history, user_text),
                stats,
                notes,
                identity=identity,
                question=user_text,
                text_allowed=False,
            ):
                yield answer
            return
        if not retrieval.relevant or not usable:
            notes.mode = "not_found"
            yield AnswerChunk(self.settings.agent.prompt("not_in_knowledge"), "knowledge")
            return
        notes.used = usable
        texts = [p.text for p in usable]
        headings = [f"{p.title} {p.section}" for p in usable]
        if self.answer_mode == "extractive":
            notes.mode = "extractive"
            async for answer in self._extractive(user_text, texts, notes):
                yield answer
            return
        notes.mode = "generative"
        messages = self.messages(history, user_text, usable)
        if self.offers_tools:
            turn = self._tool_turn(
                messages,
                stats,
                notes,
                identity=identity,
                question=user_text,
                passages=texts,
                headings=headings,
            )
        else:
            turn = self._checked(messages, stats, notes, user_text, texts, headings=headings)
        async for answer in turn:
            yield answer

    async def _checked(
        self,
        messages: list[ChatMessage],
        stats: StreamStats,
        notes: AnswerNotes,
        question: str,
        passages: list[str],
        *,
        headings: Sequence[str] = (),
        facts: Sequence[str] = (),
        fallback: str = "",
    ) -> AsyncGenerator[AnswerChunk, None]:
        """LLM chunks that pass the grounding check; the extractive answer (or
        ``fallback``) if none does. ``facts`` are further sources (tool results)."""
        check = GroundingCheck(
            [*passages, *headings, *facts, question, self.settings.agent.organisation],
            question=question,
        )
        spoken = False
        notes.grounding = "passed"
        try:
            async with aclosing(self._generate(messages, stats)) as chunks:
                async for chunk in chunks:
                    if not spoken and passages and NO_ANSWER in chunk:
                        # The LLM's own relevance check: the passages do not answer.
                        notes.mode, notes.grounding = "not_found", "declined"
                        notes.used = []
                        yield AnswerChunk(
                            self.settings.agent.prompt("not_in_knowledge"), "knowledge"
                        )
                        return
                    result = check.check(chunk)
                    if not result.passed:
                        notes.grounding, notes.unsupported = "failed", result.unsupported
                        break
                    spoken = True
                    yield AnswerChunk(chunk, "llm")
        except LLMError as exc:
            if spoken or not (passages or fallback):
                raise
            # The LLM is down, slow or said nothing: the passages still answer.
            notes.grounding, notes.llm_error = "failed", str(exc.code)
        if spoken:
            return
        if fallback:
            yield AnswerChunk(fallback, "tool")
        elif passages:
            notes.mode = "extractive"
            async for answer in self._extractive(question, passages, notes):
                yield answer
        else:
            # Small talk whose answer stated facts: never speak them.
            yield AnswerChunk(self.settings.agent.prompt("not_in_knowledge"), "knowledge")

    async def _tool_turn(
        self,
        messages: list[ChatMessage],
        stats: StreamStats,
        notes: AnswerNotes,
        *,
        identity: CallerIdentity,
        question: str,
        passages: Sequence[str] = (),
        headings: Sequence[str] = (),
        text_allowed: bool = True,
    ) -> AsyncGenerator[AnswerChunk, None]:
        """One LLM round with tools; if it called any, run them and let it answer from them.

        ``text_allowed=False``: nothing relevant was found, so only a tool call
        can answer; text the LLM says instead is replaced by "not in the knowledge".
        """
        assert self.tools is not None  # only called when offers_tools
        round_one = self._stream_with_tools(
            messages, stats, notes, question=question, passages=passages, headings=headings
        )
        calls: tuple[ToolCall, ...] = ()
        async for item in round_one:
            if not isinstance(item, AnswerChunk):
                calls = item
            elif text_allowed:
                yield item
        if not calls:
            if not text_allowed:
                notes.mode = "not_found"
                yield AnswerChunk(self.settings.agent.prompt("not_in_knowledge"), "knowledge")
            return
        control = next((call for call in calls if call.name in call_control.NAMES), None)
        if control is not None:
            notes.tool_calls.append(
                ToolCallRecord(
                    control.name, control.arguments, "ok", f"{control.name}: ok", 0.0, "llm"
                )
            )
            if control.name == call_control.TRANSFER:
                reason = "human_request: the LLM called transfer_to_human"
                yield self._hand_over(
                    EscalationResult("human_request", 1.0, reason), notes, identity
                )
            else:
                notes.end_call = True
                yield AnswerChunk(self.settings.agent.prompt("goodbye"), "tool")
            return
        limit = self.settings.tools.max_calls_per_turn
        searches = await self._searches(calls[:limit], notes)
        searched = {id(s.call) for s in searches}
        others = tuple(call for call in calls if id(call) not in searched)
        results, records = await run_tool_calls(
            self.tools,
            others,
            identity,
            notes.committed,
            limit=max(0, limit - len(searches)),
        )
        by_id = {m.tool_call_id: m for m in [*(s.message for s in searches), *results]}
        notes.tool_calls.extend([*(s.record for s in searches), *records])
        found = [p for s in searches for p in s.used]
        succeeded = [r for r in records if r.outcome == "ok"]
        if not succeeded and not found:
            if searches and not records and all(s.record.outcome == "ok" for s in searches):
                notes.mode = "not_found"  # the LLM searched and the documents have nothing
                yield AnswerChunk(self.settings.agent.prompt("not_in_knowledge"), "knowledge")
            else:
                yield AnswerChunk(self._tool_failure_prompt(notes.tool_calls), "tool")
            return
        answered = tuple(call for call in calls if call.id in by_id)
        follow_up = [
            *messages,
            ChatMessage(role="assistant", content="", tool_calls=answered),
            *(by_id[call.id] for call in answered),
        ]
        facts = [r.data_json for r in succeeded]
        sources = [*passages, *(p.text for p in found)]
        fallback = ". ".join(describe(json.loads(f)) for f in facts) + "." if facts else ""
        async for answer in self._checked(
            follow_up,
            stats,
            notes,
            question,
            sources,
            headings=[*headings, *(f"{p.title} {p.section}" for p in found)],
            facts=facts,
            fallback=fallback,
        ):
            yield answer

    async def _searches(
        self, calls: Sequence[ToolCall], notes: AnswerNotes
    ) -> list[KnowledgeSearch]:
        """The LLM's ``search_knowledge`` calls, run against the knowledge base."""
        if self.knowledge is None:
            return []  # not offered; an LLM calling it anyway gets TOOL_UNKNOWN
        searches = [
            await search_knowledge(
                self.knowledge, call, context_passages=self.settings.knowledge.context_passages
            )
            for call in calls
            if call.name == SEARCH_KNOWLEDGE_TOOL_NAME
        ]
        for search in searches:
            notes.withheld = (*notes.withheld, *search.withheld)
            notes.used.extend(p for p in search.used if p not in notes.used)
            if search.retrieval is not None and (
                notes.retrieval is None or not notes.retrieval.relevant
            ):
                notes.retrieval = search.retrieval
        return searches

    async def _stream_with_tools(
        self,
        messages: list[ChatMessage],
        stats: StreamStats,
        notes: AnswerNotes,
        *,
        question: str,
        passages: Sequence[str],
        headings: Sequence[str],
    ) -> AsyncGenerator[AnswerChunk | tuple[ToolCall, ...], None]:
        """Round one: grounded text chunks as they come, then the tool calls if any."""
        assert self.tools is not None
        check = GroundingCheck(
            [*passages, *headings, question, self.settings.agent.organisation], question=question
        )
        chunker = SentenceChunker(first_chunk_min_words=3)
        stream = self.llm.stream_events(
            messages,
            max_tokens=self.settings.llm.max_tokens,
            temperature=self.settings.llm.temperature,
            tools=[*self.tools.openai_tools(), *self._builtin_tools()],
            tool_choice="auto",
            stats=stats,
        )
        async with aclosing(stream):
            async for event in stream:
                if isinstance(event, ToolCalls):
                    yield event.calls
                    continue
                for chunk in chunker.feed(event.text):
                    result = check.check(chunk)
                    if not result.passed:
                        notes.grounding, notes.unsupported = "failed", result.unsupported
                        return
                    yield AnswerChunk(chunk, "llm")
        for chunk in chunker.flush():
            if check.check(chunk).passed:
                yield AnswerChunk(chunk, "llm")

    def _builtin_tools(self) -> list[dict[str, Any]]:
        knowledge = [SEARCH_KNOWLEDGE_TOOL] if self.knowledge is not None else []
        return [*knowledge, *call_control.CALL_CONTROL_TOOLS]

    def _tool_failure_prompt(self, records: Sequence[ToolCallRecord]) -> str:
        return self.settings.agent.prompt(failure_prompt(list(records)))

    async def _extractive(
        self, question: str, passages: list[str], notes: AnswerNotes
    ) -> AsyncGenerator[AnswerChunk, None]:
        assert self.knowledge is not None  # only called on the knowledge path
        scores = [p.score for p in notes.used]
        text = await self.knowledge.extractive(question, passages, scores)
        if not text:
            yield AnswerChunk(self.settings.agent.prompt("not_in_knowledge"), "knowledge")
            return
        chunker = SentenceChunker(first_chunk_min_words=3)
        for chunk in [*chunker.feed(text), *chunker.flush()]:
            yield AnswerChunk(chunk, "extractive")

    async def _generate(
        self, messages: list[ChatMessage], stats: StreamStats
    ) -> AsyncGenerator[str, None]:
        chunker = SentenceChunker(first_chunk_min_words=3)
        produced = False
        stream = self.llm.stream_chat(
            messages,
            max_tokens=self.settings.llm.max_tokens,
            temperature=self.settings.llm.temperature,
            stats=stats,
        )
        async with aclosing(stream):
            async for delta in stream:
                for chunk in chunker.feed(delta):
                    produced = True
                    yield chunk
        for chunk in chunker.flush():
            produced = True
            yield chunk
        if not produced:
            raise LLMError("the model returned no speakable text", code=ErrorCode.LLM_BAD_RESPONSE)
