"""``POST /api/retell-webhook``: Retell's signed call events, committed before the ``204``.

Order: the signature header's form and age (before any of the body is read: an unsigned flood
costs no reading), the body's size, the signature itself (nothing unsigned is parsed), the event,
then the store.
Retell waits 10 s for an answer and retries otherwise, so a delivery is answered as soon as its
row is committed; a database that is away answers ``503`` and Retell delivers again later.
Each refusal is raised as a ``Refusal``; the app answers it (``no-store``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time

from starlette.requests import Request
from starlette.responses import Response

from proxy.body import read_body
from proxy.calls import InvalidEvent, parse_event
from proxy.refusal import Refusal
from proxy.state import ProxyState

log = logging.getLogger("proxy.webhook")
_SIGNATURE = re.compile(r"v=(\d{1,15}),d=([0-9a-f]{64})")
WINDOW_MS = 5 * 60 * 1000  # as Retell's SDKs: a signature older (or newer) than 5 minutes is refused


def sign(body: bytes, key: str, at_ms: int | None = None) -> str:
    """``X-Retell-Signature`` for ``body``, as Retell signs a delivery (``signature_problem``'s
    counterpart): ``v=<milliseconds>,d=<hex HMAC-SHA256 keyed with key over body + milliseconds>``."""
    stamp = int(time.time() * 1000) if at_ms is None else at_ms
    return f"v={stamp},d={hmac.new(key.encode(), body + str(stamp).encode(), hashlib.sha256).hexdigest()}"


def signature_problem(body: bytes, key: str, header: str | None, now_ms: int | None = None) -> str | None:
    """Why ``header`` does not sign ``body``, or None if it does.

    Exactly what Retell's SDKs check (``retell.lib.webhook_auth.verify``): the header is
    ``v=<milliseconds>,d=<hex HMAC-SHA256 keyed with the API key over the raw body followed by
    those milliseconds>``, at most 5 minutes from now, compared in constant time.
    """
    problem = header_problem(header, now_ms)
    if problem is not None:
        return problem
    match = _SIGNATURE.fullmatch(header or "")
    assert match is not None
    expected = hmac.new(key.encode(), body + match[1].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match[2]):
        return "the signature does not match the body (signed with another key, or the body was changed)"
    return None


def header_problem(header: str | None, now_ms: int | None = None) -> str | None:
    """What is wrong with ``X-Retell-Signature`` before the body is read: missing, malformed or
    out of its 5 minutes; None if it may sign a body."""
    if not header:
        return "the request has no X-Retell-Signature header"
    match = _SIGNATURE.fullmatch(header)
    if match is None:
        return "X-Retell-Signature must look like v=<milliseconds>,d=<64 hex digits>"
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now - int(match[1])) > WINDOW_MS:
        return "the signature's timestamp is more than 5 minutes from now (a replay, or a clock that is off)"
    return None


async def receive(request: Request) -> Response:
    state: ProxyState = request.app.state.proxy
    if state.calls is None:
        raise Refusal(404, "not_found", "webhooks are stored in the usage database, and PROXY_USAGE_DB is off")
    header = request.headers.get("x-retell-signature")
    if (early := header_problem(header)) is not None:
        log.warning("webhook refused: %s", early, extra={"outcome": "bad_signature"})
        raise Refusal(401, "bad_signature", early)
    body = await read_body(request, state.settings.webhook_max_bytes, "PROXY_WEBHOOK_MAX_BYTES",
                           state.settings.body_timeout)
    key = state.settings.webhook_key or state.settings.retell_api_key
    problem = signature_problem(body, key.reveal(), header)
    if problem is not None:
        # Worth an operator's eye: a wrong key in the settings looks exactly like a forger.
        log.warning("webhook refused: %s", problem, extra={"outcome": "bad_signature"})
        raise Refusal(401, "bad_signature", problem)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("", "application/json"):
        raise Refusal(415, "unsupported_media_type", "send the body as application/json")
    try:
        event = parse_event(json.loads(body))
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, InvalidEvent) else "the body is not valid JSON"
        raise Refusal(400, "invalid_event", message) from None
    if event is None:
        return Response(status_code=204)  # an event type we do not keep; Retell need not retry it
    try:
        new = await state.calls.add(event)
    except Exception as exc:  # sqlite3, psycopg: any failure means "not stored", and Retell retries
        log.error("webhook not stored: %s", type(exc).__name__, extra={"outcome": "store_unavailable"})
        raise Refusal(503, "store_unavailable", "the event could not be stored; deliver it again later",
                      {"Retry-After": "5"}) from None
    if new and event.duration_ms and state.minutes is not None:
        state.minutes.forget()  # a minutes quota sees this call at the next create
    log.info("webhook %s for %s%s", event.event, event.call_id, "" if new else " (a repeated delivery, kept once)",
             extra={"outcome": "stored" if new else "duplicate"})
    return Response(status_code=204)
