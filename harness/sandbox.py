"""The sandbox: every origin of the product on its own cross-site host name, in one process.

Chromium resolves ``*.localhost`` to 127.0.0.1 and treats ``http://*.localhost`` as a secure
context, and each ``name.localhost`` is its own site, so cross-origin fetches, CORS and
microphone permissions behave as they do between real domains.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import registry
from starlette.types import ASGIApp, Receive, Scope, Send

from builder.livereload import LiveChannel, LiveState, Rebuilder, live_reload, watch
from serving import Server, bind
from harness import pages, sites
from harness.browser import chromium_args
from harness.cdn import cdn_app
from harness.certificates import Certificates, issue
from harness.control import control_app
from harness import bots
from harness.fake_retell import FakeRetell
from harness.media_server import HOST as MEDIA_HOST
from harness.media_server import MediaServer
from harness.script import Scripts, load_scripts
from harness.speech import Voices
from harness.state import BotsAddress, MediaAddress, SandboxClient, SandboxState
from harness.webhooks import WebhookSender
from proxy.app import create_app
from proxy.settings import ProxySettings, Secret

# The product's own origins, then the test origins: a hostile copy of a client page, a strict-CSP
# client site and a client site with hostile CSS. Client origins follow, one per registry client.
_SERVICES = ("cdn", "docs", "proxy", "retell", "control", "hostile", "csp", "css")
# Retell's media server is not an origin of ours: Retell's SDK dials wss://retell-ai-....livekit.cloud,
# which the browser maps to this listener (see harness.browser).
_MEDIA = "media"
_BOTS = "bots"  # the bot check providers' fakes, on TLS under their real host names


class SandboxError(Exception):
    """The sandbox cannot start; the message says why."""


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    src: Path = Path("site_src")
    widget: Path = Path("widget")
    port_base: int = 0  # 0 picks free ports; otherwise origins take consecutive ports from here
    domain: str = "localhost"
    https: bool = False  # every browser-facing origin on https://, from a local CA
    watch: bool = False  # rebuild on changes to src and widget, and reload open pages
    agents: Path | None = None  # the agents' scripts (harness.script); None: every agent uses the default


class _Origin:
    """One origin's server (or one server for several origins, one port each), which can be
    stopped and started again on the same ports."""

    def __init__(self, sock: socket.socket | list[socket.socket], make_app: Callable[[], ASGIApp], **options: object) -> None:
        socks = sock if isinstance(sock, list) else [sock]
        self.ports = [s.getsockname()[1] for s in socks]
        self.port = self.ports[0]
        self._socks: list[socket.socket] | None = socks
        self._make_app = make_app
        self._options = options
        self._server: Server | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
        # uvicorn closed the sockets when it last stopped; the ports are bound again.
        socks, self._socks = self._socks or [bind(port) for port in self.ports], None
        server = Server(self._make_app(), socks, **self._options)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is None:
            return
        await self._server.stop()
        for sock in self._server.sockets:
            sock.close()
        self._server = None


def write_registry(clients: registry.Registry, origins: dict[str, list[str]], path: Path) -> None:
    """The real registry, every field kept, with each client's origins replaced by its sandbox
    origins (clients without any are left out)."""
    path.write_text(registry.dump(clients.with_origins(origins)), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class _Addresses:
    """Every listener, bound before anything starts, and the URL each origin has."""

    sockets: dict[str, socket.socket]
    ports: dict[str, int]
    urls: dict[str, str]
    scheme: str

    @property
    def proxy_endpoint(self) -> str:
        return f"{self.urls['proxy']}/api/create-web-call"

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()


@dataclass(frozen=True, slots=True)
class _Site:
    """The sandbox's build and the registry copy its proxy reads."""

    dist: Path
    registry_path: Path
    allowed: dict[str, list[str]]  # client id -> its sandbox origins
    rebuild: Callable[[set[Path]], list[str]]  # for --watch: build again, rewrite the registry copy
    # Rewrite the registry copy without these clients, and with these fields changed (client id ->
    # fields: quotas, bot checks).
    relist: Callable[[tuple[str, ...], dict[str, dict[str, object]]], None]


async def run_sandbox(config: SandboxConfig, stop: asyncio.Event, on_ready: Callable[[SandboxState], None]) -> None:
    """Build the site for the sandbox's origins, serve every origin until ``stop`` is set."""
    clients = registry.load(config.src / "clients.toml")
    agents = frozenset(a for c in clients.clients for a in c.agents)
    # What the agents say, checked against the registry's agents (ScriptError) and spoken ahead.
    scripts = Scripts(load_scripts(config.agents, agents) if config.agents is not None else {})
    voices = Voices()
    for script in [scripts.for_agent(a) for a in sorted(agents)]:
        voices.prepare(script.lines())
    names = [*_SERVICES, *(c.id for c in clients.clients)]
    addresses = _listen(config, names)
    work = Path(tempfile.mkdtemp(prefix="retell-sandbox-"))
    origins: dict[str, _Origin] = {}
    channel = LiveChannel() if config.watch else None
    stop_watching = asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    fake: FakeRetell | None = None
    try:
        # Build: the site for these origins, and the registry with them (ConfigError, BuildError).
        site = _build(config, clients, addresses, work)
        # Serve: every origin on its listener, TLS from one local CA.
        fake = FakeRetell.for_agents("key_sandbox_" + secrets.token_hex(16), agents)
        admin_token = secrets.token_urlsafe(24)
        certificates = issue(work, [MEDIA_HOST, *bots.HOSTS, *([f"{n}.{config.domain}" for n in names] if config.https else [])])
        media = MediaServer(fake, scripts, voices)
        origins = _origins(config, clients, names, addresses, site, fake, media, admin_token, certificates, channel)
        await asyncio.gather(*(o.start() for o in origins.values()))
        if channel is not None:
            channel.publish(LiveState(1))  # the first good build
            watcher = asyncio.create_task(watch([config.src, config.widget], site.rebuild, channel, stop_watching))
        on_ready(_state(config, clients, addresses, admin_token, certificates, work, fake.api_key))
        await stop.wait()
    finally:
        stop_watching.set()
        if watcher is not None:
            await watcher
        if channel is not None:
            channel.close()  # ends the open live-reload streams, so the servers can stop
        if fake is not None and fake.webhooks is not None:
            await fake.webhooks.aclose()  # deliveries still under way are not waited for
        await asyncio.gather(*(o.stop() for o in origins.values()), return_exceptions=True)
        addresses.close()
        shutil.rmtree(work, ignore_errors=True)


def _listen(config: SandboxConfig, names: list[str]) -> _Addresses:
    # Retell's media server, and over HTTPS two more listeners: Retell's API in plain HTTP for the
    # proxy (server to server on loopback), and a plain-HTTP client site, which is not a secure
    # context on a real domain.
    extra = [_MEDIA, _BOTS, "bots-internal", *(["retell-internal", "insecure"] if config.https else [])]
    sockets: dict[str, socket.socket] = {}
    for i, name in enumerate(names + extra):
        port = config.port_base + i if config.port_base else 0
        try:
            sockets[name] = bind(port)
        except OSError as exc:
            for sock in sockets.values():
                sock.close()
            raise SandboxError(f"cannot listen on 127.0.0.1:{port} for the {name} origin: {exc.strerror}") from None
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    scheme = "https" if config.https else "http"
    urls = {name: f"{scheme}://{name}.{config.domain}:{ports[name]}" for name in names}
    if config.https:
        urls["insecure"] = f"http://insecure.{config.domain}:{ports['insecure']}"
    return _Addresses(sockets, ports, urls, scheme)


def _build(config: SandboxConfig, clients: registry.Registry, addresses: _Addresses, work: Path) -> _Site:
    urls, dist = addresses.urls, work / "dist"
    registry_path = work / "registry.toml"
    # The same incremental path as `builder serve`, so --watch rebuilds only what a change touches.
    # No sdk_url: the widget loads Retell's SDK from the sandbox CDN, as a default embed does.
    rebuilder = Rebuilder(config.src, config.widget, dist, {
        "cdn_url": urls["cdn"], "docs_url": urls["docs"], "proxy_url": addresses.proxy_endpoint,
    })
    rebuilder(set())
    # The strict-CSP and hostile-CSS sites belong to the first client, so its agent works there.
    first = clients.clients[0]
    allowed = {c.id: [urls[c.id]] for c in clients.clients}
    allowed[first.id] += [urls["csp"], urls["css"], *([urls["insecure"]] if config.https else [])]
    write_registry(clients, allowed, registry_path)

    unlisted: list[tuple[str, ...]] = [()]
    changes: list[dict[str, dict[str, object]]] = [{}]

    def changed(client: registry.Client) -> registry.Client:
        fields = dict(changes[0].get(client.id, {}))
        if "bot_check" in fields:
            # The sandbox's site key, on the newest release of the client's line (the first to
            # send a bot token): the demo page is not rebuilt, the proxy's copy is.
            latest = json.loads((dist / "cdn" / "manifest.json").read_text())["lines"][f"v{client.version.major}"]
            fields |= {"bot_site_key": bots.SITE_KEY, "widget_version": latest}
        return replace(client, **fields)

    def copy(clients: registry.Registry) -> None:
        clients = registry.Registry(tuple(changed(c) for c in clients.clients))
        write_registry(clients, {c: o for c, o in allowed.items() if c not in unlisted[0]}, registry_path)

    def rebuild(changed: set[Path]) -> list[str]:
        summary = rebuilder(changed)
        # The build has validated the registry; the proxy picks up the rewritten copy itself.
        fresh = registry.load(config.src / "clients.toml")
        for client in fresh.clients:
            if client.id not in allowed:
                print(f"note: client '{client.id}' is new; restart the sandbox to give it an origin", flush=True)
        copy(fresh)
        return summary

    def relist(leave_out: tuple[str, ...], fields: dict[str, dict[str, object]]) -> None:
        unlisted[0], changes[0] = leave_out, fields
        copy(registry.load(config.src / "clients.toml"))

    return _Site(dist, registry_path, allowed, rebuild, relist)


def _origins(config: SandboxConfig, clients: registry.Registry, names: list[str], addresses: _Addresses, site: _Site,
             fake: FakeRetell, media: MediaServer, admin_token: str, certificates: Certificates,
             channel: LiveChannel | None) -> dict[str, _Origin]:
    urls, ports, dist = addresses.urls, addresses.ports, site.dist
    first = clients.clients[0]
    providers = bots.FakeBots(fault=lambda: fake.faults.bot)
    fake.bots = providers  # so the control origin's records show what siteverify answered
    # Retell's webhooks, to the proxy as Retell would send them (server to server, on loopback).
    fake.webhooks = WebhookSender(
        f"{addresses.scheme}://127.0.0.1:{ports['proxy']}/api/retell-webhook", fake.api_key,
        ca_file=str(certificates.ca_file) if config.https else None,
        mode=lambda: fake.faults.webhooks)
    page_settings = pages.PageSettings(cdn_url=urls["cdn"], proxy_endpoint=addresses.proxy_endpoint,
                                       manifest_path=dist / "cdn" / "manifest.json")
    csp = replace(page_settings, strict_csp=pages.strict_policy(urls["cdn"], urls["proxy"]))
    css = replace(page_settings, hostile_css=True)

    def live(make: Callable[[], ASGIApp]) -> Callable[[], ASGIApp]:
        # Under --watch, HTML origins reload their open pages after each good rebuild. (Not the
        # strict-CSP site: its policy rightly refuses the injected script.)
        return (lambda: live_reload(make(), channel)) if channel is not None else make

    def proxy() -> ASGIApp:
        return create_app(ProxySettings(
            retell_api_key=Secret(fake.api_key),
            retell_base_url=f"http://127.0.0.1:{ports['retell-internal' if config.https else 'retell']}",
            registry_path=site.registry_path,
            # Every browser test comes from 127.0.0.1: a generous limit unless a test sets one.
            rate_limit_ip=fake.faults.rate_limit or "10000/minute",
            rate_limit_agent="10000/minute",
            upstream_timeout=1.0,  # so an injected upstream delay of a second or more times out
            usage_database=str(site.dist.parent / "usage.sqlite3"),
            manifest_path=dist / "cdn" / "manifest.json",
            admin_token=Secret(admin_token),  # opens /usage; written to the state file
            reload_interval=0,  # registry edits under --watch apply at the next request
            # The bot check providers' fakes: siteverify over plain HTTP on loopback, server to
            # server; a verification slower than a second is the provider being away.
            turnstile_secret=Secret(providers.turnstile_secret), recaptcha_secret=Secret(providers.recaptcha_secret),
            turnstile_verify_url=f"http://127.0.0.1:{ports['bots-internal']}/turnstile/v0/siteverify",
            recaptcha_verify_url=f"http://127.0.0.1:{ports['bots-internal']}/recaptcha/api/siteverify",
            bot_check_timeout=1.0,
        ))

    factories: dict[str, Callable[[], ASGIApp]] = {
        "cdn": lambda: cdn_app(dist / "cdn", lambda path: fake.faults.tampers(path), lambda: fake.faults.sdk_fail),
        "docs": live(lambda: sites.static_site(dist / "docs")),
        "control": lambda: control_app(fake, origins["proxy"], media, origins[_MEDIA], site.relist),
        # The hostile site is a copy of the first client's site, demo page and test pages alike:
        # same snippets, same agent id, wrong origin. The proxy must refuse it.
        "hostile": live(_client_site(page_settings, first, dist)),
        "csp": lambda: pages.site(csp, first, None),
        "css": live(lambda: pages.site(css, first, None)),
    }
    tls = certificates.uvicorn_options() if config.https else {}
    sockets = addresses.sockets
    origins = {name: _Origin(sockets[name], factories[name], **tls) for name in names if name in factories}
    # Every client's site, one port each, from one server: a registry of a thousand clients is
    # one uvicorn loop, not a thousand (each ticks ten times a second, idle or not).
    client_sites = {ports[c.id]: live(_client_site(page_settings, c, dist)) for c in clients.clients}
    origins["clients"] = _Origin([sockets[c.id] for c in clients.clients],
                                 lambda: by_port({port: make() for port, make in client_sites.items()}), **tls)
    # As `python -m proxy serve` runs: the proxy, not uvicorn, decides whom to believe about
    # X-Forwarded-For.
    origins["proxy"] = _Origin(sockets["proxy"], proxy, proxy_headers=False, **tls)
    # Retell's API, like the load balancers in front of real ones, keeps idle connections open
    # longer than the proxy's pool does (30 s); uvicorn's 5 s default would close connections the
    # proxy is about to reuse, and a create racing that close fails as 502.
    origins["retell"] = _Origin(sockets["retell"], fake.app, timeout_keep_alive=75, **tls)
    # Retell's media server is always on TLS: the SDK dials wss://.
    origins[_MEDIA] = _Origin(sockets[_MEDIA], media.app, **certificates.uvicorn_options())
    # So are the bot check providers: pages load their scripts from https://<their host>/.
    origins[_BOTS] = _Origin(sockets[_BOTS], providers.app, **certificates.uvicorn_options())
    origins["bots-internal"] = _Origin(sockets["bots-internal"], providers.app)
    if config.https:
        origins["retell-internal"] = _Origin(sockets["retell-internal"], fake.app, timeout_keep_alive=75)
        origins["insecure"] = _Origin(sockets["insecure"], live(lambda: pages.site(page_settings, first, None)))
    return origins


def _state(config: SandboxConfig, clients: registry.Registry, addresses: _Addresses, admin_token: str,
           certificates: Certificates, work: Path, retell_api_key: str) -> SandboxState:
    """What ``--state`` writes: how to reach and drive this sandbox."""
    urls, ports = addresses.urls, addresses.ports
    mapped = {host: ports[_BOTS] for host in bots.HOSTS}
    return SandboxState(
        origins=urls, ports=ports, proxy=urls["proxy"], proxy_endpoint=addresses.proxy_endpoint, retell=urls["retell"],
        control=urls["control"], hostile=urls["hostile"], scheme=addresses.scheme, admin_token=admin_token,
        retell_api_key=retell_api_key, pid=os.getpid(),
        ca_file=str(certificates.ca_file) if config.https else None,
        media=MediaAddress(MEDIA_HOST, ports[_MEDIA]),
        bots=BotsAddress(tuple(bots.HOSTS), ports[_BOTS], bots.SITE_KEY),
        chromium_args=tuple(chromium_args(MEDIA_HOST, ports[_MEDIA], certificates.spki, config.domain, mapped=mapped)),
        chromium_command=("chromium", f"--user-data-dir={work / 'chromium-profile'}",
                          *chromium_args(MEDIA_HOST, ports[_MEDIA], certificates.spki, config.domain, fake_media=False,
                                         mapped=mapped),
                          urls[clients.clients[0].id] + "/"),
        clients=tuple(SandboxClient(c.id, c.name, urls[c.id], tuple(c.agents), c.widget_version) for c in clients.clients),
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
