"""``GET /usage``: the usage page for operators, behind its own credential."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from proxy.refusal import NO_STORE, Refusal
from proxy.report import html_page, parse_span, summarise, summarise_calls
from proxy.state import ProxyState
from proxy.usage import open_store

# The page is self-contained: inline styles and an inline SVG, no scripts from anywhere.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _authorised(request: Request, state: ProxyState) -> bool:
    token = state.settings.admin_token
    if token is None:
        return False
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, value = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode(), token.reveal().encode())


async def usage_page(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    if state.settings.admin_token is None or state.settings.usage_database is None:
        raise Refusal(404, "not_found", "the usage page is not enabled")
    if not _authorised(request, state):
        # Basic lets a browser ask for the password; the user name is ignored.
        raise Refusal(401, "unauthorised", "the usage page needs the admin token",
                      {"WWW-Authenticate": 'Basic realm="proxy usage", charset="UTF-8"'})
    span_text = request.query_params.get("since", "7d")
    try:
        span = parse_span(span_text)
    except ValueError as exc:
        raise Refusal(400, "invalid_since", str(exc)) from None
    database = state.settings.usage_database

    def read() -> str:
        store = open_store(database)
        try:
            return html_page(summarise(store, span), summarise_calls(store, span), span_text)
        finally:
            store.close()

    page = await asyncio.to_thread(read)
    return HTMLResponse(page, headers=NO_STORE | {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"})
