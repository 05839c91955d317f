"""The copy-paste integration snippet for one client, pinned to an exact version with SRI."""

from __future__ import annotations

import json

from builder.config import SiteConfig
from registry import Client


def _script_json(value: object) -> str:
    # Inside <script>, "</" could close the element early; \u003c keeps the JSON equivalent.
    return json.dumps(value, indent=2).replace("<", "\\u003c")


def snippet(client: Client, site: SiteConfig, manifest: dict) -> str:
    folder = f"v{client.widget_version}"
    js, css = manifest["files"][f"{folder}/retell-widget.js"], manifest["files"][f"{folder}/retell-widget.css"]
    options = {
        "agentId": client.agents[0],
        "proxyEndpoint": site.proxy_url,
        "position": client.position,
        "theme": client.theme,
        "sdkUrl": site.sdk_url,
    }
    return (
        f'<link rel="stylesheet" href="{site.cdn_url}/{folder}/retell-widget.css"\n'
        f'      integrity="{css["integrity"]}" crossorigin="anonymous">\n'
        f'<script src="{site.cdn_url}/{folder}/retell-widget.js"\n'
        f'        integrity="{js["integrity"]}" crossorigin="anonymous"></script>\n'
        f"<script>\n  new RetellWidget({_script_json(options)});\n</script>"
    )
