"""HTML pages from Jinja templates: docs, changelog, client demo pages and the client index."""

from __future__ import annotations

from pathlib import Path

import jinja2

from builder.config import SiteConfig
from builder.content import Page, Release
from builder.snippet import snippet
from registry import Registry


def environment(templates: Path, site: SiteConfig) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["site"] = site
    return env


def render_docs(env: jinja2.Environment, pages: list[Page], releases: list[Release]) -> dict[str, str]:
    nav = [{"path": f"{p.slug}/", "title": p.title} for p in pages] + [{"path": "changelog/", "title": "Changelog"}]
    template = env.get_template("doc.html")
    out = {}
    for page in pages:
        out[f"docs/{page.slug}/index.html"] = template.render(page=page, nav=nav, root="../")
    # The docs home is the first page (by file name), so a newcomer lands on getting started.
    out["docs/index.html"] = template.render(page=pages[0], nav=nav, root="./")
    out["docs/changelog/index.html"] = env.get_template("changelog.html").render(releases=releases, root="../")
    return out


def render_clients(env: jinja2.Environment, registry: Registry, manifest: dict) -> dict[str, str]:
    demo = env.get_template("demo.html")
    out = {"clients/index.html": env.get_template("clients.html").render(clients=registry.clients)}
    for client in registry.clients:
        out[f"clients/{client.id}/index.html"] = demo.render(client=client, snippet=snippet(client, env.globals["site"], manifest))
    return out
