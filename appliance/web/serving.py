"""Serve an ASGI app with uvicorn on this event loop (the demo back-end, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import uvicorn
from litestar import Litestar


@contextlib.asynccontextmanager
async def serve_app(
    app: Litestar, *, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 20.0
) -> AsyncIterator[str]:
    """Yield the base URL while ``app`` serves; port 0 picks a free one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(
            app, log_config=None, access_log=False, ws="none", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if task.done() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            await asyncio.sleep(0.05)
        try:
            yield f"http://{host}:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 30)
