"""The browser softphone: its page, its assets and the offer/answer endpoint.

``GET /phone`` serves the page; its script and style come from this package
(``appliance/web/static``), never from a CDN, and a Content-Security-Policy
keeps the browser from loading anything from anywhere else. ``POST
/phone/offer`` takes ``{"type": "offer", "sdp": ...}`` and answers
``{"type": "answer", "sdp": ..., "call_id": ...}``; a refused offer gets
``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from appliance.errors import ErrorCode
from appliance.telephony.webrtc import MAX_OFFER_BYTES, PhoneService, WebRtcError

STATIC_PACKAGE, STATIC_FOLDER = "appliance.web", "static"
CONTENT_TYPES = {
    "phone.html": "text/html",  # Litestar adds "; charset=utf-8"
    "phone.js": "text/javascript",
    "phone.css": "text/css",
}
ASSETS = ("phone.js", "phone.css")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; media-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Permissions-Policy": "microphone=(self), camera=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str


def _load_assets() -> dict[str, _Asset]:
    folder = resources.files(STATIC_PACKAGE).joinpath(STATIC_FOLDER)
    return {
        name: _Asset(folder.joinpath(name).read_bytes(), content_type)
        for name, content_type in CONTENT_TYPES.items()
    }


def _asset_response(asset: _Asset) -> Response[bytes]:
    return Response(asset.body, media_type=asset.content_type, headers=SECURITY_HEADERS)


def _service(state: State) -> PhoneService:
    service: PhoneService = state.phone
    return service


def _error_response(_: Request[Any, Any, Any], exc: WebRtcError) -> Response[dict[str, Any]]:
    return Response(
        {"error": {"code": str(exc.code), "message": exc.message}},
        status_code=exc.status,
    )


@get("/", sync_to_thread=False)
def phone_page(state: State) -> Response[bytes]:
    if not _service(state).settings.enabled:
        raise WebRtcError("the softphone is disabled", code=ErrorCode.WEBRTC_DISABLED, status=404)
    assets: dict[str, _Asset] = state.phone_assets
    return _asset_response(assets["phone.html"])


@get("/static/{name:str}", sync_to_thread=False)
def phone_asset(name: FromPath[str], state: State) -> Response[bytes]:
    if name not in ASSETS:  # a fixed list: no paths, no traversal
        raise NotFoundException()
    assets: dict[str, _Asset] = state.phone_assets
    return _asset_response(assets[name])


@get("/config", sync_to_thread=False)
def phone_config(state: State) -> dict[str, Any]:
    return {"ice_servers": list(_service(state).settings.ice_servers)}


def _parse_offer(body: bytes) -> str:
    if len(body) > MAX_OFFER_BYTES + 1024:
        raise WebRtcError(
            f"the request is larger than {MAX_OFFER_BYTES} bytes",
            code=ErrorCode.WEBRTC_OFFER_TOO_LARGE,
            status=413,
        )
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebRtcError(
            'the body must be JSON: {"type": "offer", "sdp": "..."}',
            code=ErrorCode.WEBRTC_BAD_REQUEST,
        ) from exc
    if not isinstance(data, dict) or data.get("type") != "offer":
        raise WebRtcError(
            'the body must be {"type": "offer", "sdp": "..."}', code=ErrorCode.WEBRTC_BAD_REQUEST
        )
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise WebRtcError("the offer has no SDP text", code=ErrorCode.WEBRTC_BAD_OFFER)
    return sdp


@post("/offer", status_code=200)
async def phone_offer(request: Request[Any, Any, Any], state: State) -> dict[str, str]:
    service = _service(state)
    if not service.settings.enabled:
        raise WebRtcError("the softphone is disabled", code=ErrorCode.WEBRTC_DISABLED, status=404)
    sdp = _parse_offer(await request.body())
    remote = request.client.host if request.client else ""
    call_id, answer = await service.answer(sdp, remote=remote)
    return {"type": "answer", "sdp": answer, "call_id": call_id}


def phone_router() -> Router:
    """The softphone's routes under /phone."""
    return Router(
        path="/phone",
        route_handlers=[phone_page, phone_asset, phone_config, phone_offer],
        exception_handlers={WebRtcError: _error_response},
    )


def phone_state(service: PhoneService) -> dict[str, Any]:
    """What the routes need in the application state."""
    return {"phone": service, "phone_assets": _load_assets()}
