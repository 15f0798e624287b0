"""The language model: one OpenAI-compatible client, one embedded server."""

from appliance.llm.client import (
    ChatClient,
    ChatMessage,
    StreamEvent,
    StreamStats,
    TextDelta,
    ToolCall,
    ToolCalls,
)
from appliance.llm.embedded_server import EmbeddedLlamaServer

__all__ = [
    "ChatClient",
    "ChatMessage",
    "EmbeddedLlamaServer",
    "StreamEvent",
    "StreamStats",
    "TextDelta",
    "ToolCall",
    "ToolCalls",
]
