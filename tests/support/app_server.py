"""Real ASGI apps (the appliance's, the demo back-end) served by uvicorn on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import uvicorn
from litestar import Litestar

from appliance.engines import Engines
from appliance.web.app import create_app


@contextlib.asynccontextmanager
async def serve_asgi(app: Litestar) -> AsyncIterator[str]:
    """Yield the base URL while ``app`` serves on this event loop."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, ws="none"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        deadline = time.monotonic() + 20
        while not server.started:
            if task.done() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            await asyncio.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def app_server(engines: Engines) -> AsyncIterator[str]:
    """The appliance's own app."""
    async with serve_asgi(create_app(engines)) as base:
        yield base
