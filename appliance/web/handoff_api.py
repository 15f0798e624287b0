"""The context package of a handed-over call, for the person who picks it up.

    GET /api/handoffs/{call_id}    the package (the SIP transfer carries the call id)

Same access rule as the rest of the management API: a bearer token from
``http.api_token_file``, or loopback only.
"""

from __future__ import annotations

from typing import Any

from litestar import Router, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from appliance.config import Settings
from appliance.web.knowledge_api import token_guard


@get("/{call_id:str}")
async def handoff_package(state: State, call_id: FromPath[str]) -> dict[str, Any]:
    packager = state.engines.packager
    package = packager.recent.get(call_id) if packager is not None else None
    if package is None:
        raise NotFoundException(f"no context package for call {call_id}")
    result: dict[str, Any] = package.to_dict()
    return result


def handoff_router(settings: Settings) -> Router:
    return Router(
        path="/api/handoffs", route_handlers=[handoff_package], guards=[token_guard(settings)]
    )
