"""vLLM's OpenAI-compatible server on this CPU, with the embedded model converted
to Hugging Face format: the production LLM path for tests and benchmarks.

``prepare_vllm_env()`` runs ``scripts/vllm_env.sh`` (builds the separate vLLM
virtualenv and the converted model once, then answers in about a second);
``VllmServer`` runs ``python -m vllm.entrypoints.openai.api_server`` from that
venv as a child process in its own process group, waits for ``/health`` and
stops the whole group (API server, engine core, worker) with SIGTERM, then
SIGKILL after a grace period.

The server runs with SmolLM2's ChatML plus a hermes-style tool section
(``models/chat_templates/smollm2_hermes_tools.jinja``), automatic tool choice
and vLLM's ``hermes`` tool-call parser. ``--enforce-eager`` skips torch.compile:
the engine then starts in about 30 s instead of about 95 s on 2 cores, for about
a fifth less decode speed. Nothing here contacts a model hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from appliance.llm.child_process import bound_to_parent, free_port, log_tail
from appliance.llm.client import ChatClient

REPO = Path(__file__).resolve().parents[2]
ENV_SCRIPT = REPO / "scripts" / "vllm_env.sh"
CHAT_TEMPLATE = REPO / "models" / "chat_templates" / "smollm2_hermes_tools.jinja"
SERVED_MODEL = "smollm2-135m-instruct"


class VllmUnavailableError(RuntimeError):
    """The vLLM environment could not be built or the server did not come up."""


@dataclass(frozen=True)
class VllmEnv:
    python: Path
    model_dir: Path
    cache_root: Path
    prepare_s: float


def prepare_vllm_env(gguf: Path | None = None, *, timeout_s: float = 1800.0) -> VllmEnv:
    """Build (first time) or find the vLLM venv and converted model."""
    command = ["bash", str(ENV_SCRIPT)]
    if gguf is not None:
        command += ["--gguf", str(gguf)]
    started = time.monotonic()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise VllmUnavailableError(
            f"{ENV_SCRIPT.name} failed with code {done.returncode}:\n{done.stderr[-4000:]}"
        )
    values = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("VLLM_")
    )
    try:
        return VllmEnv(
            python=Path(values["VLLM_PYTHON"]),
            model_dir=Path(values["VLLM_MODEL_DIR"]),
            cache_root=Path(values["VLLM_CACHE_ROOT"]),
            prepare_s=time.monotonic() - started,
        )
    except KeyError as exc:
        raise VllmUnavailableError(f"{ENV_SCRIPT.name} printed no {exc}") from exc


class VllmServer:
    """One vLLM OpenAI-compatible server process group on loopback."""

    def __init__(
        self,
        env: VllmEnv,
        *,
        log_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        max_model_len: int = 2048,
        max_num_seqs: int = 4,
        kv_cache_gib: int = 1,
        enforce_eager: bool = True,
        startup_timeout_s: float = 600.0,
        stop_grace_s: float = 20.0,
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.host = host
        self.port = port or free_port(host)
        self.max_model_len = max_model_len
        self.max_num_seqs = max_num_seqs
        self.kv_cache_gib = kv_cache_gib
        self.enforce_eager = enforce_eager
        self.startup_timeout_s = startup_timeout_s
        self.stop_grace_s = stop_grace_s
        self.startup_s: float | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def command(self) -> list[str]:
        args = [
            "--model", str(self.env.model_dir),
            "--served-model-name", SERVED_MODEL,
            "--host", self.host,
            "--port", str(self.port),
            "--dtype", "bfloat16",
            "--max-model-len", str(self.max_model_len),
            "--max-num-seqs", str(self.max_num_seqs),
            "--chat-template", str(CHAT_TEMPLATE),
            "--enable-auto-tool-choice",
            "--tool-call-parser", "hermes",
            "--uvicorn-log-level", "warning",
        ]  # fmt: skip
        if self.enforce_eager:
            args.append("--enforce-eager")
        return bound_to_parent(self.env.python, "vllm.entrypoints.openai.api_server", args)

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env.update(
            {
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "VLLM_NO_USAGE_STATS": "1",
                "DO_NOT_TRACK": "1",
                # GiB of RAM for the KV cache: 1 holds ~46k tokens of this model.
                "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib),
                "VLLM_CACHE_ROOT": str(self.env.cache_root),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    async def start(self) -> None:
        """Spawn the server and wait until ``/health`` answers 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("ab") as log_file:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environment(),
                # Not the repository: `python -m` puts the working directory on
                # sys.path, and this repo's top-level `models` package must not
                # shadow anything in the vLLM venv.
                cwd=self.log_path.parent,
                start_new_session=True,  # its own process group, stopped as one
            )
        try:
            await self._wait_healthy(self._proc, started)
        except BaseException:
            await self.stop()
            raise
        self.startup_s = time.monotonic() - started

    async def _wait_healthy(self, proc: asyncio.subprocess.Process, started: float) -> None:
        url = f"http://{self.host}:{self.port}/health"
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
            while True:
                if proc.returncode is not None:
                    raise VllmUnavailableError(
                        f"vLLM exited with code {proc.returncode} during start-up; "
                        f"end of {self.log_path}:\n{log_tail(self.log_path, lines=60)}"
                    )
                if time.monotonic() - started > self.startup_timeout_s:
                    raise VllmUnavailableError(
                        f"vLLM did not answer {url} within {self.startup_timeout_s} s; "
                        f"end of {self.log_path}:\n{log_tail(self.log_path, lines=60)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url)).status_code == 200:
                        return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await proc.wait()

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after the grace period."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            self._signal_group(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(self.stop_grace_s):
                    await proc.wait()
            except TimeoutError:
                self._signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        # Children left behind by the API server (engine core, worker) share
        # its process group: make sure none survives.
        self._signal_group(proc.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    async def __aenter__(self) -> VllmServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def vllm_client(base_url: str, *, first_token_timeout_s: float = 60.0) -> ChatClient:
    """Our production client, with timeouts for a 135M model on a busy 2-core CPU."""
    return ChatClient(
        base_url=base_url,
        model=SERVED_MODEL,
        api_key=None,
        connect_timeout_s=2.0,
        first_token_timeout_s=first_token_timeout_s,
        total_timeout_s=120.0,
        retries=0,
    )


def main() -> int:
    """Start a server by hand: ``python -m tests.support.vllm_server``; Ctrl-C stops it."""

    async def serve() -> None:
        log_path = Path(tempfile.gettempdir()) / "vllm-server.log"
        async with VllmServer(prepare_vllm_env(), log_path=log_path) as server:
            print(f"vLLM ready at {server.base_url} in {server.startup_s:.1f} s; log {log_path}")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
