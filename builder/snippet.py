"""The copy-paste integration snippet for one client, pinned to an exact version with SRI."""

from __future__ import annotations

import json

from builder.config import SiteConfig
from registry import Client, Manifest
from registry.manifest import FileEntry

WIDGET_JS = "retell-widget.js"
WIDGET_CSS = "retell-widget.css"


def _script_json(value: object) -> str:
    # Inside <script>, "</" could close the element early; \u003c keeps the JSON equivalent.
    return json.dumps(value, indent=2).replace("<", "\\u003c")


def page_variables(client: Client) -> dict[str, str]:
    """The dynamic variables the snippet's page sends: each key the proxy accepts from the
    client's pages, with a placeholder the page fills in."""
    return {key: f"(your {key})" for key in client.page_variables}


def options(client: Client, site: SiteConfig, agent: str | None = None) -> dict[str, object]:
    """The constructor's options for ``agent``, one of the client's (default: its first)."""
    chosen = {
        "agentId": agent or client.agents[0],
        "proxyEndpoint": site.proxy_url,
        "position": client.position,
        "theme": client.theme,
    }
    if client.bot_check:
        # The public site key only: the secret key is the proxy's, never in a page.
        chosen["botCheck"] = client.bot_check
        chosen["botSiteKey"] = client.bot_site_key or ""
    if client.language:
        chosen["lang"] = client.language
    if client.page_variables:
        # The only keys the proxy accepts from this client's pages; the page fills in its values.
        chosen["dynamicVariables"] = page_variables(client)
    if client.consent:
        # Asked before the microphone; the proxy refuses a call without this text's hash.
        chosen["consent"] = {"text": client.consent.text, "url": client.consent.url}
    if site.sdk_url:
        # Only for teams that host the SDK themselves; by default the widget loads the CDN's copy.
        chosen["sdkUrl"] = site.sdk_url
    return chosen


def snippet(client: Client, site: SiteConfig, manifest: Manifest, folder: str | None = None,
            agent: str | None = None) -> str:
    """The snippet for ``folder`` (default: the client's exact version, with SRI) and ``agent``
    (default: the client's first).

    A moving folder ('v1', 'latest') gets no ``integrity``: its bytes change on every release,
    and a stale hash would make the browser refuse the file.
    """
    exact = folder is None
    folder = folder or f"v{client.widget_version}"
    files = manifest.files
    js = files[f"{folder}/{WIDGET_JS}"]
    css = files.get(f"{folder}/{WIDGET_CSS}")
    # An ES-module build must load as one, and the constructor call must wait for it.
    script_type = ' type="module"' if js.module else ""

    def attributes(entry: FileEntry, indent: str) -> str:
        return f'\n{indent}integrity="{entry.integrity}" crossorigin="anonymous"' if exact else ' crossorigin="anonymous"'

    lines = []
    if css is not None:
        lines.append(f'<link rel="stylesheet" href="{site.cdn_url}/{folder}/{WIDGET_CSS}"{attributes(css, "      ")}>')
    lines.append(f'<script{script_type} src="{site.cdn_url}/{folder}/{WIDGET_JS}"{attributes(js, "        ")}></script>')
    lines.append(f"<script{script_type}>\n  new RetellWidget({_script_json(options(client, site, agent))});\n</script>")
    return "\n".join(lines)
