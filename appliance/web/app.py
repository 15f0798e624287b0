"""The Litestar application served by ``appliance serve``."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from appliance import __version__
from appliance.engines import Engines
from appliance.telephony.webrtc import PhoneService
from appliance.web.handoff_api import handoff_router
from appliance.web.knowledge_api import knowledge_router
from appliance.web.phone import phone_router, phone_state


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
        "sip": _sip_health(state),
        "tools": sorted(engines.tools.connectors) if engines.tools else [],
    }


def _sip_health(state: State) -> dict[str, Any]:
    sip = state.get("sip")  # a SipService, set by `appliance serve` when [sip] is enabled
    return dict(sip.health()) if sip is not None else {"enabled": False}


def create_app(engines: Engines) -> Litestar:
    phone = PhoneService(engines)
    return Litestar(
        route_handlers=[
            health,
            phone_router(),
            knowledge_router(engines.settings),
            handoff_router(engines.settings),
        ],
        state=State({"engines": engines, **phone_state(phone)}),
        on_shutdown=[phone.close],
        openapi_config=None,
        logging_config=None,  # the appliance configures structured logging itself
    )
