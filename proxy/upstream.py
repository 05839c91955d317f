"""Calls to Retell's ``POST /v2/create-web-call``, with every failure mapped to a safe answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

log = logging.getLogger("proxy.upstream")


@dataclass(frozen=True, slots=True)
class WebCall:
    access_token: str
    call_id: str


class UpstreamError(Exception):
    """A failure to show the caller: status, a stable error code and a human message."""

    def __init__(self, status: int, code: str, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def make_client(base_url: str, api_key: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    if transport is None:
        # httpx's own transport managed ~180 req/s under 32 concurrent requests on this kind of
        # machine where aiohttp managed ~1,600; the aiohttp transport keeps httpx's API.
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport()
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(timeout),
        headers={"Authorization": f"Bearer {api_key}"},
    )


async def create_web_call(client: httpx.AsyncClient, agent_id: str) -> WebCall:
    # Never retried: a create that may have reached Retell could already have minted a call.
    try:
        response = await client.post("/v2/create-web-call", json={"agent_id": agent_id})
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
    if status in (401, 403, 404, 422, 400):
        # Our key or configuration is wrong, not the visitor's request: tell the operator.
        log.error("retell refused create-web-call with %d for agent %s: check RETELL_API_KEY and the registry", status, agent_id)
        raise UpstreamError(502, "upstream_rejected", "The voice service is misconfigured.")
    if status == 429:
        raise UpstreamError(503, "upstream_busy", "The voice service is busy; try again shortly.",
                            retry_after=response.headers.get("retry-after", "5"))
    if status >= 300:
        raise UpstreamError(502, "upstream_error", "The voice service failed; try again shortly.")
    try:
        data = response.json()
        token, call_id = data["access_token"], data["call_id"]
        if not isinstance(token, str) or not token or not isinstance(call_id, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        log.error("retell answered %d without a usable access_token", status)
        raise UpstreamError(502, "upstream_invalid", "The voice service sent an invalid answer.") from None
    return WebCall(token, call_id)
