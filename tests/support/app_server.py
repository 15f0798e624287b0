"""Real ASGI apps (the appliance's, the demo back-end) served by uvicorn on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar

from appliance.engines import Engines
from appliance.web.app import create_app
from appliance.web.serving import serve_app


@contextlib.asynccontextmanager
async def serve_asgi(app: Litestar) -> AsyncIterator[str]:
    """Yield the base URL while ``app`` serves on this event loop."""
    async with serve_app(app) as base:
        yield base


@contextlib.asynccontextmanager
async def app_server(engines: Engines) -> AsyncIterator[str]:
    """The appliance's own app."""
    async with serve_app(create_app(engines)) as base:
        yield base
