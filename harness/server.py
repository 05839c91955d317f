"""One uvicorn server per origin, on a socket bound before it starts, with a readiness event."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


def bind(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket; port 0 picks a free one. Connections queue until the server runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    """A uvicorn server that says when it is ready and leaves signals to its owner."""

    def __init__(self, app: ASGIApp, sock: socket.socket, **options: object) -> None:
        super().__init__(uvicorn.Config(app, log_level="warning", lifespan="on", **options))  # type: ignore[arg-type]
        self.sock = sock
        self.ready = asyncio.Event()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The sandbox runs many servers in one loop and handles Ctrl-C once for all of them.
        yield

    async def run_until_exit(self) -> None:
        await self.serve(sockets=[self.sock])
