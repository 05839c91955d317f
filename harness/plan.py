"""The sandbox's plan: every origin, listener, certificate, key and setting, decided before any
server starts (as wptserve's config builder comes before its servers). ``harness.sandbox`` then
starts servers from the plan and changes nothing in it."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import registry

from builder.sdk import MEDIA_HOST
from harness import bots, pages
from harness.certificates import Certificates, issue
from proxy.settings import ProxySettings, Secret
from serving import bind

# The product's own origins, then the test origins: a hostile copy of a client page, a strict-CSP
# client site and a client site with hostile CSS. Client origins follow, one per registry client.
SERVICES = ("cdn", "docs", "proxy", "retell", "control", "hostile", "csp", "css")
# Retell's media server is not an origin of ours: Retell's SDK dials wss://retell-ai-....livekit.cloud,
# which the browser maps to this listener (see harness.browser).
MEDIA = "media"
BOTS = "bots"  # the bot check providers' fakes, on TLS under their real host names
CLIENTS = "clients"  # every client site: one server, one port each


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
    # How long the proxy waits for the fake Retell: 1 s, so that a test's injected delay of a second
    # or more times out quickly. ``harness check`` gives 10 (the proxy's default): on a loaded CI
    # machine a healthy create can take over a second, and that is no client's fault.
    upstream_timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class Listeners:
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
class OriginPlan:
    """One server: the listeners it serves (one app for all of them) and uvicorn's options."""

    name: str
    listeners: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SandboxPlan:
    config: SandboxConfig
    clients: registry.Registry
    work: Path  # the build, the registry copy, the certificates and the usage database
    listeners: Listeners
    certificates: Certificates
    retell_api_key: str  # the fake Retell's
    admin_token: str  # opens the proxy's /usage; written to the state file
    turnstile_secret: str
    recaptcha_secret: str
    origins: tuple[OriginPlan, ...]

    @property
    def agents(self) -> frozenset[str]:
        return frozenset(a for c in self.clients.clients for a in c.agents)

    @property
    def names(self) -> list[str]:
        """The browser-facing origins with a host name of their own."""
        return [*SERVICES, *(c.id for c in self.clients.clients)]

    @property
    def dist(self) -> Path:
        return self.work / "dist"

    @property
    def registry_path(self) -> Path:
        return self.work / "registry.toml"

    @property
    def manifest_path(self) -> Path:
        return self.dist / "cdn" / "manifest.json"

    def allowed(self) -> dict[str, list[str]]:
        """Each client's sandbox origins. The strict-CSP and hostile-CSS sites belong to the first
        client, so its agent works there. The plain-http ``insecure`` site belongs to nobody: the
        registry refuses http:// off loopback, as no call can start where there is no microphone."""
        urls = self.listeners.urls
        allowed = {c.id: [urls[c.id]] for c in self.clients.clients}
        allowed[self.clients.clients[0].id] += [urls["csp"], urls["css"]]
        return allowed

    def pages(self) -> pages.PageSettings:
        return pages.PageSettings(cdn_url=self.listeners.urls["cdn"], proxy_endpoint=self.listeners.proxy_endpoint,
                                  manifest_path=self.manifest_path)

    def local(self, name: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.listeners.ports[name]}"

    @property
    def webhook_url(self) -> str:
        """Retell's webhooks go to the proxy as Retell would send them: server to server, on loopback."""
        return self.local("proxy", self.listeners.scheme) + "/api/retell-webhook"

    def proxy_settings(self, rate_limit_ip: str | None) -> ProxySettings:
        """``rate_limit_ip``: a fault's limit, or None for the sandbox's own."""
        bots_internal = self.local("bots-internal")
        return ProxySettings(
            retell_api_key=Secret(self.retell_api_key),
            retell_base_url=self.local("retell-internal" if self.config.https else "retell"),
            registry_path=self.registry_path,
            # Every browser test comes from 127.0.0.1: a generous limit unless a test sets one.
            rate_limit_ip=rate_limit_ip or "10000/minute",
            rate_limit_agent="10000/minute",
            upstream_timeout=self.config.upstream_timeout,
            usage_database=str(self.work / "usage.sqlite3"),
            manifest_path=self.manifest_path,
            admin_token=Secret(self.admin_token),
            reload_interval=0,  # registry edits under --watch apply at the next request
            # The bot check providers' fakes: siteverify over plain HTTP on loopback, server to
            # server; a verification slower than a second is the provider being away.
            turnstile_secret=Secret(self.turnstile_secret), recaptcha_secret=Secret(self.recaptcha_secret),
            turnstile_verify_url=f"{bots_internal}/turnstile/v0/siteverify",
            recaptcha_verify_url=f"{bots_internal}/recaptcha/api/siteverify",
            bot_check_timeout=1.0,
        )


def plan(config: SandboxConfig, clients: registry.Registry, work: Path) -> SandboxPlan:
    """Bind every listener and issue the certificates; raises ``SandboxError`` for a busy port."""
    names = [*SERVICES, *(c.id for c in clients.clients)]
    listeners = listen(config, names)
    hosts = [MEDIA_HOST, *bots.HOSTS, *([f"{n}.{config.domain}" for n in names] if config.https else [])]
    try:
        certificates = issue(work, hosts)
    except BaseException:
        listeners.close()
        raise
    return SandboxPlan(config, clients, work, listeners, certificates,
                       retell_api_key="key_sandbox_" + secrets.token_hex(16), admin_token=secrets.token_urlsafe(24),
                       turnstile_secret="0x4AAAAAAAsandbox_" + secrets.token_hex(12),
                       recaptcha_secret="6Lsandbox_" + secrets.token_hex(12),
                       origins=_origin_plans(config, clients, certificates))


def _origin_plans(config: SandboxConfig, clients: registry.Registry, certificates: Certificates) -> tuple[OriginPlan, ...]:
    tls = certificates.uvicorn_options() if config.https else {}
    always_tls = certificates.uvicorn_options()
    return (
        *(OriginPlan(name, (name,), tls) for name in ("cdn", "docs", "control", "hostile", "csp", "css")),
        # Every client's site, one port each, from one server: a registry of a thousand clients is
        # one uvicorn loop, not a thousand (each ticks ten times a second, idle or not).
        OriginPlan(CLIENTS, tuple(c.id for c in clients.clients), tls),
        # As `python -m proxy serve` runs: the proxy, not uvicorn, decides whom to believe about
        # X-Forwarded-For.
        OriginPlan("proxy", ("proxy",), {"proxy_headers": False, **tls}),
        # Retell's API, like the load balancers in front of real ones, keeps idle connections open
        # longer than the proxy's pool does (30 s); uvicorn's 5 s default would close connections the
        # proxy is about to reuse, and a create racing that close fails as 502.
        OriginPlan("retell", ("retell",), {"timeout_keep_alive": 75, **tls}),
        # Retell's media server is always on TLS: the SDK dials wss://. So are the bot check
        # providers: pages load their scripts from https://<their host>/.
        OriginPlan(MEDIA, (MEDIA,), always_tls),
        OriginPlan(BOTS, (BOTS,), always_tls),
        OriginPlan("bots-internal", ("bots-internal",)),
        *((OriginPlan("retell-internal", ("retell-internal",), {"timeout_keep_alive": 75}),
           OriginPlan("insecure", ("insecure",))) if config.https else ()),
    )


def listen(config: SandboxConfig, names: list[str]) -> Listeners:
    # Retell's media server, and over HTTPS two more listeners: Retell's API in plain HTTP for the
    # proxy (server to server on loopback), and a plain-HTTP client site, which is not a secure
    # context on a real domain.
    extra = [MEDIA, BOTS, "bots-internal", *(["retell-internal", "insecure"] if config.https else [])]
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
    return Listeners(sockets, ports, urls, scheme)
