"""The agent's answer to one caller turn, as speakable chunks.

Wraps the OpenAI-compatible LLM stream with the system prompt, a bounded
history, and the sentence chunker. The knowledge and tool issues extend this
seam (retrieval, grounding checks, a deterministic router); the voice loop
only sees chunks of text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from appliance.agent.chunker import SentenceChunker
from appliance.config import Settings
from appliance.errors import ErrorCode, LLMError
from appliance.llm.client import ChatClient, ChatMessage, StreamStats

MAX_USER_CHARS = 1500


class Responder:
    def __init__(self, llm: ChatClient, settings: Settings) -> None:
        self.llm = llm
        self.settings = settings

    def messages(self, history: Sequence[ChatMessage], user_text: str) -> list[ChatMessage]:
        keep = self.settings.llm.history_turns * 2
        recent = list(history[-keep:]) if keep else []
        # A long monologue keeps its end: that is where the question usually is.
        text = user_text[-MAX_USER_CHARS:]
        return [
            ChatMessage(role="system", content=self.settings.agent.prompt("system")),
            *recent,
            ChatMessage(role="user", content=text),
        ]

    async def reply(
        self, history: Sequence[ChatMessage], user_text: str, stats: StreamStats
    ) -> AsyncIterator[str]:
        chunker = SentenceChunker(first_chunk_min_words=3)
        produced = False
        stream = self.llm.stream_chat(
            self.messages(history, user_text),
            max_tokens=self.settings.llm.max_tokens,
            temperature=self.settings.llm.temperature,
            stats=stats,
        )
        async for delta in stream:
            for chunk in chunker.feed(delta):
                produced = True
                yield chunk
        for chunk in chunker.flush():
            produced = True
            yield chunk
        if not produced:
            raise LLMError("the model returned no speakable text", code=ErrorCode.LLM_BAD_RESPONSE)
