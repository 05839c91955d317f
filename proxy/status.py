"""Operational endpoints: liveness, readiness, the widget version and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy import cors
from registry import Version
from proxy.metrics import CONTENT_TYPE, Metrics
from proxy.state import ProxyState


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def ready(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    checks = {
        "registry": "ok" if state.registry_file.error is None else "stale",
        "upstream": "ok" if await state.ready.reachable() else "unreachable",
        "rate_limit_storage": "ok" if await state.limits.ping() else "unreachable",
    }
    # A stale registry still serves (the last good one), so only the connections decide.
    ok = checks["upstream"] == "ok" and checks["rate_limit_storage"] == "ok"
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks},
                        status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


async def widget_version(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    manifest = state.manifest_file.current()
    headers = {"Cache-Control": "public, max-age=60"}
    registry = state.registry()
    try:
        origin = cors.allowed_origin(request.headers, registry)
    except cors.OriginRefused:
        origin = None  # public facts: answered anyway, but only registered pages may read them
    if origin is not None:
        headers |= {"Access-Control-Allow-Origin": str(origin), "Vary": "Origin"}
    if manifest is None:
        return JSONResponse({"error": "manifest_unavailable", "message": "the widget build manifest is not available"},
                            status_code=503, headers=headers | {"Cache-Control": "no-store"})
    body: dict[str, object] = {"latest": manifest.latest, "lines": dict(manifest.lines)}
    client = registry.client_for_origin(origin) if origin is not None else None
    if client is not None:
        newest = manifest.lines.get(client.version.line, client.widget_version)
        body["client"] = {"id": client.id, "widget_version": client.widget_version, "line_latest": newest,
                          "update_available": _newer(newest, client.version)}
    return JSONResponse(body, headers=headers)


def _newer(candidate: str, current: Version) -> bool:
    # SemVer's order: 2.0.0 is newer than 2.0.0-beta.1 (a pre-release sorts before its release).
    return Version.is_valid(candidate) and Version.parse(candidate) > current


async def metrics(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy

    def refresh(m: Metrics) -> None:
        m.registry_reloads.set(state.registry_file.reloads)
        m.registry_error.set(0 if state.registry_file.error is None else 1)
        if state.usage is not None:
            m.usage_backlog.set(state.usage.backlog)
            m.usage_committed.set(state.usage.committed)
            m.usage_dropped.set(state.usage.dropped)

    return Response(state.metrics.render(refresh), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
