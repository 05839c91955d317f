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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import registry
from builder.build import build
from builder.config import load_config
from harness import sites
from harness.fake_retell import FakeRetell
from harness.server import Server, bind
from proxy.app import create_app
from proxy.settings import ProxySettings, Secret

_SERVICES = ("cdn", "docs", "proxy", "retell", "hostile")


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    src: Path = Path("site_src")
    widget: Path = Path("widget")
    port_base: int = 0  # 0 picks free ports; otherwise origins take consecutive ports from here
    domain: str = "localhost"


def _write_registry(clients: registry.Registry, origins: dict[str, str], path: Path) -> None:
    """The real registry with each client's origins replaced by its sandbox origin."""
    lines = []
    for c in clients.clients:
        fields = {
            "id": c.id, "name": c.name, "origins": [origins[c.id]], "agents": list(c.agents),
            "theme": c.theme, "position": c.position, "widget_version": c.widget_version,
            "brand_color": c.brand_color,
        }
        # JSON strings and arrays of strings are valid TOML values.
        lines += ["[[client]]", *(f"{k} = {json.dumps(v)}" for k, v in fields.items()), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


async def _start(servers: list[Server]) -> list[asyncio.Task[None]]:
    """Run every server; return once all are ready, or raise if one stops while starting."""
    tasks = [asyncio.create_task(s.run_until_exit()) for s in servers]
    waiting = {asyncio.create_task(s.ready.wait()) for s in servers}
    while waiting:
        done, _ = await asyncio.wait({*waiting, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        if any(t in done for t in tasks):
            for s in servers:
                s.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            raise RuntimeError("a sandbox server stopped while starting; see the log above")
        waiting -= done
    return tasks


async def run_sandbox(config: SandboxConfig, stop: asyncio.Event, on_ready: Callable[[dict], None]) -> None:
    """Build the site for the sandbox's origins, serve every origin until ``stop`` is set."""
    registry_path = config.src / "clients.toml"
    if not registry_path.is_file():
        raise registry.RegistryError([f"{registry_path}: the client registry is missing"])
    clients = registry.load(registry_path)
    names = [*_SERVICES, *(c.id for c in clients.clients)]
    sockets = {name: bind(config.port_base + i if config.port_base else 0) for i, name in enumerate(names)}
    urls = {name: f"http://{name}.{config.domain}:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    work = Path(tempfile.mkdtemp(prefix="retell-sandbox-"))
    servers: list[Server] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        report = build(load_config(config.src, config.widget, work / "dist", {
            "cdn_url": urls["cdn"],
            "docs_url": urls["docs"],
            "proxy_url": f"{urls['proxy']}/api/create-web-call",
            "sdk_url": f"{urls['retell']}/sdk/retell-web-client.js",
        }))
        _write_registry(clients, urls, work / "registry.toml")
        api_key = "key_sandbox_" + secrets.token_hex(16)
        fake = FakeRetell.for_agents(api_key, (a for c in clients.clients for a in c.agents))
        dist = report.out
        apps = {
            "cdn": sites.cdn(dist / "cdn"),
            "docs": sites.static_site(dist / "docs"),
            "proxy": create_app(ProxySettings(
                retell_api_key=Secret(api_key),
                retell_base_url=f"http://127.0.0.1:{sockets['retell'].getsockname()[1]}",
                registry_path=work / "registry.toml",
            )),
            "retell": fake.app(),
            # The hostile site serves a copy of the first client's page: same snippet, same
            # agent id, wrong origin. The proxy must refuse it.
            "hostile": sites.static_site(dist / "clients" / clients.clients[0].id),
            **{c.id: sites.static_site(dist / "clients" / c.id) for c in clients.clients},
        }
        servers = [Server(apps[name], sockets[name]) for name in names]
        tasks = await _start(servers)
        on_ready({
            "origins": urls,
            "ports": {name: sock.getsockname()[1] for name, sock in sockets.items()},
            "proxy": urls["proxy"],
            "proxy_endpoint": f"{urls['proxy']}/api/create-web-call",
            "retell": urls["retell"],
            "hostile": urls["hostile"],
            "clients": [
                {"id": c.id, "name": c.name, "origin": urls[c.id], "agents": list(c.agents), "widget_version": c.widget_version}
                for c in clients.clients
            ],
        })
        await stop.wait()
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in sockets.values():
            sock.close()
        shutil.rmtree(work, ignore_errors=True)
