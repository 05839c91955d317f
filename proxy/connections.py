"""How the proxy's server treats connections: a deadline for each request's headers (the body's is
``proxy.body``'s), idle keep-alive connections closed, and a cap on what is in progress at once.

uvicorn closes an idle keep-alive connection, but not one that sends a request slowly: a client
that sends a header byte now and then keeps its connection, and its file descriptor, for as long
as it likes; enough of them and nobody else connects. ``HeaderDeadline`` closes a connection
whose request headers are not all there ``header_timeout`` seconds after the connection opened
or its previous response was sent. A reverse proxy in front should buffer requests and keep its
own limits too (the deployment page says which).
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from proxy.settings import ProxySettings


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request's headers."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection has its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadline]:
    return type("HeaderDeadline", (HeaderDeadline,), {"header_timeout": seconds})


class HeaderDeadlineFromEnvironment(HeaderDeadline):
    """For ``serve --workers N``: each worker process imports the protocol by name and reads its
    deadline from the same environment as the rest of its settings."""

    @property  # type: ignore[override]
    def header_timeout(self) -> float:
        return _environment_header_timeout()


@functools.cache
def _environment_header_timeout() -> float:
    from proxy.settings import setting_value

    return float(setting_value(os.environ, "PROXY_HEADER_TIMEOUT"))


def server_options(settings: ProxySettings, workers: int = 1) -> dict[str, Any]:
    """uvicorn's options for these settings: the header deadline, idle keep-alive, and the cap on
    connections and requests in progress (past it, uvicorn answers 503)."""
    return {
        "http": with_header_timeout(settings.header_timeout) if workers == 1
        else "proxy.connections:HeaderDeadlineFromEnvironment",
        "timeout_keep_alive": settings.keep_alive,
        "limit_concurrency": settings.max_connections,
    }
