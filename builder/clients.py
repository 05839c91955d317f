"""Client demo pages, each styled like the client's own site, and the registry index page."""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from builder.render import Outputs, digest
from builder.snippet import WIDGET_JS, snippet
from registry import Client, Manifest, Registry
from registry.manifest import FileEntry

FONT_STACKS = {
    "sans": "system-ui, -apple-system, 'Segoe UI', sans-serif",
    "serif": "Georgia, 'Times New Roman', serif",
    "rounded": "ui-rounded, 'Hiragino Maru Gothic ProN', 'Arial Rounded MT Bold', system-ui, sans-serif",
    "mono": "ui-monospace, 'SFMono-Regular', Menlo, monospace",
}


def render_clients(env: jinja2.Environment, out: Outputs, clients: Registry, manifest: Manifest,
                   fingerprint: str, templates: Path, registry_path: Path,
                   client_keys: dict[str, str] | None = None) -> None:
    """``client_keys`` (client id -> digest of its entry) saves hashing unchanged entries again."""
    site = env.globals["site"]
    keys = client_keys if client_keys is not None else {c.id: digest(c) for c in clients.clients}
    by_folder: dict[str, list[tuple[str, FileEntry]]] = {}
    for path, entry in manifest.files.items():
        by_folder.setdefault(path.split("/", 1)[0], []).append((path, entry))
    folder_keys = {folder: digest(entries) for folder, entries in by_folder.items()}
    registry_key = digest(sorted(keys.items()))
    group_key = digest(fingerprint, registry_key, folder_keys, manifest.lines)
    if out.reuse("clients", group_key):
        return
    out.emit("clients/index.html", digest(fingerprint, registry_key), templates / "clients.html",
             lambda: env.get_template("clients.html").render(clients=clients.clients))
    out.groups["clients"] = (group_key, ("clients/index.html", *(f"clients/{c.id}/index.html" for c in clients.clients)))
    demo = env.get_template("demo.html")
    for client in clients.clients:
        line = f"v{client.widget_version.split('.')[0]}"
        # A page changes only when its client, its files' hashes or the templates change.
        key = digest(fingerprint, keys[client.id], folder_keys.get(f"v{client.widget_version}"),
                     folder_keys.get(line), manifest.lines.get(line))
        out.emit(f"clients/{client.id}/index.html", key, registry_path,
                 lambda client=client, line=line: _page(demo, client, line, site, manifest))


def _page(demo: jinja2.Template, client: Client, line: str, site: object, manifest: Manifest) -> str:
    alias = line if f"{line}/{WIDGET_JS}" in manifest.files else "latest"
    return demo.render(
        client=client,
        font=Markup(FONT_STACKS[client.font]),  # our own constants, safe inside <style>
        line=line,
        current=manifest.lines.get(line, client.widget_version),
        # One pinned snippet per agent: each of the client's agents may go on a page of its own.
        # The page itself runs the first agent's.
        snippets=[(agent, snippet(client, site, manifest, agent=agent)) for agent in client.agents],
        alias_snippet=snippet(client, site, manifest, folder=alias),
    )
