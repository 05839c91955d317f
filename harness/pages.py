"""Test pages: any CDN folder's widget on a client origin, a strict-CSP origin or a hostile-CSS one.

``/sandbox/<folder>/`` embeds ``<cdn>/<folder>/retell-widget.js`` with the v1-style constructor;
``?embed=element`` uses ``<retell-widget>`` instead. ``theme``, ``position``, ``lang`` and
``agent`` and ``scheme`` query parameters vary the page for a test; ``bot=turnstile`` (or
``recaptcha``) gives the widget that bot check, with the sandbox's site key; ``proxy=insecure`` points an
https page at its proxy over plain http, ``trusted_types=1`` adds Trusted Types to a strict CSP
and ``media=blocked`` leaves Retell's media host out of its ``connect-src``; ``csp=strict`` puts
a client's own page under the strict CSP. ``vars=<word>`` passes ``dynamicVariables``
``{"customer_name": word}`` and ``consent=<word>`` a consent text naming that word (see
``consent_text``), so a test changes the text by changing the word (without it, a client that
asks consent gets its own text, as its snippet passes it); on the constructor page
``lang`` is also passed as the ``lang`` option (v1 from 1.4.0). The client demo page stays at ``/``.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from builder.sdk import MEDIA_ORIGINS
from harness.bots import SITE_KEY
from registry import Client, Manifest
from registry.versions import EXACT_FOLDER, line_of


_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Everything a careless host page might do to a widget that lives in its DOM.
HOSTILE_CSS = """
* { all: unset !important; }
html, body { display: block !important; font: 30px/0 serif !important; color: #0f0 !important; }
button { display: none !important; }
div, span, p { z-index: 2147483647 !important; position: relative !important; }
*::before, *::after { content: "x" !important; }
h1 { display: block !important; position: fixed !important; inset: 0 !important; z-index: 2147483647 !important;
     pointer-events: none !important; opacity: .3 !important; background: #f0f !important; }
"""


@dataclass(frozen=True, slots=True)
class PageSettings:
    cdn_url: str
    proxy_endpoint: str
    manifest_path: Path  # read per request: a rebuild under --watch may change it
    strict_csp: str | None = None  # a policy template with {nonce}, or None for no CSP
    hostile_css: bool = False


# Where the sandbox pages' consent link points; never followed by the tests.
CONSENT_URL = "https://www.example.com/privacy"


def consent_text(word: str) -> str:
    """The consent text of a test page's ``?consent=<word>``: its SHA-256 is what the widget sends."""
    # Not ASCII, so the hash is checked on UTF-8 bytes.
    return f"Calls are recorded and transcribed to answer your questions — terms {word}."


def _attribute(option: str) -> str:
    """The element attribute for a constructor option: agentId -> agent-id."""
    return re.sub(r"([A-Z])", lambda m: "-" + m[1].lower(), option)


def render(settings: PageSettings, client: Client, folder: str, query: dict[str, str], nonce: str) -> str:
    files = Manifest.read(settings.manifest_path).files
    exact = bool(EXACT_FOLDER.fullmatch(folder))
    agent = query.get("agent", client.agents[0])
    proxy_endpoint = settings.proxy_endpoint
    if query.get("proxy") == "insecure":
        # For mixed-content checks: an https page calling its proxy over plain http.
        proxy_endpoint = proxy_endpoint.replace("https://", "http://", 1)
    options = {
        "agentId": agent,
        "proxyEndpoint": proxy_endpoint,
        "position": query.get("position", client.position),
        "theme": query.get("theme", client.theme),
    }
    if "scheme" in query:  # v2's light/dark/auto option
        options["scheme"] = query["scheme"]
    if query.get("bot") in ("turnstile", "recaptcha"):  # the widget gets a token from that provider's fake
        options |= {"botCheck": query["bot"], "botSiteKey": SITE_KEY}
    extra: dict[str, object] = {}  # options that are objects (attributes of their own on the element)
    if "vars" in query:
        extra["dynamicVariables"] = {"customer_name": query["vars"]}
    if "consent" in query:
        extra["consent"] = {"text": consent_text(query["consent"]), "url": CONSENT_URL}
    elif client.consent is not None:  # the client's own pages ask its consent, as its snippet does
        extra["consent"] = {"text": client.consent.text, "url": client.consent.url}

    def asset(name: str) -> str:
        # Exact versions get SRI; moving aliases cannot have it.
        entry = files.get(f"{folder}/{name}")
        sri = f' integrity="{entry.integrity}"' if exact and entry is not None else ""
        return f'{settings.cdn_url}/{folder}/{name}"{sri} crossorigin="anonymous'

    head = []
    if f"{folder}/retell-widget.css" in files:
        head.append(f'<link rel="stylesheet" href="{asset("retell-widget.css")}">')
    if settings.hostile_css:
        head.append(f'<style nonce="{nonce}">{HOSTILE_CSS}</style>')
    if query.get("embed") == "element":
        attributes = " ".join(f'{_attribute(k)}="{html.escape(v)}"' for k, v in options.items())
        if "lang" in query:
            attributes += f' lang="{html.escape(query["lang"])}"'
        if "dynamicVariables" in extra:
            attributes += f' dynamic-variables="{html.escape(json.dumps(extra["dynamicVariables"]))}"'
        if "consent" in extra:
            consent = extra["consent"]
            attributes += f' consent-text="{html.escape(consent["text"])}" consent-url="{html.escape(consent["url"])}"'
        embed = f'<script src="{asset("retell-widget.js")}"></script>\n<retell-widget {attributes}></retell-widget>'
    else:
        if "lang" in query:
            extra["lang"] = query["lang"]
        config = json.dumps(options | extra).replace("<", "\\u003c")
        embed = (f'<script src="{asset("retell-widget.js")}"></script>\n'
                 f'<script nonce="{nonce}">window.sandboxWidget = new RetellWidget({config});</script>')
    lang = html.escape(query.get("lang", "en"))
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(client.name)} · sandbox {folder}</title>
{chr(10).join(head)}
</head>
<body>
<h1>{html.escape(client.name)} · widget {folder}</h1>
<p>A sandbox page for tests: this widget talks to the sandbox proxy as {html.escape(client.id)}.</p>
{embed}
</body>
</html>
"""


def site(settings: PageSettings, client: Client, demo_root: Path | None) -> Starlette:
    """A client origin: the builder's demo page at ``/`` (when given) and the sandbox pages."""

    async def page(request: Request) -> Response:
        folder = request.path_params["folder"]
        query = dict(request.query_params)
        known = folder == "latest" or line_of(folder) is not None or EXACT_FOLDER.fullmatch(folder)
        if not known or not all(_PARAM.fullmatch(v) for v in query.values()):
            return PlainTextResponse("unknown CDN folder or malformed query", status_code=404)
        nonce = secrets.token_urlsafe(16)
        headers = {"Cache-Control": "no-store"}
        # ?csp=strict: a client's own origin under the documented policy (python -m harness check).
        strict = settings.strict_csp or (strict_policy(settings.cdn_url, _origin_of(settings.proxy_endpoint))
                                         if query.get("csp") == "strict" else None)
        if strict:
            policy = strict.format(nonce=nonce)
            if query.get("trusted_types") == "1":
                # Trusted Types: the page refuses string-to-DOM sinks such as innerHTML.
                policy += "; require-trusted-types-for 'script'"
            if query.get("media") == "blocked":
                # A page that forgot Retell's media host in connect-src (the docs' troubleshooting).
                policy = policy.replace(" " + " ".join(MEDIA_ORIGINS), "")
            if query.get("bot") in BOT_ORIGINS:
                # The documented additions for a bot check: the provider's script, and its frame.
                origins = " ".join(BOT_ORIGINS[query["bot"]])
                policy = policy.replace("; style-src", f" {origins}; style-src", 1) + f"; frame-src {origins}"
            headers["Content-Security-Policy"] = policy
        return HTMLResponse(render(settings, client, folder, query, nonce), headers=headers)

    routes = [Route("/sandbox/{folder}/", page)]
    if demo_root is not None:
        routes.append(Mount("/", StaticFiles(directory=demo_root, html=True)))
    else:
        async def home(request: Request) -> Response:
            return RedirectResponse("/sandbox/latest/")

        routes.append(Route("/", home))
    return Starlette(routes=routes)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# What a page's CSP must add for each bot check provider (the widget reference says the same).
BOT_ORIGINS = {"turnstile": ("https://challenges.cloudflare.com",),
               "recaptcha": ("https://www.google.com", "https://www.gstatic.com")}


def strict_policy(cdn_url: str, proxy_url: str) -> str:
    """The CSP the docs give a client page, with a nonce for the page's own inline script: no
    'unsafe-inline', no 'unsafe-eval'; scripts (the widget and Retell's SDK) only from the CDN;
    connections only to the proxy and Retell's media servers (https: and wss:)."""
    return ("default-src 'none'; "
            f"script-src 'nonce-{{nonce}}' {cdn_url}; "
            f"style-src {cdn_url}; "
            f"connect-src {proxy_url} {' '.join(MEDIA_ORIGINS)}; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
