"""The sandbox: every origin of the product on its own cross-site host name, in one process.

Chromium resolves ``*.localhost`` to 127.0.0.1 and treats ``http://*.localhost`` as a secure
context, and each ``name.localhost`` is its own site, so cross-origin fetches, CORS and
microphone permissions behave as they do between real domains.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import registry
from builder.build import build
from builder.config import load_config
from harness import pages, sites
from harness.cdn import cdn_app
from harness.control import control_app
from harness.fake_retell import FakeRetell
from harness.server import Server, bind
from proxy.app import create_app
from proxy.settings import ProxySettings, Secret
from starlette.types import ASGIApp

# The product's own origins, then the test origins: a hostile copy of a client page, a strict-CSP
# client site and a client site with hostile CSS. Client origins follow, one per registry client.
_SERVICES = ("cdn", "docs", "proxy", "retell", "control", "hostile", "csp", "css")


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    src: Path = Path("site_src")
    widget: Path = Path("widget")
    port_base: int = 0  # 0 picks free ports; otherwise origins take consecutive ports from here
    domain: str = "localhost"


class _Origin:
    """One origin's server, which can be stopped and started again on the same port."""

    def __init__(self, sock: socket.socket, make_app: Callable[[], ASGIApp]) -> None:
        self.port = sock.getsockname()[1]
        self._sock: socket.socket | None = sock
        self._make_app = make_app
        self._server: Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
        sock, self._sock = self._sock or bind(self.port), None
        self._server = Server(self._make_app(), sock)
        self._task = asyncio.create_task(self._server.run_until_exit())
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not self._server.ready.is_set():
            ready.cancel()
            self._server = None
            raise RuntimeError(f"the server on port {self.port} stopped while starting; see the log above")

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        await asyncio.gather(self._task, return_exceptions=True)  # type: ignore[arg-type]
        self._server.sock.close()
        self._server = self._task = None

    async def set_up(self, up: bool) -> None:
        await (self.start() if up else self.stop())


def _write_registry(clients: registry.Registry, origins: dict[str, list[str]], path: Path) -> None:
    """The real registry with each client's origins replaced by its sandbox origins."""
    lines = []
    for c in clients.clients:
        fields = {
            "id": c.id, "name": c.name, "origins": origins[c.id], "agents": list(c.agents),
            "theme": c.theme, "position": c.position, "widget_version": c.widget_version,
            "brand_color": c.brand_color,
        }
        # JSON strings and arrays of strings are valid TOML values.
        lines += ["[[client]]", *(f"{k} = {json.dumps(v)}" for k, v in fields.items()), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


async def run_sandbox(config: SandboxConfig, stop: asyncio.Event, on_ready: Callable[[dict], None]) -> None:
    """Build the site for the sandbox's origins, serve every origin until ``stop`` is set."""
    registry_path = config.src / "clients.toml"
    if not registry_path.is_file():
        raise registry.RegistryError([f"{registry_path}: the client registry is missing"])
    clients = registry.load(registry_path)
    first = clients.clients[0]
    names = [*_SERVICES, *(c.id for c in clients.clients)]
    sockets = {name: bind(config.port_base + i if config.port_base else 0) for i, name in enumerate(names)}
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    urls = {name: f"http://{name}.{config.domain}:{port}" for name, port in ports.items()}
    proxy_endpoint = f"{urls['proxy']}/api/create-web-call"
    sdk_url = f"{urls['retell']}/sdk/retell-web-client.js"
    work = Path(tempfile.mkdtemp(prefix="retell-sandbox-"))
    origins: dict[str, _Origin] = {}
    try:
        report = build(load_config(config.src, config.widget, work / "dist", {
            "cdn_url": urls["cdn"], "docs_url": urls["docs"], "proxy_url": proxy_endpoint, "sdk_url": sdk_url,
        }))
        dist = report.out
        # The strict-CSP and hostile-CSS sites belong to the first client, so its agent works there.
        allowed = {c.id: [urls[c.id]] for c in clients.clients}
        allowed[first.id] += [urls["csp"], urls["css"]]
        _write_registry(clients, allowed, work / "registry.toml")
        api_key = "key_sandbox_" + secrets.token_hex(16)
        fake = FakeRetell.for_agents(api_key, (a for c in clients.clients for a in c.agents))
        page_settings = pages.PageSettings(
            cdn_url=urls["cdn"], proxy_endpoint=proxy_endpoint, sdk_url=sdk_url,
            manifest=json.loads((dist / "cdn" / "manifest.json").read_text()),
        )
        csp = replace(page_settings, strict_csp=pages.strict_policy(urls["cdn"], urls["proxy"], urls["retell"]))
        css = replace(page_settings, hostile_css=True)
        factories: dict[str, Callable[[], ASGIApp]] = {
            "cdn": lambda: cdn_app(dist / "cdn"),
            "docs": lambda: sites.static_site(dist / "docs"),
            "proxy": lambda: create_app(ProxySettings(
                retell_api_key=Secret(api_key),
                retell_base_url=f"http://127.0.0.1:{ports['retell']}",
                registry_path=work / "registry.toml",
            )),
            "retell": fake.app,
            "control": lambda: control_app(fake, origins["proxy"].set_up),
            # The hostile site serves a copy of the first client's page: same snippet, same
            # agent id, wrong origin. The proxy must refuse it.
            "hostile": lambda: sites.static_site(dist / "clients" / first.id),
            "csp": lambda: pages.site(csp, first, None),
            "css": lambda: pages.site(css, first, None),
            **{c.id: _client_site(page_settings, c, dist) for c in clients.clients},
        }
        origins = {name: _Origin(sockets[name], factories[name]) for name in names}
        await asyncio.gather(*(o.start() for o in origins.values()))
        on_ready({
            "origins": urls,
            "ports": ports,
            "proxy": urls["proxy"],
            "proxy_endpoint": proxy_endpoint,
            "retell": urls["retell"],
            "control": urls["control"],
            "hostile": urls["hostile"],
            "clients": [
                {"id": c.id, "name": c.name, "origin": urls[c.id], "agents": list(c.agents), "widget_version": c.widget_version}
                for c in clients.clients
            ],
        })
        await stop.wait()
    finally:
        await asyncio.gather(*(o.stop() for o in origins.values()), return_exceptions=True)
        for sock in sockets.values():
            sock.close()
        shutil.rmtree(work, ignore_errors=True)


def _client_site(settings: pages.PageSettings, client: registry.Client, dist: Path) -> Callable[[], ASGIApp]:
    return lambda: pages.site(settings, client, dist / "clients" / client.id)
