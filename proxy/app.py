"""The proxy's Starlette application: ``POST /api/create-web-call`` and ``GET /api/health``."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import registry
from proxy import cors
from proxy.settings import ProxySettings
from proxy.upstream import UpstreamError, create_web_call, make_client

log = logging.getLogger("proxy")
_AGENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# One answer for an unknown agent and for another client's agent, so ids cannot be probed.
_AGENT_REFUSED = "this agent is not available on this website"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it grows past ``limit`` (read no further than that)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def create_web_call_endpoint(request: Request) -> Response:
    state = request.app.state
    try:
        origin = cors.allowed_origin(request.headers, state.registry)
    except cors.OriginRefused as exc:
        # No CORS headers: the browser must not let a refused page read anything.
        return _error(403, "origin_not_allowed", str(exc))
    headers = cors.response_headers(origin)

    if request.method == "OPTIONS":
        problem = cors.preflight_problem(request.headers)
        if problem:
            return _error(403, "preflight_refused", problem, headers)
        return Response(status_code=204, headers=cors.preflight_headers(origin))

    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return _error(415, "unsupported_media_type", "send the body as application/json", headers)
    body = await _read_body(request, state.settings.max_body_bytes)
    if body is None:
        return _error(413, "body_too_large", f"the body must be at most {state.settings.max_body_bytes} bytes", headers)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_json", "the body is not valid JSON", headers)
    if not isinstance(payload, dict):
        return _error(400, "invalid_body", "the body must be a JSON object", headers)
    agent_id = payload.get("agent_id")
    if not isinstance(agent_id, str) or not _AGENT_ID.match(agent_id):
        return _error(400, "invalid_agent_id", "agent_id must be a string of letters, digits, '_' or '-'", headers)

    client = state.registry.client_for_agent(agent_id)
    if client is None or not client.allows(origin):
        return _error(403, "agent_not_allowed", _AGENT_REFUSED, headers)

    try:
        call = await create_web_call(state.upstream, agent_id)
    except UpstreamError as exc:
        extra = {"Retry-After": exc.retry_after} if exc.retry_after else {}
        return _error(exc.status, exc.code, exc.message, headers | extra)
    log.info("web call created for client %s agent %s", client.id, agent_id)
    return JSONResponse(
        {"access_token": call.access_token, "call_id": call.call_id},
        status_code=201,
        headers=headers | {"Cache-Control": "no-store"},
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


class _VaryOrigin:
    """Adds ``Vary: Origin`` to every response, so no cache serves one origin's answer to another."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"vary" for k, _ in headers):
                    headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_vary if scope["type"] == "http" else send)


def create_app(settings: ProxySettings, transport: httpx.AsyncBaseTransport | None = None) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.registry = registry.load(settings.registry_path)
        async with make_client(settings.retell_base_url, settings.retell_api_key.reveal(),
                               settings.upstream_timeout, transport) as client:
            app.state.upstream = client
            yield

    app = Starlette(
        routes=[
            Route("/api/create-web-call", create_web_call_endpoint, methods=["POST", "OPTIONS"]),
            Route("/api/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return _VaryOrigin(app)
