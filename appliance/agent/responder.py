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

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.agent.chunker import SentenceChunker
from appliance.agent.grounding import GroundingCheck
from appliance.agent.small_talk import is_small_talk
from appliance.config import Settings
from appliance.errors import ErrorCode, LLMError
from appliance.knowledge.injection import looks_like_instructions
from appliance.llm.client import ChatClient, ChatMessage, StreamStats

if TYPE_CHECKING:  # qdrant-client loads only where a knowledge base is opened
    from appliance.knowledge.lookup import KnowledgeLookup
    from appliance.knowledge.retrieve import Passage, Retrieval

MAX_USER_CHARS = 1500
# What the knowledge prompt tells the LLM to answer when the passages do not
# answer the question: a second relevance signal besides the retrieval score.
NO_ANSWER = "UNKNOWN"


@dataclass(frozen=True)
class AnswerChunk:
    text: str
    source: str  # "llm" | "extractive" | "knowledge"


@dataclass
class AnswerNotes:
    """How one answer came about; the voice loop turns it into an AnswerSources event."""

    mode: str = "none"  # none | small_talk | not_found | generative | extractive
    retrieval: Retrieval | None = None
    used: list[Passage] = field(default_factory=list)
    grounding: str = "not_checked"
    unsupported: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    llm_error: str = ""

    @property
    def used_knowledge(self) -> bool:
        return self.mode != "none"


class Responder:
    def __init__(
        self, llm: ChatClient, settings: Settings, knowledge: KnowledgeLookup | None = None
    ) -> None:
        self.llm = llm
        self.settings = settings
        self.knowledge = knowledge

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
    ) -> AsyncIterator[AnswerChunk]:
        notes = notes if notes is not None else AnswerNotes()
        if self.knowledge is None or not await self.knowledge.has_documents():
            async for chunk in self._generate(self.messages(history, user_text), stats):
                yield AnswerChunk(chunk, "llm")
            return
        if is_small_talk(user_text):
            notes.mode = "small_talk"
            async for answer in self._checked(
                self.messages(history, user_text), stats, notes, user_text, []
            ):
                yield answer
            return
        retrieval = await self.knowledge.lookup(user_text)
        notes.retrieval = retrieval
        top = retrieval.passages[: self.settings.knowledge.context_passages]
        notes.withheld = tuple(p.point_id for p in top if looks_like_instructions(p.text))
        usable = [p for p in top if p.point_id not in notes.withheld]
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
        async for answer in self._checked(
            messages, stats, notes, user_text, texts, headings=headings
        ):
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
    ) -> AsyncIterator[AnswerChunk]:
        """LLM chunks that pass the grounding check; the extractive answer if none does."""
        check = GroundingCheck(
            [*passages, *headings, question, self.settings.agent.organisation], question=question
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
            if spoken or not passages:
                raise
            # The LLM is down, slow or said nothing: the passages still answer.
            notes.grounding, notes.llm_error = "failed", str(exc.code)
        if spoken:
            return
        if passages:
            notes.mode = "extractive"
            async for answer in self._extractive(question, passages, notes):
                yield answer
        else:
            # Small talk whose answer stated facts: never speak them.
            yield AnswerChunk(self.settings.agent.prompt("not_in_knowledge"), "knowledge")

    async def _extractive(
        self, question: str, passages: list[str], notes: AnswerNotes
    ) -> AsyncIterator[AnswerChunk]:
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
