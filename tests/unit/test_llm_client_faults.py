"""ChatClient under faults: real sockets on 127.0.0.1 where the socket is the
point (refused, silent, garbage, dropped connections), httpx.MockTransport
where only the body matters."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager, suppress
from typing import Any

import httpx
import pytest

from appliance.errors import ErrorCode, LLMError
from appliance.llm import ChatClient, ChatMessage, StreamStats, TextDelta, ToolCall, ToolCalls

MESSAGES = [ChatMessage("system", "secret system prompt"), ChatMessage("user", "secret question")]

Scenario = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def make_client(base_url: str, **overrides: Any) -> ChatClient:
    options: dict[str, Any] = {
        "base_url": base_url,
        "model": "test-model",
        "api_key": None,
        "connect_timeout_s": 0.5,
        "first_token_timeout_s": 0.3,
        "total_timeout_s": 2.0,
        "retries": 1,
        "retry_backoff_s": 0.05,
    }
    options.update(overrides)
    return ChatClient(**options)


async def collect(client: ChatClient, stats: StreamStats | None = None) -> str:
    parts = []
    async with aclosing(
        client.stream_chat(MESSAGES, max_tokens=16, temperature=0.0, stats=stats)
    ) as stream:
        async for delta in stream:
            parts.append(delta)
    return "".join(parts)


async def collect_into(client: ChatClient, received: list[str]) -> None:
    """Like collect, but what arrived before an error stays visible."""
    async for delta in client.stream_chat(MESSAGES, max_tokens=8, temperature=0.0):
        received.append(delta)


# -- a scripted HTTP/1.1 server on a real socket -----------------------------


class FaultServer:
    """Reads one request per connection, then runs the scenario on it."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.client_gone = asyncio.Event()
        self.handler_done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.requests.append(json.loads(await reader.readexactly(length)))
            await self.scenario(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)
            self.handler_done.set()

    async def cancel_handlers(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_for_client_to_leave(self, reader: asyncio.StreamReader) -> None:
        """Block until the client closes the connection (EOF)."""
        while await reader.read(1024):
            pass
        self.client_gone.set()


@asynccontextmanager
async def serving(
    scenario: Scenario, sock: socket.socket | None = None
) -> AsyncIterator[tuple[FaultServer, asyncio.Server]]:
    fault = FaultServer(scenario)
    if sock is None:
        server = await asyncio.start_server(fault.handle, "127.0.0.1", 0)
    else:
        server = await asyncio.start_server(fault.handle, sock=sock, start_serving=False)
    try:
        yield fault, server
    finally:
        server.close()
        await fault.cancel_handlers()
        await server.wait_closed()


def url_of(server: asyncio.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


@contextmanager
def unlistened_port() -> Iterator[socket.socket]:
    """A bound port nobody listens on: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def sse(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return chunk(f"data: {text}\n\n".encode())


def content(text: str, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": text} if text else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


ROLE_CHUNK = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}


async def send(writer: asyncio.StreamWriter, *parts: bytes) -> None:
    writer.write(b"".join(parts))
    await writer.drain()


# -- connection failures ---------------------------------------------------------


@pytest.mark.asyncio
async def test_llm_down_is_unavailable_quickly_after_one_retry() -> None:
    with unlistened_port() as sock:
        port = sock.getsockname()[1]
        stats = StreamStats()
        async with make_client(f"http://127.0.0.1:{port}/v1", retries=1) as client:
            started = time.monotonic()
            with pytest.raises(LLMError) as caught:
                await collect(client, stats)
            elapsed = time.monotonic() - started
    assert caught.value.code is ErrorCode.LLM_UNAVAILABLE
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert stats.attempts == 2
    assert stats.first_token_s is None
    assert elapsed < 0.5 + 0.3  # about the connect timeout, retry included


@pytest.mark.asyncio
async def test_connect_timeout_is_unavailable_within_the_connect_timeout() -> None:
    # A listener whose accept queue is full drops further SYNs: connect hangs.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        await asyncio.sleep(0.05)
        async with make_client(
            f"http://127.0.0.1:{port}/v1",
            connect_timeout_s=0.2,
            first_token_timeout_s=2.0,
            retries=0,
        ) as client:
            started = time.monotonic()
            with pytest.raises(LLMError) as caught:
                await collect(client)
            elapsed = time.monotonic() - started
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert caught.value.code is ErrorCode.LLM_UNAVAILABLE
    assert isinstance(caught.value.__cause__, httpx.ConnectTimeout)
    assert 0.15 < elapsed < 1.0


@pytest.mark.asyncio
async def test_retry_succeeds_when_the_server_comes_up_after_the_first_attempt() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, SSE_HEAD, sse(content("Hello")), sse(content("", "stop")))
        await send(writer, sse("[DONE]"), chunk(b""))

    with unlistened_port() as sock:
        async with serving(reply, sock=sock) as (fault, server):

            class StartServerOnRefusal(httpx.AsyncBaseTransport):
                """The real transport; the first refusal brings the server up."""

                def __init__(self) -> None:
                    self.inner = httpx.AsyncHTTPTransport()
                    self.refusals = 0

                async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                    try:
                        return await self.inner.handle_async_request(request)
                    except httpx.ConnectError:
                        self.refusals += 1
                        await server.start_serving()
                        raise

                async def aclose(self) -> None:
                    await self.inner.aclose()

            transport = StartServerOnRefusal()
            stats = StreamStats()
            port = sock.getsockname()[1]
            async with make_client(f"http://127.0.0.1:{port}/v1", transport=transport) as client:
                text = await collect(client, stats)
    assert text == "Hello"
    assert transport.refusals == 1
    assert stats.attempts == 2
    assert fault.connections == 1
    assert stats.finish_reason == "stop"


@pytest.mark.asyncio
async def test_connection_lost_after_text_is_not_retried() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, SSE_HEAD, sse(content("Hel")))
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async with serving(drop) as (fault, server), make_client(url_of(server), retries=3) as client:
        received: list[str] = []
        with pytest.raises(LLMError) as caught:
            await collect_into(client, received)
    assert received == ["Hel"]
    assert caught.value.code is ErrorCode.LLM_UNAVAILABLE
    assert "mid-stream" in caught.value.message
    assert fault.connections == 1


# -- garbage ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("head", "body"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n",
            b"<html><body>It works!</body></html>\n",
            id="html",
        ),
        pytest.param(SSE_HEAD, chunk(b"<html>It works!</html>\n\n"), id="junk-as-sse"),
        pytest.param(SSE_HEAD, sse("{not json"), id="invalid-json"),
        pytest.param(
            SSE_HEAD, sse({"id": "x", "object": "chat.completion.chunk"}), id="no-choices"
        ),
    ],
)
async def test_garbage_is_a_bad_response(head: bytes, body: bytes) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, head, body)
        if head is SSE_HEAD:
            await send(writer, chunk(b""))

    async with serving(garbage) as (fault, server), make_client(url_of(server)) as client:
        with pytest.raises(LLMError) as caught:
            await collect(client)
    assert caught.value.code is ErrorCode.LLM_BAD_RESPONSE
    assert "secret" not in str(caught.value)
    assert fault.connections == 1  # a bad answer is not retried


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> ChatClient:
    return make_client("http://llm.test/v1", transport=httpx.MockTransport(handler), **kw)


@pytest.mark.asyncio
async def test_http_500_is_a_bad_response_without_echoing_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echo = json.loads(request.content)["messages"][1]["content"]
        return httpx.Response(500, json={"error": {"message": echo, "type": "server_error"}})

    async with mock_client(handler) as client:
        with pytest.raises(LLMError) as caught:
            await collect(client)
    assert caught.value.code is ErrorCode.LLM_BAD_RESPONSE
    assert "HTTP 500" in caught.value.message
    assert "server_error" in caught.value.message
    assert "secret" not in str(caught.value)


def sse_body(*events: dict[str, Any] | str) -> bytes:
    return b"".join(
        f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (sse_body(content("Hi")), "without [DONE]"),
        (sse_body(content("Hi"), {"error": {"type": "overloaded", "message": "x"}}), "overloaded"),
        (sse_body({"choices": [{"index": 0, "delta": {"content": 3}}]}, "[DONE]"), "non-text"),
    ],
)
async def test_malformed_streams_are_bad_responses(body: bytes, fragment: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async with mock_client(handler) as client:
        with pytest.raises(LLMError) as caught:
            await collect(client)
    assert caught.value.code is ErrorCode.LLM_BAD_RESPONSE
    assert fragment in caught.value.message


# -- timeouts --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("headers_first", [False, True], ids=["silent", "pings-only"])
async def test_no_first_token_times_out_and_closes_the_connection(headers_first: bool) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if headers_first:
            await send(writer, SSE_HEAD, sse(ROLE_CHUNK), chunk(b": ping\n\n"))
        await fault.wait_for_client_to_leave(reader)

    async with serving(stall) as (fault, server), make_client(url_of(server)) as client:
        stats = StreamStats()
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            await collect(client, stats)
        elapsed = time.monotonic() - started
        await asyncio.wait_for(fault.client_gone.wait(), 1.0)
    assert caught.value.code is ErrorCode.LLM_TIMEOUT
    assert "first_token_timeout_s" in caught.value.message
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert 0.3 <= elapsed < 0.8
    assert stats.attempts == 1  # a slow server is not hammered with retries


@pytest.mark.asyncio
async def test_stalling_after_the_first_token_hits_the_total_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, SSE_HEAD, sse(content("Hel")))
        await fault.wait_for_client_to_leave(reader)

    async with (
        serving(stall) as (fault, server),
        make_client(url_of(server), total_timeout_s=0.6) as client,
    ):
        received: list[str] = []
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            await collect_into(client, received)
        elapsed = time.monotonic() - started
    assert received == ["Hel"]
    assert caught.value.code is ErrorCode.LLM_TIMEOUT
    assert "total_timeout_s" in caught.value.message
    assert 0.6 <= elapsed < 1.1


# -- cancellation ----------------------------------------------------------------


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await send(writer, SSE_HEAD)
    while True:
        await send(writer, sse(content("word ")))
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_breaking_out_closes_the_connection_at_once() -> None:
    async with serving(endless) as (fault, server), make_client(url_of(server)) as client:
        stats = StreamStats()
        async with aclosing(
            client.stream_chat(MESSAGES, max_tokens=500, temperature=0.0, stats=stats)
        ) as stream:
            async for _ in stream:
                break
        # The server's next write fails: the socket was closed, not pooled.
        await asyncio.wait_for(fault.handler_done.wait(), 1.0)
    assert stats.tokens >= 1
    assert stats.first_token_s is not None


@pytest.mark.asyncio
async def test_cancelling_the_consumer_propagates_and_closes_the_connection() -> None:
    first = asyncio.Event()

    async def consume(client: ChatClient) -> None:
        async for _ in client.stream_chat(MESSAGES, max_tokens=500, temperature=0.0):
            first.set()

    async with serving(endless) as (fault, server), make_client(url_of(server)) as client:
        task = asyncio.create_task(consume(client))
        await asyncio.wait_for(first.wait(), 1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(fault.handler_done.wait(), 1.0)


# -- the happy path details: usage, tool calls, health ------------------------------


@pytest.mark.asyncio
async def test_tool_call_fragments_are_assembled_and_usage_counts_tokens() -> None:
    def tool_delta(**fragment: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}

    body = sse_body(
        ROLE_CHUNK,
        content("Let me check."),
        tool_delta(index=0, id="call_a", type="function", function={"name": "lookup"}),
        tool_delta(index=0, function={"arguments": '{"ward": '}),
        tool_delta(index=1, id="call_b", function={"name": "transfer", "arguments": "{}"}),
        tool_delta(index=0, function={"arguments": '"B2"}'}),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 17}},
        "[DONE]",
    )
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    stats = StreamStats()
    async with mock_client(handler) as client:
        events = [
            event
            async for event in client.stream_events(
                MESSAGES, max_tokens=64, temperature=0.0, tools=tools, stats=stats
            )
        ]
    assert events == [
        TextDelta("Let me check."),
        ToolCalls(
            (
                ToolCall(id="call_a", name="lookup", arguments='{"ward": "B2"}'),
                ToolCall(id="call_b", name="transfer", arguments="{}"),
            )
        ),
    ]
    assert stats.finish_reason == "tool_calls"
    assert stats.tokens == 17
    assert seen[0]["tools"] == tools
    assert seen[0]["stream"] is True


def test_messages_with_tool_calls_go_on_the_wire_in_openai_format() -> None:
    call = ToolCall(id="call_a", name="lookup", arguments="{}")
    assert ChatMessage("assistant", "", tool_calls=(call,)).to_wire() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ],
    }
    assert ChatMessage("tool", "ok", tool_call_id="call_a").to_wire() == {
        "role": "tool",
        "content": "ok",
        "tool_call_id": "call_a",
    }
    with pytest.raises(ValueError, match="tool_call_id"):
        ChatMessage("tool", "ok")


@pytest.mark.asyncio
async def test_health() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/models"
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(200, json={"object": "list", "data": [{"id": "test-model"}]})

    async with mock_client(handler, api_key="k") as client:
        assert await client.health()
    with unlistened_port() as sock:
        async with make_client(f"http://127.0.0.1:{sock.getsockname()[1]}/v1") as client:
            assert not await client.health()
