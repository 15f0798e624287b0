"""One configured connector: fill the URL template, call the back-end, keep the allowed fields.

The public ``call`` owns the timeout, the allowlist check on the final URL, the
error mapping and the timing; it never raises for a back-end's failure but
returns a ``ToolResult`` with a stable code, so the call goes on and the agent
can say something sensible.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from appliance.errors import ErrorCode
from appliance.tools.settings import ToolConnector, host_allowed

_MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True)
class ToolResult:
    name: str
    ok: bool
    code: str = ""  # an ErrorCode value when not ok
    data: Any = None
    message: str = ""
    seconds: float = 0.0
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """A short, content-free description for logs: outcome, status, time."""
        outcome = "ok" if self.ok else self.code
        status = f" http {self.status}" if self.status is not None else ""
        return f"{self.name}: {outcome}{status} in {self.seconds * 1000:.0f} ms"


def fill_url(template: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL with its placeholders filled (percent-encoded) and the unused arguments."""
    rest = dict(arguments)
    url = template
    for name in list(rest):
        placeholder = "{" + name + "}"
        if placeholder in url:
            url = url.replace(placeholder, quote(str(rest.pop(name)), safe=""))
    return url, rest


def keep_fields(data: Any, paths: tuple[str, ...]) -> Any:
    """Only the listed (dotted) fields of an object, or of each object of a list."""
    if not paths:
        return data
    if isinstance(data, list):
        return [keep_fields(item, paths) for item in data]
    if not isinstance(data, dict):
        return data
    kept: dict[str, Any] = {}
    for path in paths:
        value: Any = data
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            kept[path] = value
    return kept


class HttpTool:
    def __init__(
        self,
        connector: ToolConnector,
        *,
        allowed_hosts: tuple[str, ...],
        secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connector = connector
        self.allowed_hosts = allowed_hosts
        headers = {"Accept": "application/json"}
        if secret:
            value = f"Bearer {secret}" if connector.auth_scheme == "bearer" else secret
            headers[connector.auth_header] = value
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(connector.timeout_s),
            follow_redirects=False,  # a redirect could leave the allowlist
            transport=transport,
            trust_env=False,  # no proxies from the environment: only configured hosts
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        started = time.perf_counter()
        url, rest = fill_url(self.connector.url, arguments)
        if not host_allowed(url, self.allowed_hosts):
            return self._result(started, ErrorCode.TOOL_NOT_ALLOWED, "host not allowed")
        method = self.connector.method
        in_query = method in {"GET", "DELETE"}
        try:
            response = await self._client.request(
                method, url, params=rest if in_query else None, json=None if in_query else rest
            )
        except httpx.TimeoutException:
            return self._result(started, ErrorCode.TOOL_TIMEOUT, "the back-end timed out")
        except httpx.HTTPError as exc:
            message = f"the back-end is unreachable ({type(exc).__name__})"
            return self._result(started, ErrorCode.TOOL_UNAVAILABLE, message)
        return self._interpret(response, started)

    def _interpret(self, response: httpx.Response, started: float) -> ToolResult:
        status = response.status_code
        problem: tuple[ErrorCode, str] | None = None
        if status >= 500:
            problem = ErrorCode.TOOL_FAILED, "back-end error"
        elif status >= 300:
            message = "not found" if status == 404 else "the back-end refused the request"
            problem = ErrorCode.TOOL_REJECTED, message
        elif len(response.content) > _MAX_RESPONSE_BYTES:
            problem = ErrorCode.TOOL_BAD_RESPONSE, "the response is too large"
        if problem is not None:
            return self._result(started, *problem, status=status)
        try:
            data = json.loads(response.content) if response.content else {}
        except ValueError:
            message = "the response is not JSON"
            return self._result(started, ErrorCode.TOOL_BAD_RESPONSE, message, status=status)
        owner = data.get(self.connector.customer_argument) if isinstance(data, dict) else None
        return ToolResult(
            self.connector.name,
            True,
            data=keep_fields(data, self.connector.keep),
            seconds=time.perf_counter() - started,
            status=status,
            # whose record this is, before `keep` may drop the field: checked against identity
            extra={"owner": None if owner is None else str(owner)},
        )

    def _result(
        self, started: float, code: ErrorCode, message: str, *, status: int | None = None
    ) -> ToolResult:
        return ToolResult(
            self.connector.name,
            False,
            str(code),
            message=message,
            seconds=time.perf_counter() - started,
            status=status,
        )
