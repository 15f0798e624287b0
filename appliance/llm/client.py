"""One OpenAI-compatible streaming chat client for vLLM and the embedded server.

Convention: ``base_url`` includes the API version prefix, exactly like the
OpenAI clients (``http://vllm.internal:8000/v1``); the client appends
``/chat/completions`` and ``/models`` and never adds ``/v1`` itself.

The public methods own every policy: the connect timeout, the first-token
timeout, the total timeout, retries (only for connection failures before any
event reached the caller), statistics and error mapping. Every failure is an
:class:`~appliance.errors.LLMError` with a stable code, raised ``from`` its
cause. Messages name what went wrong, never the prompt or the reply, and
nothing here logs either.

Cancellation: the streams are async generators. Iterate them inside
``contextlib.aclosing(...)`` (or cancel the consuming task) so that the HTTP
response is closed at once when the caller barges in; the server sees the
disconnect and stops generating.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import httpx

from appliance.errors import ConfigError, ErrorCode, LLMError

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call requested by the model.

    ``arguments`` is the JSON text exactly as the model produced it; the model
    may produce invalid JSON, so validating it is the caller's job.
    """

    id: str
    name: str
    arguments: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message.

    ``tool_calls`` is set on an assistant message that requested tools;
    ``tool_call_id`` on the ``tool`` message that answers one of them.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            wire["tool_calls"] = [call.to_wire() for call in self.tool_calls]
            if not self.content:
                wire["content"] = None
        if self.tool_call_id is not None:
            wire["tool_call_id"] = self.tool_call_id
        return wire


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of reply text, as it arrived."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The tool calls of a reply, assembled from their streamed fragments.

    Emitted once, after the last fragment (when the stream ends), because a
    partial call cannot be acted on.
    """

    calls: tuple[ToolCall, ...]


StreamEvent = TextDelta | ToolCalls


@dataclass(slots=True)
class StreamStats:
    """Timing of one streamed reply; filled in while the stream runs.

    ``first_token_s`` and ``total_s`` count from the call, including retries.
    ``tokens`` is ``usage.completion_tokens`` when the server reports it, else
    the number of chunks that carried text or tool-call fragments.
    ``tokens_per_s`` is the decode rate after the first token.
    """

    first_token_s: float | None = None
    total_s: float = 0.0
    tokens: int = 0
    tokens_per_s: float = 0.0
    finish_reason: str | None = None
    attempts: int = 0

    def reset(self) -> None:
        self.first_token_s = None
        self.total_s = 0.0
        self.tokens = 0
        self.tokens_per_s = 0.0
        self.finish_reason = None
        self.attempts = 0


@dataclass(slots=True)
class _ToolCallBuilder:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class _RetryableError(Exception):
    """A connection failure before anything reached the caller."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(error.message)
        self.error = error


def _bad(message: str) -> LLMError:
    return LLMError(message, code=ErrorCode.LLM_BAD_RESPONSE)


def _safe_url(raw: str) -> str:
    """The URL without credentials, for messages and logs."""
    url = httpx.URL(raw)
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}".rstrip("/")


class ChatClient:
    """Streaming chat completions against an OpenAI-compatible server."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        connect_timeout_s: float,
        first_token_timeout_s: float,
        total_timeout_s: float,
        retries: int,
        retry_backoff_s: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"LLM base_url is not a URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError("LLM base_url must be an http(s) URL with a host")
        if min(connect_timeout_s, first_token_timeout_s, total_timeout_s) <= 0:
            raise ConfigError("LLM timeouts must be positive")
        if retries < 0:
            raise ConfigError("LLM retries must not be negative")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.connect_timeout_s = connect_timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.total_timeout_s = total_timeout_s
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self._where = _safe_url(self.base_url)
        if not url.path.rstrip("/").rsplit("/", 1)[-1].startswith("v"):
            log.warning(
                "LLM base_url has no version suffix; the client does not add /v1",
                extra={"llm_url": self._where},
            )
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Reads are bounded by the first-token and total deadlines below, not
        # by httpx. trust_env=False: no proxy or netrc from the environment may
        # send traffic anywhere but the configured endpoint.
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=None,
                write=connect_timeout_s,
                pool=connect_timeout_s,
            ),
            trust_env=False,
            follow_redirects=False,
            transport=transport,
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def health(self) -> bool:
        """True when ``GET /models`` answers with a model list.

        The embedded llama.cpp server serialises ``/models`` behind the same
        lock as generation, so the read may wait up to the first-token timeout.
        """
        try:
            response = await self._http.get(
                f"{self.base_url}/models",
                timeout=httpx.Timeout(self.connect_timeout_s, read=self.first_token_timeout_s),
            )
            if response.status_code != 200:
                log.info("LLM health check failed", extra=self._extra(status=response.status_code))
                return False
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.info("LLM health check failed", extra=self._extra(error=type(exc).__name__))
            return False
        return isinstance(body, dict) and isinstance(body.get("data"), list)

    async def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stats: StreamStats | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield the reply text in deltas as the server produces them."""
        events = self.stream_events(
            messages, max_tokens=max_tokens, temperature=temperature, stats=stats
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, TextDelta):
                    yield event.text
                else:
                    log.debug("LLM sent tool calls nobody asked for", extra=self._extra())

    async def stream_events(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        stats: StreamStats | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield text deltas as they arrive and, at the end, any tool calls.

        ``tools`` and ``tool_choice`` are passed through in OpenAI format.
        """
        if stats is None:
            stats = StreamStats()
        stats.reset()
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [message.to_wire() for message in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            payload["tools"] = [dict(tool) for tool in tools]
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
        loop = asyncio.get_running_loop()
        started = loop.time()
        run = _Run(
            started=started,
            first_deadline=started + self.first_token_timeout_s,
            total_deadline=started + self.total_timeout_s,
            stats=stats,
        )
        outcome = "error"
        try:
            while True:
                stats.attempts += 1
                try:
                    async with aclosing(self._attempt(payload, run)) as attempt:
                        async for event in attempt:
                            yield event
                    outcome = "ok"
                    return
                except _RetryableError as retryable:
                    await self._before_retry(retryable, run)
        except GeneratorExit:
            outcome = "closed"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self._finish(run, loop.time(), outcome)

    async def _before_retry(self, retryable: _RetryableError, run: _Run) -> None:
        """Sleep before the next attempt, or raise when no retry is left."""
        error = retryable.error
        cause = retryable.__cause__
        if run.stats.attempts > self.retries:
            raise error from cause
        delay = self.retry_backoff_s * 2 ** (run.stats.attempts - 1)
        loop = asyncio.get_running_loop()
        if loop.time() + delay >= min(run.first_deadline, run.total_deadline):
            raise error from cause
        log.warning(
            "LLM connection failed, retrying",
            extra=self._extra(
                code=str(error.code), attempt=run.stats.attempts, retry_in_s=round(delay, 3)
            ),
        )
        await asyncio.sleep(delay)

    def _finish(self, run: _Run, now: float, outcome: str) -> None:
        stats = run.stats
        stats.total_s = now - run.started
        if run.usage_tokens is not None:
            stats.tokens = run.usage_tokens
        if stats.first_token_s is not None and stats.tokens > 1:
            decode_s = stats.total_s - stats.first_token_s
            stats.tokens_per_s = (stats.tokens - 1) / decode_s if decode_s > 0 else 0.0
        log.info(
            "LLM stream finished",
            extra=self._extra(
                outcome=outcome,
                attempts=stats.attempts,
                first_token_s=stats.first_token_s and round(stats.first_token_s, 4),
                total_s=round(stats.total_s, 4),
                tokens=stats.tokens,
                tokens_per_s=round(stats.tokens_per_s, 2),
                finish_reason=stats.finish_reason,
            ),
        )

    async def _attempt(
        self, payload: dict[str, Any], run: _Run
    ) -> AsyncGenerator[StreamEvent, None]:
        """One HTTP request; yields events, maps every failure to LLMError."""
        response: httpx.Response | None = None
        try:
            request = self._http.build_request(
                "POST", f"{self.base_url}/chat/completions", json=payload
            )
            async with asyncio.timeout_at(run.deadline()):
                response = await self._http.send(request, stream=True)
            await self._check_response(response, run)
            async with aclosing(self._events(response, run)) as events:
                async for event in events:
                    yield event
        except TimeoutError as exc:
            if run.stats.first_token_s is None and run.loop_time() < run.total_deadline:
                what = f"no token within first_token_timeout_s={self.first_token_timeout_s}"
            else:
                what = f"reply not complete within total_timeout_s={self.total_timeout_s}"
            raise LLMError(f"LLM at {self._where}: {what}", code=ErrorCode.LLM_TIMEOUT) from exc
        except httpx.HTTPError as exc:
            self._raise_http_error(exc, run)
        finally:
            if response is not None:
                await response.aclose()

    async def _events(
        self, response: httpx.Response, run: _Run
    ) -> AsyncGenerator[StreamEvent, None]:
        lines = response.aiter_lines()
        parser = _StreamParser()
        try:
            while True:
                if run.loop_time() >= run.deadline():
                    raise TimeoutError
                async with asyncio.timeout_at(run.deadline()):
                    line = await anext(lines, None)
                if line is None:
                    break
                events = parser.feed(line)
                run.observe(parser)
                for event in events:
                    yield event
                if parser.done:
                    break
            events = parser.finish()
            run.observe(parser)
            for event in events:
                yield event
        finally:
            await _aclose(lines)

    async def _check_response(self, response: httpx.Response, run: _Run) -> None:
        if response.status_code >= 400:
            await self._raise_for_status(response, run)
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            raise _bad(
                f"LLM answered HTTP {response.status_code} with content-type "
                f"{content_type or 'none'!r}, expected a text/event-stream"
            )

    def _raise_http_error(self, exc: httpx.HTTPError, run: _Run) -> NoReturn:
        if isinstance(exc, httpx.ConnectError):
            self._retry_or_raise(exc, run, f"cannot connect to LLM at {self._where}")
        if isinstance(exc, httpx.ConnectTimeout):
            self._retry_or_raise(
                exc,
                run,
                f"cannot connect to LLM at {self._where} within "
                f"connect_timeout_s={self.connect_timeout_s}",
            )
        if isinstance(exc, httpx.TimeoutException):
            raise LLMError(
                f"LLM at {self._where}: {type(exc).__name__}", code=ErrorCode.LLM_TIMEOUT
            ) from exc
        if isinstance(exc, httpx.TransportError):
            where = "before the first token" if run.stats.first_token_s is None else "mid-stream"
            self._retry_or_raise(
                exc, run, f"connection to LLM at {self._where} lost {where} ({type(exc).__name__})"
            )
        raise _bad(
            f"LLM at {self._where} sent an unusable response ({type(exc).__name__})"
        ) from exc

    def _retry_or_raise(self, exc: httpx.TransportError, run: _Run, message: str) -> NoReturn:
        error = LLMError(message, code=ErrorCode.LLM_UNAVAILABLE)
        if run.stats.first_token_s is None:
            raise _RetryableError(error) from exc
        raise error from exc

    async def _raise_for_status(self, response: httpx.Response, run: _Run) -> NoReturn:
        detail = ""
        try:
            async with asyncio.timeout_at(run.deadline()):
                body = json.loads(await response.aread())
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                # Only the short identifiers: server messages can echo the input.
                ids = [str(error[key]) for key in ("type", "code") if error.get(key)]
                detail = f" ({', '.join(ids)})" if ids else ""
        except (TimeoutError, httpx.HTTPError, ValueError):
            pass
        raise _bad(
            f"LLM at {self._where} answered HTTP {response.status_code} "
            f"{response.reason_phrase}{detail}"
        )

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {"llm_url": self._where, "llm_model": self.model, **fields}


@dataclass(slots=True)
class _Run:
    """Deadlines and counters shared by the attempts of one call."""

    started: float
    first_deadline: float
    total_deadline: float
    stats: StreamStats
    usage_tokens: int | None = None

    def deadline(self) -> float:
        if self.stats.first_token_s is None:
            return min(self.first_deadline, self.total_deadline)
        return self.total_deadline

    def observe(self, parser: _StreamParser) -> None:
        """Copy the parser's counters; the first text or tool-call fragment
        is the first token."""
        if parser.chunks and self.stats.first_token_s is None:
            self.stats.first_token_s = self.loop_time() - self.started
        self.stats.tokens = parser.chunks
        self.stats.finish_reason = parser.finish_reason
        self.usage_tokens = parser.usage_tokens

    @staticmethod
    def loop_time() -> float:
        return asyncio.get_running_loop().time()


async def _aclose(iterator: AsyncIterator[str]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class _StreamParser:
    """Server-sent events of ``/chat/completions`` to stream events."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._tool_calls: dict[int, _ToolCallBuilder] = {}
        self._last_index = 0
        self.chunks = 0
        self.usage_tokens: int | None = None
        self.finish_reason: str | None = None
        self.done = False

    def feed(self, line: str) -> list[StreamEvent]:
        """One line of the body; returns the events it completed."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return []  # comment, e.g. sse-starlette's keep-alive ping
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        elif name not in ("event", "id", "retry"):
            raise _bad("LLM response is not a server-sent event stream")
        return []

    def finish(self) -> list[StreamEvent]:
        """The end of the body: flush, check, and emit assembled tool calls."""
        events = self._dispatch() if self._data else []
        if not self.done and self.finish_reason is None:
            raise _bad("LLM stream ended without [DONE]")
        if self._tool_calls:
            calls = []
            for index, builder in sorted(self._tool_calls.items()):
                if not builder.name:
                    raise _bad("LLM sent a tool call without a function name")
                calls.append(
                    ToolCall(
                        id=builder.id or f"call_{index}",
                        name=builder.name,
                        arguments="".join(builder.arguments),
                    )
                )
            self._tool_calls = {}
            events.append(ToolCalls(tuple(calls)))
        return events

    def _dispatch(self) -> list[StreamEvent]:
        if not self._data:
            return []
        data = "\n".join(self._data)
        self._data = []
        if self.done:
            return []
        if data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise _bad("LLM sent a stream chunk that is not valid JSON") from exc
        if not isinstance(chunk, dict):
            raise _bad("LLM sent a stream chunk that is not a JSON object")
        if chunk.get("error") is not None:
            error = chunk["error"]
            ids = (
                [str(error[key]) for key in ("type", "code") if error.get(key)]
                if isinstance(error, dict)
                else []
            )
            raise _bad(f"LLM reported an error mid-stream ({', '.join(ids) or 'no details'})")
        usage = chunk.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.usage_tokens = usage["completion_tokens"]
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise _bad("LLM sent a stream chunk without choices")
        events: list[StreamEvent] = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise _bad("LLM sent a malformed choice")
            if choice.get("index", 0) != 0:
                continue  # n=1 is requested; ignore anything else
            events.extend(self._choice(choice))
        return events

    def _choice(self, choice: dict[str, Any]) -> list[StreamEvent]:
        finish = choice.get("finish_reason")
        if isinstance(finish, str):
            self.finish_reason = finish
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise _bad("LLM sent a choice whose delta is not an object")
        events: list[StreamEvent] = []
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise _bad("LLM sent non-text content")
        tool_calls = delta.get("tool_calls")
        if content:
            events.append(TextDelta(content))
        if tool_calls:
            self._tool_call_fragments(tool_calls)
        if content or tool_calls:
            self.chunks += 1
        return events

    def _tool_call_fragments(self, fragments: object) -> None:
        if not isinstance(fragments, list):
            raise _bad("LLM sent tool_calls that are not a list")
        for fragment in fragments:
            if not isinstance(fragment, dict):
                raise _bad("LLM sent a malformed tool call fragment")
            index = fragment.get("index")
            call_id = fragment.get("id")
            if not isinstance(index, int):
                # Some servers omit the index: a new id starts a new call.
                ids = {builder.id for builder in self._tool_calls.values()}
                is_new = isinstance(call_id, str) and bool(call_id) and call_id not in ids
                index = len(self._tool_calls) if is_new else self._last_index
            self._last_index = index
            builder = self._tool_calls.setdefault(index, _ToolCallBuilder())
            if isinstance(call_id, str) and call_id and not builder.id:
                builder.id = call_id
            function = fragment.get("function") or {}
            if not isinstance(function, dict):
                raise _bad("LLM sent a malformed tool call function")
            name = function.get("name")
            arguments = function.get("arguments")
            if name is not None and not isinstance(name, str):
                raise _bad("LLM sent a tool call name that is not text")
            if arguments is not None and not isinstance(arguments, str):
                raise _bad("LLM sent tool call arguments that are not text")
            # OpenAI and vLLM send the name once; llama.cpp's server repeats the
            # whole name in every fragment: a repeat is not more of the name.
            if name and name != builder.name:
                builder.name += name
            if arguments:
                builder.arguments.append(arguments)
