"""The embedded llama.cpp server: llama-cpp-python's OpenAI-compatible server
as a supervised child process.

The child is ``python -m llama_cpp.server`` (run through a tiny bootstrap that,
on Linux, makes the kernel terminate it when the appliance dies), listening on
``host:port`` with the GGUF's own chat template. Its stdout and stderr are
appended to ``log_path``; llama.cpp writes load and timing information there,
never prompts.

``--interrupt_requests False`` is passed on purpose: llama-cpp-python's default
ends the reply being streamed whenever another request arrives (even
``GET /v1/models``) with a normal-looking ``[DONE]``, which would silently cut
one caller's answer short when a second call talks to the model. Without it,
requests queue; a client that disconnects is still stopped after the token
being computed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from appliance.errors import ErrorCode, LLMError
from appliance.llm.child_process import bound_to_parent, free_port, log_tail

log = logging.getLogger(__name__)

_RESTART_WINDOW_S = 60.0


class EmbeddedLlamaServer:
    """Start, watch, restart and stop the embedded llama.cpp server.

    Use ``async with EmbeddedLlamaServer(...) as server:`` or ``start()`` /
    ``stop()``. When the child dies while running, it is restarted with
    exponential backoff, at most ``max_restarts_per_minute`` times a minute;
    beyond that the server stays down (``running`` is False) and clients get
    ``LLM_UNAVAILABLE``.
    """

    def __init__(
        self,
        *,
        model_path: Path,
        alias: str,
        host: str = "127.0.0.1",
        port: int = 0,
        n_ctx: int = 2048,
        threads: int = 2,
        startup_timeout_s: float = 60.0,
        log_path: Path,
        max_restarts_per_minute: int = 3,
        restart_backoff_s: float = 0.5,
        stop_grace_s: float = 5.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model_path = model_path
        self.extra_args = tuple(extra_args)
        self.alias = alias
        self.host = host
        self._requested_port = port
        self._port: int | None = port or None
        self.n_ctx = n_ctx
        self.threads = threads
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.max_restarts_per_minute = max_restarts_per_minute
        self.restart_backoff_s = restart_backoff_s
        self.stop_grace_s = stop_grace_s
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._restart_times: collections.deque[float] = collections.deque()
        self.restart_count = 0
        self.startup_s: float | None = None

    # -- public API -------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``; known once ``start()`` picked the port."""
        if self._port is None:
            raise RuntimeError("the embedded LLM server has no port before start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/v1"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def running(self) -> bool:
        """The child is alive and has answered ``/v1/models``."""
        return self._ready.is_set() and self.pid is not None

    def rss_bytes(self) -> int | None:
        """Resident memory of the child (VmRSS), None when it is not running."""
        pid = self.pid
        if pid is None:
            return None
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                parts = line.split()
                return int(parts[1]) * 1024 if len(parts) >= 2 and parts[1].isdigit() else None
        return None

    async def start(self) -> None:
        """Spawn the server and wait until it answers; LLMError if it cannot."""
        if self._supervisor is not None and not self._supervisor.done():
            return
        if not self.model_path.is_file():
            raise LLMError(
                f"embedded LLM model not found: {self.model_path}",
                code=ErrorCode.LLM_SERVER_FAILED,
            )
        self._stopping = False
        if self._requested_port == 0:
            self._port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        await self._spawn_until_ready()
        self.startup_s = time.monotonic() - started
        log.info(
            "embedded LLM server ready",
            extra=self._extra(startup_s=round(self.startup_s, 3)),
        )
        self._supervisor = asyncio.create_task(self._supervise(), name="llm-server-supervisor")

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until the server answers again (after a restart); TimeoutError."""
        async with asyncio.timeout(timeout_s):
            await self._ready.wait()

    async def stop(self) -> None:
        """Terminate the child (SIGTERM, SIGKILL after the grace period)."""
        self._stopping = True
        self._ready.clear()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._terminate()

    async def __aenter__(self) -> EmbeddedLlamaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- internals --------------------------------------------------------

    def _command(self) -> list[str]:
        args = [
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", self.host,
            "--port", str(self._port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            "--interrupt_requests", "False",
            *self.extra_args,
        ]  # fmt: skip
        return bound_to_parent(sys.executable, "llama_cpp.server", args)

    async def _spawn_until_ready(self) -> None:
        """Spawn one child and wait for it; on failure it is gone again."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log_file:
            log_file.write(f"--- starting embedded LLM server at {time.ctime()}\n".encode())
            log_file.flush()
            proc = await asyncio.create_subprocess_exec(
                *self._command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C at the terminal is ours to handle
            )
        self._proc = proc
        try:
            await self._wait_until_answering(proc)
        except BaseException:
            await self._terminate()
            raise
        self._ready.set()

    async def _wait_until_answering(self, proc: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout_s
        url = f"{self.base_url}/models"
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
            while True:
                if proc.returncode is not None:
                    raise LLMError(
                        f"embedded LLM server exited with code {proc.returncode} during "
                        f"start-up; last lines of {self.log_path}:\n{log_tail(self.log_path)}",
                        code=ErrorCode.LLM_SERVER_FAILED,
                    )
                if loop.time() >= deadline:
                    raise LLMError(
                        f"embedded LLM server did not answer within "
                        f"startup_timeout_s={self.startup_timeout_s}; last lines of "
                        f"{self.log_path}:\n{log_tail(self.log_path)}",
                        code=ErrorCode.LLM_SERVER_FAILED,
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await http.get(url)
                    if response.status_code == 200:
                        return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await proc.wait()

    async def _supervise(self) -> None:
        while True:
            proc = self._proc
            if proc is None:
                return
            returncode = await proc.wait()
            if self._stopping:
                return
            self._ready.clear()
            log.error(
                "embedded LLM server died",
                extra=self._extra(pid=proc.pid, returncode=returncode),
            )
            await self._restart()
            if not self._ready.is_set():
                return

    async def _restart(self) -> None:
        """Restart with backoff until it answers or the budget is spent."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            now = loop.time()
            while self._restart_times and now - self._restart_times[0] > _RESTART_WINDOW_S:
                self._restart_times.popleft()
            recent = len(self._restart_times)
            if recent >= self.max_restarts_per_minute:
                log.critical(
                    "embedded LLM server keeps dying; not restarting it",
                    extra=self._extra(restarts_last_minute=recent),
                )
                return
            delay = min(self.restart_backoff_s * 2**recent, 30.0)
            await asyncio.sleep(delay)
            self._restart_times.append(loop.time())
            self.restart_count += 1
            log.warning(
                "restarting embedded LLM server",
                extra=self._extra(restart=self.restart_count, after_s=delay),
            )
            try:
                await self._spawn_until_ready()
            except LLMError as exc:
                log.error(
                    "embedded LLM server restart failed",
                    extra=self._extra(code=str(exc.code), restart=self.restart_count),
                )
                continue
            log.info("embedded LLM server restarted", extra=self._extra(restart=self.restart_count))
            return

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.stop_grace_s):
                await proc.wait()
        except TimeoutError:
            log.warning(
                "embedded LLM server ignored SIGTERM; killing it",
                extra=self._extra(pid=proc.pid),
            )
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # no time left for a graceful exit
            raise
        log.info(
            "embedded LLM server stopped",
            extra=self._extra(pid=proc.pid, returncode=proc.returncode),
        )

    def _extra(self, **fields: object) -> dict[str, object]:
        return {"llm_alias": self.alias, "llm_port": self._port, **fields}
