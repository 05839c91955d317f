"""One uvicorn server on sockets bound before it starts, with a readiness event.

``python -m builder serve`` and every origin of the sandbox run on it: ``await run_until_exit()``
serves, ``ready`` is set once it accepts connections, ``should_exit = True`` stops it. Signals are
left to the owner, which may run many servers in one loop and handles Ctrl-C once for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp


def bind(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket; port 0 picks a free one. Connections queue until the server runs.
    Raises ``OSError`` (a busy port, say)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A restart may reuse the port at once, while the last run's connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    def __init__(self, app: ASGIApp, sock: socket.socket | list[socket.socket],
                 on_shutdown: Callable[[], None] | None = None, **options: object) -> None:
        """``sock`` is one listener or several (one server, one app, for many ports: the app sees
        the port in ``scope["server"]``); ``options`` go to ``uvicorn.Config``; ``on_shutdown``
        runs as shutdown begins (to end streams that would otherwise hold their connections open)."""
        super().__init__(uvicorn.Config(app, log_level="warning", lifespan="on", **options))  # type: ignore[arg-type]
        self.sockets = sock if isinstance(sock, list) else [sock]
        self.sock = self.sockets[0]
        self.ready = asyncio.Event()
        self._on_shutdown = on_shutdown

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        await super().shutdown(sockets=sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def run_until_exit(self) -> None:
        await self.serve(sockets=self.sockets)
