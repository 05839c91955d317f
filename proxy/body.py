"""A request body, read up to a limit and a deadline: refused as soon as it is known to be too
large, or too slow (a client that trickles a body keeps a connection for nothing)."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

from proxy.refusal import Refusal


class BodyRefused(Refusal):
    """A body too large (413), too slow (408) or cut short (400)."""


ARRIVED = "proxy.arrived"  # the scope key: when the request's headers were in (the event loop's clock)


async def read_body(request: Request, limit: int, setting: str | None = None, deadline: float = 10.0) -> bytes:
    """The body; ``BodyRefused`` (413) once it exceeds ``limit`` bytes, declared or as it streams,
    naming ``setting`` (the variable that sets the limit) when given; 408 if it has not all arrived
    ``deadline`` seconds after the request did (``PROXY_BODY_TIMEOUT``; from ``scope[ARRIVED]``
    when set, so time spent waiting its turn counts: else from now); 400 if it ends early."""
    too_large = BodyRefused(413, "body_too_large",
                            f"the body must be at most {limit} bytes" + (f" ({setting})" if setting else ""))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    try:
        since = request.scope.get(ARRIVED) or asyncio.get_running_loop().time()
        async with asyncio.timeout_at(since + deadline):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise too_large
    except ClientDisconnect:
        raise BodyRefused(400, "client_disconnected", "the body ended early") from None
    except TimeoutError:
        raise BodyRefused(408, "body_timeout", f"the body did not arrive within {deadline:g} s (PROXY_BODY_TIMEOUT)") from None
    return bytes(body)
