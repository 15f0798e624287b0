"""The Litestar application served by ``appliance serve``."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from appliance import __version__
from appliance.engines import Engines


@get("/health", sync_to_thread=False)
def health(state: State) -> dict[str, Any]:
    engines: Engines = state.engines
    server = engines.server
    return {
        "status": "ok",
        "version": __version__,
        "language": engines.settings.agent.language,
        "models": engines.model_ids(),
        "llm": {
            "embedded": server is not None,
            "running": server.running if server else None,
            "restarts": server.restart_count if server else None,
        },
    }


def create_app(engines: Engines) -> Litestar:
    return Litestar(
        route_handlers=[health],
        state=State({"engines": engines}),
        openapi_config=None,
        logging_config=None,  # the appliance configures structured logging itself
    )
