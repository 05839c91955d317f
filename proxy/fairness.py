"""One client address gets a few creates in progress at a time; the rest of its requests wait.

A flood from one address is refused cheaply (its budget is soon spent), but a refusal still costs
the event loop a little, and a client that sends as fast as it is answered keeps dozens in
progress at once: every other visitor's create then waits behind all of them. With at most
``PROXY_PER_IP_CONCURRENCY`` of an address's creates in progress (its IPv6 network's, as for its
budget) and the others waiting their turn, a visitor waits behind a few of an attacker's requests,
not behind all of them.

A waiting request's body deadline runs while it waits (``proxy.body.ARRIVED``): slow bodies
queued behind each other are all answered 408 at their own deadline, not one after another.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.body import ARRIVED
from proxy.ratelimit import client_ip, ip_key
from proxy.settings import ProxySettings

_PATH = "/api/create-web-call"


class PerClientConcurrency:
    def __init__(self, app: ASGIApp, settings: ProxySettings) -> None:
        self.app = app
        self._limit = settings.per_ip_concurrency
        self._trusted = settings.trusted_proxies
        self._prefix = settings.ipv6_prefix
        self._gates: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}  # address -> its gate, requests in or waiting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _PATH:
            await self.app(scope, receive, send)
            return
        scope[ARRIVED] = asyncio.get_running_loop().time()
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        peer = scope["client"][0] if scope.get("client") else None
        key = ip_key(client_ip(peer, forwarded, self._trusted), self._prefix)
        gate, users = self._gates.setdefault(key, (asyncio.Semaphore(self._limit), [0]))
        users[0] += 1
        try:
            async with gate:
                await self.app(scope, receive, send)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._gates[key]  # nothing in progress or waiting: the table stays small
