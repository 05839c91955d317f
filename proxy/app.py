"""The proxy's Starlette application: routes, and the resources its lifespan opens and closes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

import registry
from proxy import admin, create, status, webhook
from proxy.botcheck import BotChecker, Provider
from proxy.calls import EventLog
from proxy.fairness import PerClientConcurrency
from proxy.logs import RequestId
from proxy.metrics import Metrics
from proxy.quota import MinutesLedger
from proxy.ratelimit import RateLimits, counters_for
from proxy.refusal import NO_STORE, Refusal
from proxy.settings import ProxySettings
from proxy.state import ProxyState, releases_of
from proxy.upstream import ReadyProbe, default_tls, open_retell
from proxy.usage import UsageRecorder
from proxy.watched import WatchedFile

log = logging.getLogger("proxy")


async def _not_found(request: Request, exc: Exception) -> Response:
    return Refusal(404, "not_found", "no such endpoint").response()


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return Refusal(405, "method_not_allowed", "this endpoint does not take that method",
                   getattr(exc, "headers", None)).response()


async def _refused(request: Request, exc: Exception) -> Response:
    # A refusal its endpoint did not answer itself (the webhook's, the usage page's): never cached.
    # The create endpoint answers its own, with the request's CORS and budget headers.
    assert isinstance(exc, Refusal)
    return exc.response(NO_STORE)


async def _create_or_preflight(request: Request) -> Response:
    if request.method == "OPTIONS":
        return await create.preflight(request)
    return await create.create(request)


def _routes() -> list[Route]:
    return [
        Route("/api/create-web-call", _create_or_preflight, methods=["POST", "OPTIONS"]),
        Route("/api/retell-webhook", webhook.receive, methods=["POST"]),
        Route("/api/health", status.health, methods=["GET"]),
        Route("/api/ready", status.ready, methods=["GET"]),
        Route("/api/widget-version", status.widget_version, methods=["GET"]),
        Route("/metrics", status.metrics, methods=["GET"]),
        Route("/usage", admin.usage_page, methods=["GET"]),
    ]


def create_app(settings: ProxySettings, transport: httpx.AsyncBaseTransport | None = None) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        manifest_file = WatchedFile(settings.manifest_path, registry.Manifest.read, settings.reload_interval)
        # The registry is read as the builder reads it: a widget_version must be one the CDN has
        # published, and a bot check needs a release that sends its token, so the proxy refuses
        # what the build refuses, with the same message.
        registry_file = WatchedFile(
            settings.registry_path, lambda path: registry.load(path, releases_of(manifest_file.current())),
            settings.reload_interval, depends_on=lambda: releases_of(manifest_file.current()))
        if releases_of(manifest_file.current()) is None:
            log.warning("no widget manifest at %s: the registry's widget_version values are checked for their form "
                        "only, not against the published releases (set PROXY_MANIFEST)", settings.manifest_path)
        if registry_file.current() is None:
            # Refuse to start on a broken registry; once running, a broken edit keeps the last good one.
            raise registry.RegistryError([f"{settings.registry_path}: {registry_file.error}"])
        async with contextlib.AsyncExitStack() as stack:
            app.state.proxy = await _open_state(stack, settings, transport, registry_file, manifest_file)
            _log_start(settings, registry_file.current())  # type: ignore[arg-type]
            yield

    app = Starlette(routes=_routes(), exception_handlers={404: _not_found, 405: _not_allowed, Refusal: _refused},
                    lifespan=lifespan)
    return RequestId(PerClientConcurrency(app, settings))


async def _open_state(stack: contextlib.AsyncExitStack, settings: ProxySettings, transport: httpx.AsyncBaseTransport | None,
                      registry_file: WatchedFile, manifest_file: WatchedFile) -> ProxyState:
    """Every resource the requests share, each closed by ``stack`` in the reverse order."""
    usage = UsageRecorder(settings.usage_database) if settings.usage_database else None
    if usage is not None:
        usage.start()
        # Runs last: every row the requests above queued is written before we exit.
        stack.push_async_callback(usage.aclose)
    calls = EventLog(settings.usage_database) if settings.usage_database else None
    if calls is not None:
        calls.start()
        stack.callback(calls.close)
    retell = await stack.enter_async_context(open_retell(
        settings.retell_base_url, settings.retell_api_key.reveal(), settings.upstream_timeout, transport,
        settings.retell_create_path))
    # The bot check providers' siteverify, on a client of its own (other hosts, other timeouts).
    bot_http = await stack.enter_async_context(httpx.AsyncClient(timeout=settings.bot_check_timeout, verify=default_tls()))
    bots = BotChecker({
        "turnstile": Provider("turnstile", settings.turnstile_secret, settings.turnstile_verify_url),
        "recaptcha": Provider("recaptcha", settings.recaptcha_secret, settings.recaptcha_verify_url),
    }, bot_http, settings.bot_check_timeout)
    limits = RateLimits(settings.rate_limit_ip, settings.rate_limit_agent, counters_for(settings.rate_limit_storage))
    stack.push_async_callback(limits.aclose)
    return ProxyState(
        settings=settings,
        registry_file=registry_file,
        manifest_file=manifest_file,
        upstream=retell,
        ready=ReadyProbe(retell, timeout=2.0),
        limits=limits,
        usage=usage,
        metrics=Metrics(),
        calls=calls,
        minutes=MinutesLedger(settings.usage_database) if settings.usage_database else None,
        bots=bots,
    )


def _log_start(settings: ProxySettings, clients: registry.Registry) -> None:
    """Say what the settings leave unenforced for these clients, then that the proxy started."""
    for client in clients.clients:
        if client.bot_check and getattr(settings, f"{client.bot_check}_secret") is None:
            log.error("client %s requires %s, but PROXY_%s_SECRET is not set: its creates will be refused with 503",
                      client.id, client.bot_check, client.bot_check.upper())
    if settings.usage_database is None and any(c.max_minutes_per_month for c in clients.clients):
        log.warning("max_minutes_per_month is not enforced: minutes come from Retell's webhooks, which are "
                    "stored in PROXY_USAGE_DB, and it is off")
    log.info("proxy started", extra={"clients": len(clients.clients),
                                     "rate_limit_storage": settings.rate_limit_storage.split("@")[-1]})


def from_environment() -> ASGIApp:
    """The app configured from the environment: what each worker of ``serve --workers N`` imports."""
    import os

    from proxy.settings import configure_logging, load_settings

    settings = load_settings(os.environ)
    configure_logging(settings.log_level)
    return create_app(settings)
