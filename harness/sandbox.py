"""The sandbox: every origin of the product on its own cross-site host name, in one process.

Chromium resolves ``*.localhost`` to 127.0.0.1 and treats ``http://*.localhost`` as a secure
context, and each ``name.localhost`` is its own site, so cross-origin fetches, CORS and
microphone permissions behave as they do between real domains.

``run_sandbox`` plans first (``harness.plan``: listeners, certificates, keys, settings), then
builds the site, makes the fakes and starts a server per planned origin.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import registry
from starlette.types import ASGIApp, Receive, Scope, Send

from builder.livereload import LiveChannel, LiveState, Rebuilder, live_reload, watch
from builder.sdk import MEDIA_HOST
from harness import bots, pages, sites
from harness.browser import chromium_args
from harness.cdn import cdn_app
from harness.control import Control
from harness.fake_retell import FakeRetell
from harness.media_server import MediaServer
from harness.plan import BOTS, CLIENTS, MEDIA, Listeners, OriginPlan, SandboxConfig, SandboxError, SandboxPlan, plan
from harness.script import Scripts, load_scripts
from harness.speech import Voices
from harness.state import BotsAddress, MediaAddress, SandboxClient, SandboxState
from harness.webhooks import WebhookSender
from proxy.app import create_app
from serving import Server, Shutdown, bind

__all__ = ["SandboxConfig", "SandboxError", "by_port", "run_sandbox", "write_registry"]


class _Origin:
    """One planned server, which can be stopped and started again on the same ports."""

    def __init__(self, origin: OriginPlan, listeners: Listeners, make_app: Callable[[], ASGIApp]) -> None:
        self._socks: list[socket.socket] | None = [listeners.sockets[name] for name in origin.listeners]
        self.ports = [listeners.ports[name] for name in origin.listeners]
        self._make_app = make_app
        self._options = origin.options
        self._server: Server | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
        # uvicorn closed the sockets when it last stopped; the ports are bound again.
        socks, self._socks = self._socks or [bind(port) for port in self.ports], None
        server = Server(self._make_app(), socks, **self._options)
        await server.start()
        self._server = server

    async def stop(self, force: asyncio.Event | None = None) -> None:
        if self._server is None:
            return
        await self._server.stop(force)
        for sock in self._server.sockets:
            sock.close()
        self._server = None


def write_registry(clients: registry.Registry, origins: dict[str, list[str]], path: Path) -> None:
    """The real registry, every field kept, with each client's origins replaced by its sandbox
    origins (clients without any are left out)."""
    path.write_text(registry.dump(clients.with_origins(origins)), encoding="utf-8")


class RegistryCopy:
    """The registry the sandbox's proxy reads: the real one with the sandbox's origins, less the
    clients a fault unlists, with the fields a fault changes (client id -> fields: quotas, bot
    checks). The proxy re-reads it at its next request."""

    def __init__(self, plan: SandboxPlan, rebuilder: Rebuilder) -> None:
        self._plan = plan
        self._rebuilder = rebuilder
        self._allowed = plan.allowed()
        self._unlisted: tuple[str, ...] = ()
        self._changes: dict[str, dict[str, object]] = {}

    def write(self, clients: registry.Registry) -> None:
        clients = registry.Registry(tuple(self._changed(c) for c in clients.clients))
        allowed = {c: o for c, o in self._allowed.items() if c not in self._unlisted}
        write_registry(clients, allowed, self._plan.registry_path)

    def _manifest(self) -> registry.Manifest:
        return registry.Manifest.read(self._plan.dist / "cdn" / "manifest.json")

    def _load(self) -> registry.Registry:
        # Against the build's releases, as the sandbox's proxy reads it.
        return registry.load(self._plan.config.src / "clients.toml", self._manifest().releases)

    def _changed(self, client: registry.Client) -> registry.Client:
        fields = dict(self._changes.get(client.id, {}))
        if "bot_check" in fields:
            # The sandbox's site key, on the newest release of the client's line (the first to
            # send a bot token): the demo page is not rebuilt, the proxy's copy is.
            latest = self._manifest().lines[f"v{client.version.major}"]
            fields |= {"bot_site_key": bots.SITE_KEY, "widget_version": latest}
        return replace(client, **fields)

    def rebuild(self, changed: set[Path]) -> list[str]:
        """For --watch: build again, then rewrite the copy."""
        summary = self._rebuilder(changed)
        # The build has validated the registry; the proxy picks up the rewritten copy itself.
        fresh = self._load()
        for client in fresh.clients:
            if client.id not in self._allowed:
                print(f"note: client '{client.id}' is new; restart the sandbox to give it an origin", flush=True)
        self.write(fresh)
        return summary

    def relist(self, leave_out: tuple[str, ...], fields: dict[str, dict[str, object]]) -> None:
        self._unlisted, self._changes = leave_out, fields
        self.write(self._load())


def _build(plan: SandboxPlan) -> RegistryCopy:
    """The site for the sandbox's origins, and the registry copy (ConfigError, BuildError)."""
    urls = plan.listeners.urls
    # The same incremental path as `builder serve`, so --watch rebuilds only what a change touches.
    # No sdk_url: the widget loads Retell's SDK from the sandbox CDN, as a default embed does.
    rebuilder = Rebuilder(plan.config.src, plan.config.widget, plan.dist, {
        "cdn_url": urls["cdn"], "docs_url": urls["docs"], "proxy_url": plan.listeners.proxy_endpoint,
    })
    rebuilder(set())
    copy = RegistryCopy(plan, rebuilder)
    copy.write(plan.clients)
    return copy


@dataclass(frozen=True, slots=True)
class _Fakes:
    retell: FakeRetell
    providers: bots.FakeBots
    media: MediaServer


def _fakes(plan: SandboxPlan, scripts: Scripts, voices: Voices) -> _Fakes:
    # The providers and the webhook sender follow the fault set the control origin gives the fake
    # Retell (``fake`` is bound below, before any of them is asked).
    providers = bots.FakeBots(plan.turnstile_secret, plan.recaptcha_secret, fault=lambda: fake.faults.bot)
    # Retell's webhooks, to the proxy as Retell would send them (server to server, on loopback).
    webhooks = WebhookSender(plan.webhook_url, plan.retell_api_key,
                             ca_file=str(plan.certificates.ca_file) if plan.config.https else None,
                             mode=lambda: fake.faults.webhooks)
    fake = FakeRetell(plan.retell_api_key, plan.agents, webhooks=webhooks, bots=providers)
    return _Fakes(fake, providers, MediaServer(fake, scripts, voices))


def _apps(plan: SandboxPlan, fakes: _Fakes, channel: LiveChannel | None) -> dict[str, Callable[[], ASGIApp]]:
    """Each planned origin's app but the control origin's; called again at each restart."""
    dist, fake, first = plan.dist, fakes.retell, plan.clients.clients[0]
    page_settings = plan.pages()
    csp = replace(page_settings, strict_csp=pages.strict_policy(plan.listeners.urls["cdn"], plan.listeners.urls["proxy"]))
    css = replace(page_settings, hostile_css=True)

    def live(make: Callable[[], ASGIApp]) -> Callable[[], ASGIApp]:
        # Under --watch, HTML origins reload their open pages after each good rebuild. (Not the
        # strict-CSP site: its policy rightly refuses the injected script.)
        return (lambda: live_reload(make(), channel)) if channel is not None else make

    client_sites = {plan.listeners.ports[c.id]: live(_client_site(page_settings, c, dist)) for c in plan.clients.clients}
    return {
        "cdn": lambda: cdn_app(dist / "cdn", lambda path: fake.faults.tampers(path), lambda: fake.faults.sdk_fail),
        "docs": live(lambda: sites.static_site(dist / "docs")),
        # The hostile site is a copy of the first client's site, demo page and test pages alike:
        # same snippets, same agent id, wrong origin. The proxy must refuse it.
        "hostile": live(_client_site(page_settings, first, dist)),
        "csp": lambda: pages.site(csp, first, None),
        "css": live(lambda: pages.site(css, first, None)),
        CLIENTS: lambda: by_port({port: make() for port, make in client_sites.items()}),
        # The proxy reads its limit when it starts: a rate-limit fault restarts it.
        "proxy": lambda: create_app(plan.proxy_settings(fake.faults.rate_limit)),
        "retell": fake.app,
        MEDIA: fakes.media.app,
        BOTS: fakes.providers.app,
        "bots-internal": fakes.providers.app,
        "retell-internal": fake.app,
        "insecure": live(lambda: pages.site(page_settings, first, None)),
    }


def _origins(plan: SandboxPlan, fakes: _Fakes, copy: RegistryCopy, channel: LiveChannel | None) -> dict[str, _Origin]:
    apps = _apps(plan, fakes, channel)
    origins = {o.name: _Origin(o, plan.listeners, apps[o.name]) for o in plan.origins if o.name != "control"}
    # The control origin restarts the proxy and the media server for faults: it gets them here.
    control = Control(fakes.retell, origins["proxy"], fakes.media, origins[MEDIA], copy.relist)
    (control_plan,) = [o for o in plan.origins if o.name == "control"]
    origins["control"] = _Origin(control_plan, plan.listeners, control.app)
    return origins


async def run_sandbox(config: SandboxConfig, shutdown: Shutdown, on_ready: Callable[[SandboxState], None]) -> None:
    """Build the site for the sandbox's origins, serve every origin until a shutdown is requested
    (once forced, the servers stop without waiting for connections)."""
    clients = registry.load(config.src / "clients.toml")
    agents = frozenset(a for c in clients.clients for a in c.agents)
    # What the agents say, checked against the registry's agents (ScriptError) and spoken ahead.
    scripts = Scripts(load_scripts(config.agents, agents) if config.agents is not None else {})
    voices = Voices()
    for script in [scripts.for_agent(a) for a in sorted(agents)]:
        voices.prepare(script.lines())
    work = Path(tempfile.mkdtemp(prefix="retell-sandbox-"))
    try:
        planned = plan(config, clients, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        await _serve(planned, scripts, voices, shutdown, on_ready)
    finally:
        planned.listeners.close()
        shutil.rmtree(work, ignore_errors=True)


async def _serve(plan: SandboxPlan, scripts: Scripts, voices: Voices, shutdown: Shutdown,
                 on_ready: Callable[[SandboxState], None]) -> None:
    config = plan.config
    origins: dict[str, _Origin] = {}
    channel = LiveChannel() if config.watch else None
    stop_watching = asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    fakes: _Fakes | None = None
    try:
        # Build: the site for these origins, and the registry with them (ConfigError, BuildError).
        copy = _build(plan)
        # Serve: every planned origin on its listeners.
        fakes = _fakes(plan, scripts, voices)
        origins = _origins(plan, fakes, copy, channel)
        await asyncio.gather(*(o.start() for o in origins.values()))
        if channel is not None:
            channel.publish(LiveState(1))  # the first good build
            watcher = asyncio.create_task(watch([config.src, config.widget], copy.rebuild, channel, stop_watching))
        on_ready(_state(plan))
        await shutdown.requested.wait()
    finally:
        stop_watching.set()
        if watcher is not None:
            await watcher
        if channel is not None:
            channel.close()  # ends the open live-reload streams, so the servers can stop
        if fakes is not None and fakes.retell.webhooks is not None:
            await fakes.retell.webhooks.aclose()  # deliveries still under way are not waited for
        await asyncio.gather(*(o.stop(shutdown.forced) for o in origins.values()), return_exceptions=True)


def _state(plan: SandboxPlan) -> SandboxState:
    """What ``--state`` writes: how to reach and drive this sandbox."""
    config, listeners, certificates = plan.config, plan.listeners, plan.certificates
    urls, ports = listeners.urls, listeners.ports
    mapped = {host: ports[BOTS] for host in bots.HOSTS}
    first = plan.clients.clients[0]
    return SandboxState(
        origins=urls, ports=ports, proxy=urls["proxy"], proxy_endpoint=listeners.proxy_endpoint, retell=urls["retell"],
        control=urls["control"], hostile=urls["hostile"], scheme=listeners.scheme, admin_token=plan.admin_token,
        retell_api_key=plan.retell_api_key, pid=os.getpid(),
        ca_file=str(certificates.ca_file) if config.https else None,
        media=MediaAddress(MEDIA_HOST, ports[MEDIA]),
        bots=BotsAddress(tuple(bots.HOSTS), ports[BOTS], bots.SITE_KEY),
        chromium_args=tuple(chromium_args(MEDIA_HOST, ports[MEDIA], certificates.spki, config.domain, mapped=mapped)),
        chromium_command=("chromium", f"--user-data-dir={plan.work / 'chromium-profile'}",
                          *chromium_args(MEDIA_HOST, ports[MEDIA], certificates.spki, config.domain, fake_media=False,
                                         mapped=mapped),
                          urls[first.id] + "/"),
        clients=tuple(SandboxClient(c.id, c.name, urls[c.id], tuple(c.agents), c.widget_version) for c in plan.clients.clients),
    )


def by_port(apps: dict[int, ASGIApp]) -> ASGIApp:
    """One ASGI app for several listeners: each request goes to the app of the port it came in
    on. The client sites have no startup work, so lifespan is answered here."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await apps[scope["server"][1]](scope, receive, send)

    return app


def _client_site(settings: pages.PageSettings, client: registry.Client, dist: Path) -> Callable[[], ASGIApp]:
    return lambda: pages.site(settings, client, dist / "clients" / client.id)
