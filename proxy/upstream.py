"""Calls to Retell's ``POST /v2/create-web-call``, with every failure mapped to a safe answer.

The path is a setting (``RETELL_CREATE_WEB_CALL_PATH``): the widget's SDK, retell-client-js-sdk
2.x, joins with the token of ``/v2/create-web-call``; Retell's ``/v3`` answers a connection payload
for its gateway web client instead (docs-dev/RETELL.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from proxy.refusal import Refusal

log = logging.getLogger("proxy.upstream")
CREATE_PATH = "/v2/create-web-call"
# The readiness probe needs no key: a bare GET of the base URL shows that Retell answers.
_NO_KEY = httpx.Headers({"Accept": "application/json"})


@dataclass(frozen=True, slots=True)
class WebCall:
    access_token: str
    call_id: str


class UpstreamError(Refusal):
    """A failure to show the caller: status, a stable error code and a human message (and, when
    Retell is busy, its ``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, retry_after: str | None = None) -> None:
        super().__init__(status, code, message, {"Retry-After": retry_after} if retry_after else None)


# The most of an answer from Retell the proxy reads (a create's is a few hundred bytes).
MAX_ANSWER_BYTES = 64 * 1024
# Pooled connections to Retell: enough for bursts, few enough to be polite.
POOL = httpx.Limits(max_connections=100, max_keepalive_connections=32, keepalive_expiry=30)


@dataclass(frozen=True, slots=True)
class Retell:
    """Retell's API as the proxy calls it: one pooled httpx transport and the parts of a request
    that never change, parsed once (httpx spends ~13 us parsing a URL string per request)."""

    transport: httpx.AsyncBaseTransport
    base_url: httpx.URL
    create_url: httpx.URL
    headers: httpx.Headers = field(repr=False)  # carries the API key
    extensions: dict[str, Any]

    async def send(self, method: str, url: httpx.URL, content: bytes = b"", headers: httpx.Headers | None = None) -> httpx.Response:
        """One exchange through the transport, body read and connection returned to the pool."""
        request = httpx.Request(method, url, headers=self.headers if headers is None else headers,
                                content=content, extensions=self.extensions)
        response = await self.transport.handle_async_request(request)
        try:
            # Read to a cap: a create's answer is well under a kilobyte, and an upstream (or anything
            # posing as one) must not fill the proxy's memory with one answer.
            body = bytearray()
            async for chunk in response.aiter_bytes():  # decoded: a compressed bomb is cut off too
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    log.error("retell's answer is over %d bytes; refusing it", MAX_ANSWER_BYTES)
                    raise UpstreamError(502, "upstream_invalid", "The voice service sent an invalid answer.")
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("content-encoding", "content-length")]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request)


@functools.cache
def default_tls() -> ssl.SSLContext:
    """One verifying TLS context per process, for Retell and the bot check providers alike:
    building one loads certifi's roots, 45 ms of CPU, which every app start paid twice."""
    return httpx.create_ssl_context()


@contextlib.asynccontextmanager
async def open_retell(base_url: str, api_key: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None,
                      create_path: str = CREATE_PATH) -> AsyncIterator[Retell]:
    if transport is None:
        # See bench/proxy_transport.py: under 32 concurrent requests the aiohttp transport serves
        # several times the requests/s of httpx's own.
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=POOL, verify=default_tls())
    # httpx's Request, Response and transport API, without AsyncClient's layers (auth, cookies,
    # redirects, event hooks: none of which a create uses). Measured with 32 concurrent creates
    # against a local upstream: ~300 us of CPU per call through AsyncClient, ~200 us without it.
    base = httpx.URL(base_url.rstrip("/") + "/")
    connect = min(timeout, 3.0)
    retell = Retell(
        transport=transport,
        base_url=base,
        create_url=base.join(create_path.lstrip("/")),
        headers=httpx.Headers({"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                               "Accept": "application/json"}),
        extensions={"timeout": {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}},
    )
    async with transport:
        yield retell


async def create_web_call(retell: Retell, body: dict[str, Any], timeout: float,
                          observe: Callable[[str, float], None] = lambda result, seconds: None) -> WebCall:
    """Create one call. Never retried: a create that may have reached Retell could have minted a call."""
    started = time.perf_counter()
    result = "error"
    try:
        # The transport's timeouts are per read; this caps the whole exchange, so an upstream
        # that trickles bytes cannot hold a request (and a pooled connection) for ever.
        async with asyncio.timeout(timeout):
            call = await _create(retell, body)
        result = "ok"
        return call
    except TimeoutError:
        result = "upstream_timeout"
        raise UpstreamError(504, "upstream_timeout", "The voice service took too long to answer.") from None
    except UpstreamError as exc:
        result = exc.code
        raise
    finally:
        observe(result, time.perf_counter() - started)


async def _create(retell: Retell, body: dict[str, Any]) -> WebCall:
    agent_id = body["agent_id"]
    try:
        # allow_nan=False: what goes to Retell is JSON, whatever a caller sent (validation refuses
        # non-finite numbers first; this keeps a slip from ever reaching Retell as non-JSON).
        response = await retell.send("POST", retell.create_url, json.dumps(body, separators=(",", ":"), allow_nan=False).encode())
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        # Never connected, so Retell is unreachable rather than slow. (httpx-aiohttp also reports
        # a refused connection as ConnectTimeout, so the two must be handled together.)
        log.error("retell unreachable: %s", type(exc).__name__)
        raise UpstreamError(502, "upstream_unavailable", "The voice service is unreachable.") from None
    except httpx.TimeoutException:
        raise UpstreamError(504, "upstream_timeout", "The voice service took too long to answer.") from None
    except httpx.HTTPError as exc:
        log.error("retell unreachable: %s", type(exc).__name__)
        raise UpstreamError(502, "upstream_unavailable", "The voice service is unreachable.") from None
    status = response.status_code
    if status >= 300:
        raise _refusal(status, _retell_says(response), agent_id, response.headers.get("retry-after", ""))
    try:
        data = response.json()
        token, call_id = data["access_token"], data["call_id"]
        if not isinstance(token, str) or not token or not isinstance(call_id, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        log.error("retell answered %d without a usable access_token", status)
        raise UpstreamError(502, "upstream_invalid", "The voice service sent an invalid answer.") from None
    return WebCall(token, call_id)


def _refusal(status: int, says: str, agent_id: str, retry_after: str) -> UpstreamError:
    """What a visitor is told when Retell refuses a create, and what the operator's log says.
    Retell's own message goes to the log (never to the visitor): it names what to fix."""
    if status in (401, 403):
        log.error("retell refused the API key (%d: %s): check RETELL_API_KEY", status, says)
        return UpstreamError(502, "upstream_rejected", "The voice service is misconfigured.")
    if status == 402:
        log.error("retell refused to start a call for payment (402: %s): the Retell account has no valid payment "
                  "method or is out of credit; see Retell's billing settings", says)
        return UpstreamError(502, "upstream_payment_required", "The voice service is unavailable.")
    if status in (404, 422):
        log.error("retell does not know agent %s (%d: %s): check the registry's agent ids, and that RETELL_API_KEY "
                  "belongs to the agent's workspace", agent_id, status, says)
        return UpstreamError(502, "upstream_rejected", "The voice service is misconfigured.")
    if status == 400:
        log.error("retell refused create-web-call for agent %s as malformed (400: %s)", agent_id, says)
        return UpstreamError(502, "upstream_rejected", "The voice service is misconfigured.")
    if status == 429:
        log.warning("retell is rate limiting creates or the account is at its concurrency limit (429: %s)", says)
        return UpstreamError(503, "upstream_busy", "The voice service is busy; try again shortly.",
                             retry_after=_retry_after(retry_after))
    log.warning("retell answered create-web-call with %d (%s)", status, says)
    return UpstreamError(502, "upstream_error", "The voice service failed; try again shortly.")


def _retell_says(response: httpx.Response) -> str:
    """Retell's ``error_message``, kept short and printable for a log line."""
    try:
        message = response.json().get("error_message")
    except (ValueError, AttributeError):
        return "no error_message"
    if not isinstance(message, str):
        return "no error_message"
    return "".join(c if c.isprintable() else " " for c in message[:200])


def _retry_after(value: str) -> str:
    # Passed on only as plain seconds within reason; anything else (dates, junk) becomes 5.
    return value if value.isdigit() and 0 < int(value) <= 3600 else "5"


async def reachable(retell: Retell, timeout: float) -> bool:
    """Whether Retell answers HTTP at all; any status counts, only the connection matters."""
    try:
        async with asyncio.timeout(timeout):
            await retell.send("GET", retell.base_url, headers=_NO_KEY)
    except (TimeoutError, httpx.HTTPError, UpstreamError):
        return False
    return True


class ReadyProbe:
    """``reachable``, asked of Retell at most once per ``ttl`` seconds however often readiness is
    asked: a flood of ``/api/ready`` must not become a flood of requests to Retell. Concurrent
    askers share the one probe in flight."""

    def __init__(self, retell: Retell, timeout: float, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._retell, self._timeout, self._ttl, self._clock = retell, timeout, ttl, clock
        self._answer: tuple[float, bool] | None = None
        self._probing: asyncio.Task[bool] | None = None

    async def reachable(self) -> bool:
        if self._answer is not None and self._clock() - self._answer[0] < self._ttl:
            return self._answer[1]
        if self._probing is None or self._probing.done():
            self._probing = asyncio.get_running_loop().create_task(reachable(self._retell, self._timeout))
        ok = await asyncio.shield(self._probing)
        self._answer = (self._clock(), ok)
        return ok
